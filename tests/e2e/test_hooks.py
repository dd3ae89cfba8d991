"""`mlx install` in real git repositories: the hooks git runs, composing with the user's, and the
mlx.lock merge driver inside a real `git merge`. The hooks call `mlx`, so PATH leads to the venv."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

from mlxkit.fs.confine import RepoPath
from mlxkit.pipeline.lockfile import dump_lock
from mlxkit.pipeline.model import Lock, LockedPath, LockEntry
from mlxkit.store.digest import Digest
from tests.conftest import mlx_executable

HOOKS = ("post-checkout", "pre-commit", "pre-push")
START = "# >>> mlx >>>"
USER_HOOK = b'#!/bin/sh\necho "the user\'s hook ran with $# arguments" >&2\nexit 0\n'


@pytest.fixture(autouse=True)
def mlx_on_path(monkeypatch):
    monkeypatch.setenv("PATH", f"{Path(mlx_executable()).parent}{os.pathsep}{os.environ['PATH']}")


def git(cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """git as the user runs it (hooks included); the caller checks the outcome."""
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False, env=env)


def lock_text(**versions: int) -> str:
    """mlx.lock with one stage per keyword, its out's hash picked by the number."""
    return dump_lock(Lock({
        name: LockEntry(cmd=(f"make {name}",), outs=(LockedPath(RepoPath(f"{name}.bin"), Digest.parse("blake3:" + str(v) * 64), v),))
        for name, v in versions.items()
    }))  # fmt: skip


def hook(repo, name: str) -> Path:
    return repo / ".git" / "hooks" / name


# -- installing ----------------------------------------------------------------------------------


def test_installing_twice_adds_one_block_per_hook(repo, mlx):
    first, second = mlx("install", "--json"), mlx("install", "--json")

    assert first.code == second.code == 0, (first, second)
    assert [change["action"] for change in first.json["hooks"]] == ["created"] * 3
    assert [change["action"] for change in second.json["hooks"]] == ["unchanged"] * 3
    assert (first.json["merge_driver"], first.json["attributes"], first.json["to_commit"]) == ("registered", "created", [".gitattributes"])
    assert (second.json["merge_driver"], second.json["attributes"], second.json["to_commit"]) == ("unchanged", "unchanged", [])
    for name in HOOKS:
        text = hook(repo, name).read_text()
        assert text.startswith(f"#!/bin/sh\n{START}\n") and text.count(START) == 1
        assert stat.S_IMODE(hook(repo, name).stat().st_mode) == 0o755
    assert (repo / ".gitattributes").read_text() == "mlx.lock merge=mlx-lock\n"
    assert repo.git("config", "--local", "merge.mlx-lock.driver").strip() == "mlx merge-driver %O %A %B %P"


def test_a_users_hook_still_runs_and_uninstall_restores_it_byte_for_byte(repo, mlx):
    hook(repo, "pre-commit").write_bytes(USER_HOOK)
    os.chmod(hook(repo, "pre-commit"), 0o750)
    (repo / ".gitattributes").write_text("*.csv text\n")

    installed = mlx("install")
    assert mlx("install").code == 0
    committed = git(repo.path, "commit", "-q", "--allow-empty", "-m", "with hooks")

    assert installed.out.splitlines()[1] == "pre-commit hook: added to your hook .git/hooks/pre-commit"
    assert hook(repo, "pre-commit").read_bytes().count(START.encode()) == 1
    assert committed.returncode == 0, committed
    assert committed.stderr == "the user's hook ran with 0 arguments\n"  # after mlx's block, which found nothing stale
    assert (repo / ".gitattributes").read_text() == "*.csv text\nmlx.lock merge=mlx-lock\n"

    removed = mlx("install", "--uninstall", "--json")

    assert [change["action"] for change in removed.json["hooks"]] == ["deleted", "removed", "deleted"]
    assert hook(repo, "pre-commit").read_bytes() == USER_HOOK
    assert stat.S_IMODE(hook(repo, "pre-commit").stat().st_mode) == 0o750
    assert not hook(repo, "pre-push").exists() and not hook(repo, "post-checkout").exists()
    assert (repo / ".gitattributes").read_text() == "*.csv text\n"
    assert repo.git("config", "--local", "--get-regexp", "^merge\\.", check=False) == ""
    assert mlx("install", "--uninstall", "--json").json["hooks"][1]["action"] == "absent"


def test_a_hook_mlx_cannot_edit_safely_is_left_alone_with_a_warning(repo, mlx):
    hook(repo, "pre-push").write_bytes(b"#!/usr/bin/env python3\nprint('mine')\n")
    os.chmod(hook(repo, "pre-push"), 0o755)
    hook(repo, "pre-commit").write_bytes(USER_HOOK)  # not executable: git does not run it
    (repo / "my-hook").write_bytes(USER_HOOK)
    hook(repo, "post-checkout").symlink_to(repo / "my-hook")

    result = mlx("install")

    assert result.code == 0, result
    assert result.err_lines[:3] == [
        "warning: '.git/hooks/post-checkout' is a symbolic link: mlx leaves it alone (see docs/hooks.md)",
        "warning: '.git/hooks/pre-commit' is not executable, so git does not run it: mlx leaves it alone (see docs/hooks.md)",
        "warning: '.git/hooks/pre-push' is not a shell script ('#!/usr/bin/env python3'): mlx leaves it alone (see docs/hooks.md)",
    ]
    assert hook(repo, "pre-push").read_bytes() == b"#!/usr/bin/env python3\nprint('mine')\n"
    assert hook(repo, "pre-commit").read_bytes() == USER_HOOK
    assert (repo / "my-hook").read_bytes() == USER_HOOK


def test_install_needs_git(tmp_path, mlx):
    assert mlx("init", "--no-git", cwd=tmp_path).code == 0

    mlx("install", cwd=tmp_path).expect_error(17, "mlx install needs a git repository", "run 'git init' first")


# -- the hooks at work ---------------------------------------------------------------------------


def test_pre_commit_warns_about_an_edited_tracked_file_and_commits_anyway(repo, mlx):
    repo.gen({"data.csv": "a\n"})
    assert mlx("add", "data.csv").code == 0
    assert mlx("install").code == 0
    repo.gen({"data.csv": "a\nb\n"})

    committed = git(repo.path, "commit", "-q", "--allow-empty", "-m", "stale data")

    assert committed.returncode == 0, committed
    assert committed.stderr == "warning: mlx: tracked data or mlx.lock is out of date (see 'mlx status'); committing anyway\n"

    repo.git("config", "mlx.strictPreCommit", "true")
    stopped = git(repo.path, "commit", "-q", "--allow-empty", "-m", "stopped")

    assert stopped.returncode == 1
    assert stopped.stderr == "error: mlx: tracked data or mlx.lock is out of date (see 'mlx status'); commit stopped by mlx.strictPreCommit\n"


def test_hooks_do_not_break_git_when_mlx_is_not_on_path(repo, mlx):
    assert mlx("install").code == 0

    committed = git(repo.path, "commit", "-q", "--allow-empty", "-m", "no mlx", env={**os.environ, "PATH": "/usr/bin:/bin"})

    assert committed.returncode == 0, committed
    assert committed.stderr == "warning: mlx pre-commit hook: 'mlx' is not on PATH, skipped\n"


def test_hooks_run_mlx_in_a_repository_below_the_top_of_the_work_tree(repo, mlx):
    project = repo / "my 'project'"
    project.mkdir()
    assert mlx("init", cwd=project).code == 0
    (project / "data.csv").write_text("a\n")
    assert mlx("add", "data.csv", cwd=project).code == 0
    assert mlx("install", cwd=project).code == 0
    (project / "data.csv").write_text("edited\n")

    committed = git(repo.path, "commit", "-q", "--allow-empty", "-m", "from the top")

    assert "committing anyway" in committed.stderr, committed  # status ran in the project, which has a stale file
    assert (project / ".gitattributes").read_text() == "mlx.lock merge=mlx-lock\n"
    assert not (repo / ".gitattributes").exists()


def test_post_checkout_makes_the_data_match_the_branch(repo, mlx):
    repo.gen({"data": {"a.csv": "main\n"}, "notes.txt": "n\n"})
    assert mlx("add", "data").code == 0
    repo.commit("main data")
    repo.git("checkout", "-q", "-b", "other")
    repo.gen({"data": {"a.csv": "other\n"}})
    assert mlx("add", "data").code == 0
    repo.commit("other data")
    assert mlx("install").code == 0

    switched = git(repo.path, "checkout", "-q", "main")

    assert (switched.returncode, switched.stderr) == (0, "")
    assert (repo / "data" / "a.csv").read_text() == "main\n"
    assert git(repo.path, "checkout", "-q", "other").returncode == 0
    assert (repo / "data" / "a.csv").read_text() == "other\n"

    repo.gen({"data": {"a.csv": "edited, not added\n"}, "notes.txt": "changed\n"})
    restored_file = git(repo.path, "checkout", "--", "notes.txt")  # a file checkout: the hook does nothing
    assert (restored_file.returncode, restored_file.stderr) == (0, "")
    refused = git(repo.path, "checkout", "-q", "main")  # mlx checkout refuses to overwrite the edit
    assert refused.returncode == 0
    assert refused.stderr.splitlines()[-1] == (
        "warning: mlx post-checkout hook: 'mlx checkout' failed, so the data may not match this branch"
    )
    assert (repo / "data" / "a.csv").read_text() == "edited, not added\n"


@pytest.fixture
def pushing(repo, mlx, tmp_path):
    """A repository with tracked data, mlx's hooks, and a bare git remote 'origin'."""
    repo.gen({"data.csv": "a\n"})
    assert mlx("add", "data.csv").code == 0
    repo.commit("data")
    assert mlx("install").code == 0
    git(tmp_path, "init", "-q", "--bare", "remote.git")
    repo.git("remote", "add", "origin", str(tmp_path / "remote.git"))
    return repo


def test_pre_push_sends_the_data_to_the_default_remote_first(pushing, mlx, tmp_path):
    assert mlx("remote", "add", "--default", "store", str(tmp_path / "store")).code == 0

    pushed = git(pushing.path, "push", "-q", "origin", "main")

    assert pushed.returncode == 0, pushed
    assert mlx("status", "--cloud", "--json").json["is_clean"] is True
    assert git(tmp_path / "remote.git", "rev-parse", "main").stdout == pushing.git("rev-parse", "main")


def test_pre_push_sends_the_data_of_the_pushed_commits_and_hands_the_refs_on_to_the_users_code(pushing, mlx, tmp_path):
    assert mlx("remote", "add", "--local", "--default", "store", str(tmp_path / "store")).code == 0  # on every branch
    assert mlx("push").code == 0
    pushing.git("checkout", "-q", "-b", "feature")
    pushing.gen({"features.csv": "only on the branch\n"})
    assert mlx("add", "features.csv").code == 0
    feature = pushing.commit("features")
    assert git(pushing.path, "checkout", "-q", "main").returncode == 0  # the workspace no longer names features.csv
    with hook(pushing, "pre-push").open("a") as user_code:  # after mlx's block, as a user's own commands
        user_code.write(f'cat > "{tmp_path / "refs.txt"}"\n')

    pushed = git(pushing.path, "push", "-q", "origin", "feature")

    assert pushed.returncode == 0, pushed
    again = mlx("push", "--rev", "feature", "--json")
    assert again.code == 0, again
    assert again.json["uploaded"] == 0  # the hook pushed the branch's data
    assert (tmp_path / "refs.txt").read_text() == f"refs/heads/feature {feature} refs/heads/feature {'0' * 40}\n"


def test_pre_push_sends_the_data_of_every_commit_the_push_sends(pushing, mlx, tmp_path):
    """Three commits on a new branch, each with its own version of a file: a colleague who checks out
    any of them can pull its data."""
    assert mlx("remote", "add", "--local", "--default", "store", str(tmp_path / "store")).code == 0
    assert git(pushing.path, "push", "-q", "origin", "main").returncode == 0
    pushing.git("checkout", "-q", "-b", "feature")
    for version in (1, 2, 3):
        pushing.gen({"features.csv": f"version {version}\n"})
        assert mlx("add", "features.csv").code == 0
        pushing.commit(f"features v{version}")

    pushed = git(pushing.path, "push", "-q", "origin", "feature")

    assert pushed.returncode == 0, pushed
    for back in (0, 1, 2):  # each commit's data is on the data remote already
        again = mlx("push", "--rev", f"feature~{back}", "--json")
        assert again.code == 0 and again.json["uploaded"] == 0, (back, again)


def test_pre_push_failure_stops_the_git_push(pushing, mlx, tmp_path):
    (tmp_path / "store").write_text("a file where the remote's directory should be\n")
    assert mlx("remote", "add", "--default", "store", str(tmp_path / "store")).code == 0

    pushed = git(pushing.path, "push", "-q", "origin", "main")

    assert pushed.returncode != 0
    assert "error: mlx pre-push hook: 'mlx push' failed, so git does not push either" in pushed.stderr, pushed
    assert git(tmp_path / "remote.git", "rev-parse", "--verify", "-q", "main").returncode != 0


def test_pre_push_without_a_default_remote_warns_and_lets_git_push(pushing, tmp_path):
    pushed = git(pushing.path, "push", "-q", "origin", "main")

    assert pushed.returncode == 0, pushed
    assert pushed.stderr == (
        "warning: mlx pre-push hook: no default remote, so no data was pushed (mlx remote add --default NAME URL)\n"
    )


# -- the merge driver ----------------------------------------------------------------------------


@pytest.fixture
def branches(repo, mlx):
    """main and 'left' both start from a commit whose mlx.lock has stages a and b; driver installed."""
    assert mlx("install").code == 0
    commit_lock(repo, "main", lock_text(a=1, b=1))
    repo.git("branch", "left")
    return repo


def commit_lock(repo, branch: str, text: str) -> None:
    """Commit `text` as mlx.lock on `branch`, without running the hooks (not what these tests are about)."""
    without_hooks = ("-c", "core.hooksPath=/dev/null")
    if repo.git("symbolic-ref", "--short", "HEAD").strip() != branch:
        repo.git(*without_hooks, "checkout", "-q", branch)
    (repo / "mlx.lock").write_text(text)
    repo.git("add", "-A")
    repo.git(*without_hooks, "commit", "-q", "-m", f"lock on {branch}")


def test_a_git_merge_of_changes_to_different_stages_is_clean(branches, tmp_path):
    commit_lock(branches, "left", lock_text(a=2, b=1, c=1))  # adds c where main adds d: a line merge conflicts
    commit_lock(branches, "main", lock_text(a=1, b=1, d=1))

    merged = git(branches.path, "merge", "--no-edit", "left")

    assert merged.returncode == 0, merged
    assert (branches / "mlx.lock").read_text() == lock_text(a=2, b=1, c=1, d=1)
    for name, version in (("base", lock_text(a=1, b=1)), ("left", lock_text(a=2, b=1, c=1)), ("main", lock_text(a=1, b=1, d=1))):
        (tmp_path / name).write_text(version)
    line_merge = git(tmp_path, "merge-file", "-p", "main", "base", "left")
    assert line_merge.returncode == 1  # what git does without the driver


def test_a_git_merge_of_one_stage_changed_on_both_sides_conflicts_on_that_stage(branches):
    commit_lock(branches, "left", lock_text(a=2, b=2))
    commit_lock(branches, "main", lock_text(a=3, b=1))

    merged = git(branches.path, "merge", "--no-edit", "left")

    assert merged.returncode == 1
    assert "mlx: stage 'a' changed differently on both sides of 'mlx.lock'" in merged.stdout + merged.stderr
    assert branches.git("status", "--porcelain", "mlx.lock") == "UU mlx.lock\n"
    ours, theirs, rest = (lock_text(**{n: v}).split("stages:\n")[1] for n, v in (("a", 3), ("a", 2), ("b", 2)))
    assert (branches / "mlx.lock").read_text() == f"format: 1\nstages:\n<<<<<<< ours\n{ours}=======\n{theirs}>>>>>>> theirs\n\n{rest}"
