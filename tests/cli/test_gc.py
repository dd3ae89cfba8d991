"""mlx gc: deletes unreferenced objects only; fails closed on any unreadable root."""

from __future__ import annotations

import pytest

from tests.conftest import run_as_a_user, run_subprocess

from ._helpers import b3, tree_bytes

V1, V2 = "weights v1\n", "weights v2\n"


@pytest.fixture
def history(repo, mlx):
    """data/ (a tree and two files) and model.bin, whose first version is no longer referenced."""
    repo.gen({"data": {"a.csv": "a\n", "b.csv": "b\n"}, "model.bin": V1}, old=True)
    assert mlx("add", "data", "model.bin").code == 0
    repo.gen({"model.bin": V2}, old=True)
    assert mlx("add", "model.bin").code == 0
    return repo


KEPT = len(tree_bytes({"a.csv": "a\n", "b.csv": "b\n"})) + 2 + 2 + len(V2)  # the tree and its files, v2


def referenced(repo) -> set[str]:
    tree = repo.pointer("data")["hash"]
    return {h[7:] for h in (tree, b3("a\n"), b3("b\n"), b3(V2))}


def test_gc_removes_unreferenced_objects_and_keeps_trees_and_their_files(history, mlx):
    assert history.objects() == referenced(history) | {b3(V1)[7:]}

    result = mlx("gc")

    assert result.code == 0, result
    assert result.out == f"Removed 1 object (11 B); kept 4 ({KEPT} B) referenced by 2 roots.\n"
    assert history.objects() == referenced(history)
    assert mlx("status").out == "Everything is up to date (2 tracked paths).\n"
    assert mlx("gc").out == f"Removed 0 objects (0 B); kept 4 ({KEPT} B) referenced by 2 roots.\n"


def test_gc_dry_run_lists_and_deletes_nothing(history, mlx):
    before = history.objects()

    result = mlx("gc", "--dry-run")

    assert result.out == f"would remove {b3(V1)}\nWould remove 1 object (11 B); kept 4 ({KEPT} B) referenced by 2 roots.\n"
    assert history.objects() == before


def test_gc_json(history, mlx):
    assert mlx("gc", "--dry-run", "--json").json == {
        "dry_run": True, "roots": 2, "kept_objects": 4, "kept_bytes": KEPT,
        "removed_objects": 1, "removed_bytes": 11, "removed": [b3(V1)], "warnings": [],
    }


def test_gc_keeps_objects_named_only_by_a_staged_pointer(history, mlx):
    history.gen({"model.bin": V1}, old=True)
    assert mlx("add", "model.bin").code == 0
    history.git("add", "model.bin.mlx")  # the index names V1
    history.gen({"model.bin": "weights v3\n"}, old=True)
    assert mlx("add", "model.bin").code == 0  # the workspace pointer names v3

    result = mlx("gc")

    assert result.code == 0, result
    assert b3(V1)[7:] in history.objects()
    assert b3(V2)[7:] not in history.objects()
    assert result.out.endswith("referenced by 3 roots.\n")


def test_gc_keeps_objects_named_by_the_lockfile(history, mlx):
    history.gen({"mlx.lock": f"format: 1\nstages:\n  train:\n    cmd: python train.py\n    outs:\n"
                             f"    - path: model.bin\n      hash: {b3(V1)}\n      size: 11\n"})

    assert mlx("gc").code == 0

    assert b3(V1)[7:] in history.objects()


UNSTORED_TREE = b3("a tree that was never stored")


def lockfile(deps: str = "", outs: str = "", params: str = "") -> str:
    """An mlx.lock with one stage, 'train', and the given sections (YAML lines indented for them)."""
    sections = "".join(f"    {name}:\n{body}" for name, body in (("deps", deps), ("params", params), ("outs", outs)) if body)
    return f"format: 1\nstages:\n  train:\n    cmd: python train.py\n{sections}"


def test_gc_needs_no_tree_for_a_stage_dependency(history, mlx):
    history.gen({"mlx.lock": lockfile(
        deps=f"    - path: src\n      hash: {UNSTORED_TREE}\n      size: 10\n      files: 2\n",  # plain source files
        outs=f"    - path: model.bin\n      hash: {b3(V1)}\n      size: 11\n",
    )})

    result = mlx("gc")

    assert result.code == 0, result
    assert b3(V1)[7:] in history.objects()


def test_gc_fails_closed_when_a_stage_output_tree_is_missing(history, mlx):
    history.gen({"mlx.lock": lockfile(outs=f"    - path: out\n      hash: {UNSTORED_TREE}\n      size: 1\n      files: 1\n")})
    before = history.objects()

    result = mlx("gc")

    result.expect_error(
        12,
        f"the tree {UNSTORED_TREE[7:19]} named by 'mlx.lock' is not in the cache, so its files cannot be told apart "
        "from garbage: nothing was deleted",
        hint="run the stage again: 'mlx run --force train'",
    )
    assert history.objects() == before


def test_gc_takes_no_root_from_a_param_that_holds_a_hash_key(history, mlx):
    history.gen({"mlx.lock": lockfile(params="      params.yaml:\n        model:\n          hash: sha256\n          files: 3\n")})

    result = mlx("gc")

    assert result.code == 0, result
    assert b3(V1)[7:] not in history.objects()


def test_gc_fails_closed_on_a_lockfile_of_a_newer_format(history, mlx):
    history.gen({"mlx.lock": "format: 2\nstages: {}\n"})
    before = history.objects()

    result = mlx("gc")

    result.expect_error(12, "cannot read 'mlx.lock', so nothing was deleted: 'mlx.lock' uses format 2, this mlx reads 1: upgrade mlx")
    assert history.objects() == before


@pytest.mark.parametrize("where", ["bad.mlx", "deep/down/bad.mlx"])
def test_gc_fails_closed_on_a_malformed_pointer_anywhere(history, mlx, where):
    history.gen({"deep": {"down": {}}})
    (history / where).write_text("format: 1\npath: [\n")
    before = history.objects()

    result = mlx("gc")

    result.expect_error(
        12,
        f"cannot read '{where}', so nothing was deleted: line 3: "
        "did not find expected node content",
    )
    assert history.objects() == before


def test_gc_fails_closed_on_a_malformed_staged_pointer(history, mlx):
    history.gen({"old.bin.mlx": "format: 1\npath: old.bin\nhash: md5:0\nsize: 1\n"})
    history.git("add", "old.bin.mlx")
    (history / "old.bin.mlx").unlink()
    before = history.objects()

    result = mlx("gc")

    assert result.code == 12, result
    assert result.err.startswith("mlx: cannot read 'old.bin.mlx (staged)', so nothing was deleted")
    assert history.objects() == before


def test_gc_fails_closed_on_a_malformed_lockfile(history, mlx):
    history.gen({"mlx.lock": "stages:\n  train:\n    outs:\n    - hash: blake3:nothex\n"})
    before = history.objects()

    result = mlx("gc")

    assert result.code == 12, result
    assert result.err.startswith("mlx: cannot read 'mlx.lock', so nothing was deleted")
    assert history.objects() == before


def test_gc_fails_closed_when_a_tracked_directory_tree_is_missing(history, mlx):
    tree = history.pointer("data")["hash"]
    history.object_path(tree).unlink()
    before = history.objects()

    result = mlx("gc")

    result.expect_error(
        12,
        f"the tree {tree[7:19]} named by 'data.mlx' is not in the cache, so its files cannot be told apart "
        "from garbage: nothing was deleted",
        hint="fetch it ('mlx fetch'), re-add the directory ('mlx add'), or stop tracking it ('mlx remove')",
    )
    assert history.objects() == before


def test_gc_refuses_a_cache_without_its_marker(history, mlx):
    (history.cache / "mlx-store.json").unlink()
    before = history.objects()

    result = mlx("gc")

    result.expect_error(
        13,
        f"'{history.cache.resolve()}' has no mlx-store.json: it is not an mlx cache",
        hint="mlx deletes nothing in a directory without its marker; run 'mlx init' to create one",
    )
    assert history.objects() == before


def test_gc_never_deletes_files_that_are_not_object_names(history, mlx):
    objects = history.cache / "objects"
    strays = [
        objects / "README",
        objects / "zz" / "notes.txt",
        objects / "ab" / ("0" * 61),  # one digit short
        objects / "ab" / ("A" * 62),  # upper case
        objects / "ab" / ".mlx-tmp-0123456789abcdef",
        objects / ("cd" + "0" * 62),  # a whole hash without the fan-out directory
    ]
    for stray in strays:
        stray.parent.mkdir(exist_ok=True)
        stray.write_text("keep me\n")

    result = mlx("gc")

    assert result.code == 0, result
    assert all(stray.read_text() == "keep me\n" for stray in strays)
    assert b3(V1)[7:] not in history.objects()


def test_gc_all_commits_keeps_an_object_only_an_old_commit_references(repo, mlx):
    repo.gen({"model.bin": V1}, old=True)
    assert mlx("add", "model.bin").code == 0
    repo.commit("v1")
    repo.gen({"model.bin": V2}, old=True)
    assert mlx("add", "model.bin").code == 0
    repo.commit("v2")

    kept = mlx("gc", "--all-commits")

    assert kept.code == 0, kept
    assert kept.out == "Removed 0 objects (0 B); kept 2 (22 B) referenced by 4 roots.\n"
    assert repo.objects() == {b3(V1)[7:], b3(V2)[7:]}
    workspace_only = mlx("gc")
    assert workspace_only.out == "Removed 1 object (11 B); kept 1 (11 B) referenced by 2 roots.\n"
    assert repo.objects() == {b3(V2)[7:]}


def test_gc_all_branches_and_all_tags_keep_what_their_tips_reference(repo, mlx):
    for version, ref in ((V1, "tag"), ("weights v3\n", "branch")):
        repo.gen({"model.bin": version}, old=True)
        assert mlx("add", "model.bin").code == 0
        repo.commit(version)
        repo.git("tag", "-a", "-m", "v1", "v1") if ref == "tag" else repo.git("branch", "side")
    repo.gen({"model.bin": V2}, old=True)
    assert mlx("add", "model.bin").code == 0
    repo.commit("v2")

    assert mlx("gc", "--all-tags", "--dry-run").out.count("would remove") == 1  # v3: only on the branch
    assert mlx("gc", "--all-branches", "--dry-run").out.count("would remove") == 1  # v1: only in the tag
    assert mlx("gc", "--all-branches", "--all-tags").code == 0
    assert repo.objects() == {b3(V1)[7:], b3("weights v3\n")[7:], b3(V2)[7:]}


def test_gc_all_branches_in_a_clone_keeps_what_the_remote_tracking_branches_reference(repo, mlx, tmp_path):
    import shutil

    from tests.conftest import git

    repo.gen({"model.bin": V1}, old=True)
    assert mlx("add", "model.bin").code == 0
    repo.commit("v1")
    repo.git("checkout", "-q", "-b", "side")
    repo.gen({"model.bin": V2}, old=True)
    assert mlx("add", "model.bin").code == 0
    repo.commit("v2")
    repo.git("checkout", "-q", "-")
    git(tmp_path, "clone", "-q", str(repo.path), "clone")  # 'side' is origin/side there, no branch of its own
    clone = tmp_path / "clone"
    shutil.copytree(repo.cache, clone / ".mlx/cache")

    result = mlx("gc", "--all-branches", cwd=clone)

    assert result.code == 0, result
    assert result.out.startswith("Removed 0 objects"), result
    assert mlx("gc", cwd=clone).out.startswith("Removed 1 object (11 B)")  # without -a, the workspace's only


def test_gc_rev_keeps_what_the_named_commits_reference_and_refuses_a_name_that_is_none(repo, mlx):
    repo.gen({"model.bin": V1}, old=True)
    assert mlx("add", "model.bin").code == 0
    first = repo.commit("v1")
    repo.git("tag", "-a", "-m", "v1", "v1")
    repo.gen({"model.bin": V2}, old=True)
    assert mlx("add", "model.bin").code == 0
    repo.commit("v2")

    for rev in ("v1", first[:10], "HEAD~1"):  # an annotated tag, a short sha, an expression
        assert mlx("gc", "--rev", rev, "--dry-run").out.count("would remove") == 0, rev
    mlx("gc", "--rev", "nowhere").expect_error(2, "'nowhere' names no commit", "name a branch, a tag or a commit: 'git log --oneline' lists them")
    mlx("gc", "--rev", "--all-commits").expect_error(2, "'--all-commits' names no commit", "name a branch, a tag or a commit: 'git log --oneline' lists them")  # a name, never an option
    assert repo.objects() == {b3(V1)[7:], b3(V2)[7:]}
    assert mlx("gc", "--rev", "HEAD").code == 0
    assert repo.objects() == {b3(V2)[7:]}


def test_gc_with_a_history_scope_outside_git_says_it_needs_git(tmp_path, mlx):
    assert mlx("init", "--no-git", cwd=tmp_path).code == 0
    mlx("gc", "--all-commits", cwd=tmp_path).expect_error(17, "'--all-commits' needs a git repository", "run 'git init' first")


@pytest.fixture
def shared(repo, mlx, tmp_path):
    """Two projects whose cache is one directory (cache.dir): `repo` tracks a.bin, `other` b.bin."""
    from tests.conftest import Repo, git

    cache = tmp_path / "shared-cache"
    other = Repo(tmp_path / "other")
    other.path.mkdir()
    git(other.path, "init", "-q", "-b", "main")
    assert mlx("init", cwd=other.path).code == 0
    for project, name in ((repo, "a.bin"), (other, "b.bin")):
        assert mlx("config", "--local", "cache.dir", str(cache), cwd=project.path).code == 0
        project.gen({name: f"{name} content\n"}, old=True)
        assert mlx("add", name, cwd=project.path).code == 0
    return repo, other, cache


def _objects(cache) -> set[str]:
    return {p.parent.name + p.name for p in (cache / "objects").glob("*/*")}


def test_gc_projects_keeps_what_a_project_sharing_the_cache_references(shared, mlx):
    repo, other, cache = shared
    both = {b3("a.bin content\n")[7:], b3("b.bin content\n")[7:]}
    assert _objects(cache) == both

    kept = mlx("gc", "--projects", str(other.path))

    assert kept.code == 0, kept
    assert kept.err == ""
    assert kept.out.startswith("Removed 0 objects (0 B); kept 2 ")
    assert _objects(cache) == both


def test_gc_without_projects_on_a_shared_cache_says_what_it_kept_and_how_to_keep_more(shared, mlx):
    repo, other, cache = shared

    result = mlx("gc")

    assert result.code == 0, result
    assert result.out.startswith("Removed 1 object ")
    assert f"warning: the cache is at '{cache}' (cache.dir)" in result.err
    assert "name them with --projects" in result.err
    assert _objects(cache) == {b3("a.bin content\n")[7:]}
    assert "not in cache" in mlx("status", cwd=other.path).out


def test_gc_projects_refuses_a_project_with_another_cache_and_deletes_nothing(shared, mlx, tmp_path):
    repo, other, cache = shared
    assert mlx("config", "--local", "cache.dir", str(tmp_path / "elsewhere"), cwd=other.path).code == 0
    before = _objects(cache)

    result = mlx("gc", "-p", str(other.path))

    assert result.code == 2, result
    assert "keeps its objects in" in result.err and "not in this project's cache" in result.err
    assert _objects(cache) == before


def test_gc_projects_fails_closed_on_an_unreadable_root_of_the_other_project(shared, mlx):
    repo, other, cache = shared
    (other / "b.bin.mlx").write_text("hash: nonsense\n")
    before = _objects(cache)

    result = mlx("gc", "-p", str(other.path))

    assert result.code != 0, result
    assert f"in the project '{other.path}'" in result.err
    assert _objects(cache) == before


def test_gc_projects_waits_for_no_lock_the_other_project_holds(shared, mlx):
    """A project whose lock another command holds may be adding objects that no pointer names yet."""
    from mlxkit.repo.repository import find_repository

    repo, other, cache = shared
    holder = find_repository(other.path, command="mlx add")
    with holder.lock():
        result = mlx("gc", "-p", str(other.path))
    holder.close()

    assert result.code == 11, result
    assert "mlx add" in result.err
    assert _objects(cache) == {b3("a.bin content\n")[7:], b3("b.bin content\n")[7:]}


def test_gc_projects_naming_no_project_says_so_in_one_line(shared, mlx, tmp_path):
    result = mlx("gc", "-p", str(tmp_path / "nowhere"))
    assert result.code == 10, result
    assert result.err == (
        f"mlx: not an mlx repository (or any parent up to the mount point): '{tmp_path / 'nowhere'}'\n"
        "hint: --projects names the folders of other mlx projects that share this cache\n"
    )


def test_gc_projects_is_refused_with_cloud(shared, mlx):
    repo, other, cache = shared
    result = mlx("gc", "--cloud", "-A", "-p", str(other.path))
    assert result.code == 2 and "--projects is for the local cache" in result.err, result


# -- through the installed executable: history read per path, stash, unreadable roots ----------


def test_gc_all_commits_reads_a_pointer_whose_bytes_another_project_committed_first(tmp_path, mlx):
    """A monorepo: p1 and p2 once had identical pointers; git lists that blob once, under p1/."""
    from tests.conftest import Repo, git

    top = Repo(tmp_path / "mono")
    top.path.mkdir()
    git(top.path, "init", "-q", "-b", "main")
    for project in ("p1", "p2"):
        top.gen({project: {"data.csv": V1}}, old=True)
        assert run_subprocess(("init",), top / project).code == 0
        assert run_subprocess(("add", "data.csv"), top / project).code == 0
    top.commit("one")
    top.gen({"p2": {"data.csv": V2}}, old=True)
    assert run_subprocess(("add", "data.csv"), top / "p2").code == 0
    top.commit("two")

    result = run_subprocess(("gc", "--all-commits"), top / "p2")

    assert result.code == 0, result
    assert result.out.startswith("Removed 0 objects (0 B); kept 2 "), result
    assert run_subprocess(("gc", "--rev", "HEAD~1", "-n"), top / "p2").out.startswith("Would remove 0 objects")


def test_gc_history_reads_a_pointer_whose_copy_is_committed_under_another_name(repo):
    repo.gen({"data.csv": V1}, old=True)
    assert run_subprocess(("add", "data.csv"), repo.path).code == 0
    repo.commit("v1")
    repo.gen({"archive": {"data-v1.yaml": (repo / "data.csv.mlx").read_text()}})
    repo.gen({"data.csv": V2}, old=True)
    assert run_subprocess(("add", "data.csv"), repo.path).code == 0
    repo.commit("v2")

    for scope in (["--all-commits"], ["--rev", "HEAD~1"], ["--all-branches", "--rev", "HEAD~1"]):
        result = run_subprocess(("gc", "-n", *scope), repo.path)
        assert result.code == 0, result
        assert "would remove" not in result.out, (scope, result)
    assert repo.objects() == {b3(V1)[7:], b3(V2)[7:]}


@pytest.fixture
def secret(history):
    """history, and sec/s.csv tracked in a directory nobody but root may read (mode 000)."""
    history.gen({"sec": {"s.csv": "secret\n"}}, old=True)
    assert run_subprocess(("add", "sec/s.csv"), history.path).code == 0
    (history / "sec").chmod(0)
    yield history
    (history / "sec").chmod(0o755)


def test_gc_fails_closed_on_a_directory_it_cannot_list(secret):
    before = secret.objects()

    result = run_as_a_user(secret.path, "gc")

    result.expect_error(12, "cannot read 'sec', so nothing was deleted: Permission denied", hint="let mlx read it: it may hold pointer files")
    assert secret.objects() == before


def test_status_leaves_out_a_directory_it_cannot_list_with_a_warning_where_gc_deletes_nothing(secret):
    result = run_as_a_user(secret.path, "status")

    assert result.code == 0, result
    assert result.err_lines == ["warning: cannot read 'sec' (Permission denied): pointer files in it, if any, are left out"]
    run_as_a_user(secret.path, "status", "sec").expect_error(
        12, "cannot read 'sec': Permission denied", hint="let mlx read it: it may hold pointer files"
    )


def test_gc_and_status_name_a_pointer_file_they_cannot_read(history):
    (history / "model.bin.mlx").chmod(0)
    before = history.objects()

    gc = run_as_a_user(history.path, "gc")
    status = run_as_a_user(history.path, "status")

    gc.expect_error(12, "cannot read 'model.bin.mlx', so nothing was deleted: Permission denied")
    status.expect_error(12, "cannot read 'model.bin.mlx': Permission denied")
    assert history.objects() == before


def test_gc_fails_closed_on_a_symbolic_link_to_a_directory_that_holds_pointer_files(history, tmp_path):
    history.gen({"raw": {"raw.csv": "raw\n"}}, old=True)
    assert run_subprocess(("add", "raw/raw.csv"), history.path).code == 0
    (history / "raw").rename(tmp_path / "other-disk")  # moved to a bigger disk, and linked back
    (history / "raw").symlink_to(tmp_path / "other-disk")
    before = history.objects()

    result = run_subprocess(("gc",), history.path)

    result.expect_error(
        12,
        "cannot read 'raw', so nothing was deleted: a symbolic link to a directory that holds pointer files "
        "('raw/raw.csv.mlx'), and mlx does not follow symbolic links",
        hint="move the directory back into the workspace, or replace the link by a real directory",
    )
    assert history.objects() == before


def test_gc_ignores_a_symbolic_link_to_a_directory_without_pointer_files(history, tmp_path):
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "notes.txt").write_text("no pointers here\n")
    (history / "notes").symlink_to(tmp_path / "elsewhere")

    result = run_subprocess(("gc",), history.path)

    assert result.code == 0, result
    assert result.out.startswith("Removed 1 object (11 B)")


def test_gc_reads_through_no_link_to_a_directory_of_the_workspace_and_needs_none(history):
    # `current -> releases/v2`: its pointers are read where they are, so the link hides nothing
    history.gen({"releases": {"v2": {"raw.csv": "raw\n"}}}, old=True)
    assert run_subprocess(("add", "releases/v2/raw.csv"), history.path).code == 0
    (history / "current").symlink_to("releases/v2")

    result = run_subprocess(("gc",), history.path)

    assert result.code == 0, result
    assert b3("raw\n")[7:] in history.objects()


def test_gc_fails_closed_on_a_lockfile_the_pipeline_refuses(repo):
    """A misspelt key ('out:') makes mlx.lock invalid to `mlx repro`; gc must not read it as 'no outputs'."""
    repo.gen({"mlx.yaml": "stages:\n  train:\n    cmd: echo weights > model.bin\n    outs: [model.bin]\n"})
    assert run_subprocess(("run",), repo.path).code == 0
    lock = repo / "mlx.lock"
    lock.write_text(lock.read_text().replace("    outs:", "    out:"))
    before = repo.objects()
    assert before == {b3("weights\n")[7:]}

    result = run_subprocess(("gc",), repo.path)

    problem = "at 'stages.train': unknown key 'out'"
    run_subprocess(("repro", "--dry"), repo.path).expect_error(12, f"invalid file 'mlx.lock:5': {problem}", hint="did you mean 'outs'?")
    result.expect_error(12, f"cannot read 'mlx.lock', so nothing was deleted: line 5: {problem}", hint="did you mean 'outs'?")
    assert repo.objects() == before


def test_gc_and_fsck_refuse_a_lockfile_behind_a_symbolic_link_as_repro_does(repo):
    repo.gen({"mlx.yaml": "stages:\n  train:\n    cmd: echo weights > model.bin\n    outs: [model.bin]\n"})
    assert run_subprocess(("run",), repo.path).code == 0
    (repo / "mlx.lock").rename(repo / "real.lock")
    (repo / "mlx.lock").symlink_to("real.lock")
    before = repo.objects()

    refused = [run_subprocess((command,), repo.path) for command in ("repro", "gc", "fsck")]

    repro, gc, fsck = refused
    link = "unsafe path 'mlx.lock': 'mlx.lock' is a symbolic link"
    assert repro.code == 14 and repro.err_lines[0] == f"mlx: {link}", repro
    assert gc.code == 12 and gc.err_lines[0] == f"mlx: cannot read 'mlx.lock', so nothing was deleted: {link}", gc
    assert fsck.code == 1 and f"invalid lockfile: mlx.lock {link}" in fsck.out, fsck
    assert repo.objects() == before


def test_gc_fails_closed_on_a_lockfile_it_cannot_read(history):
    history.gen({"mlx.lock": lockfile(outs=f"    - path: model.bin\n      hash: {b3(V1)}\n      size: 11\n")})
    (history / "mlx.lock").chmod(0)
    before = history.objects()

    result = run_as_a_user(history.path, "gc")

    result.expect_error(12, "cannot read 'mlx.lock', so nothing was deleted: Permission denied")
    assert history.objects() == before


def test_gc_keeps_every_stash_entry_with_its_index_and_untracked_files(repo):
    versions = [f"weights v{n}\n" for n in range(1, 6)]

    def add(name: str, content: str) -> None:
        repo.gen({name: content}, old=True)
        assert run_subprocess(("add", name), repo.path).code == 0

    add("model.bin", versions[0])
    repo.commit("v1")
    add("model.bin", versions[1])
    repo.git("add", "model.bin.mlx")  # the index names v2 ...
    add("model.bin", versions[2])  # ... the work tree v3
    repo.git("stash", "-q")  # stash@{1} once the next one is made
    add("model.bin", versions[3])
    add("extra.bin", versions[4])  # an untracked pointer: 'git stash -u' keeps it in a third parent
    repo.git("stash", "-q", "-u")
    assert len(repo.git("stash", "list").splitlines()) == 2
    stashed = {b3(version)[7:] for version in versions}
    assert repo.objects() == stashed

    for scope in (["--all-commits"], [], ["--all-branches"], ["--rev", "HEAD"]):
        result = run_subprocess(("gc", "-n", *scope), repo.path)
        assert result.code == 0, result
        assert result.out.startswith("Would remove 0 objects"), (scope, result)
    assert run_subprocess(("gc",), repo.path).code == 0
    assert repo.objects() == stashed
    repo.git("stash", "drop", "-q", "stash@{1}")
    assert run_subprocess(("gc",), repo.path).out.startswith("Removed 2 objects (22 B)")  # v2 and v3


def test_gc_rev_dash_refuses_a_closed_stdin(repo):
    # `--rev -` read sys.stdin, which is None when stdin is closed: an internal error (exit 70)
    result = run_subprocess(("gc", "-n", "--rev", "-"), repo.path, wrapper=["bash", "-c", '"$0" "$@" <&-'])

    assert result.code == 2, result
    assert "'-' reads commit names from stdin: pipe them in" in result.err
