"""mlx init: creates .mlx/ and says what to commit; needs git unless --no-git; safe to repeat."""

from __future__ import annotations

import json

from ._helpers import git, is_git_ignored


def test_init_creates_config_gitignore_cache_with_marker_and_tmp(tmp_path, mlx):
    root = tmp_path / "project"
    root.mkdir()
    git(root, "init", "-q")

    result = mlx("init", cwd=root)

    assert result.code == 0, result
    assert result.out == f"Initialized mlx repository in {root.resolve()}/.mlx\n"
    mlx_dir = root / ".mlx"
    assert (mlx_dir / "config.yaml").is_file()
    assert (mlx_dir / ".gitignore").is_file()
    assert (mlx_dir / "tmp").is_dir()
    assert (mlx_dir / "cache" / "objects").is_dir()
    assert json.loads((mlx_dir / "cache" / "mlx-store.json").read_text()) == {"format": 1, "hash": "blake3"}


def test_init_says_what_to_commit(tmp_path, mlx):
    git(tmp_path, "init", "-q")

    result = mlx("init", cwd=tmp_path)

    assert result.err == "next: git add .mlx/config.yaml .mlx/.gitignore && git commit -m 'Initialize mlx'\n"


def test_init_gitignore_keeps_only_the_shared_config_in_git(tmp_path, mlx):
    git(tmp_path, "init", "-q")
    mlx("init", cwd=tmp_path)
    (tmp_path / ".mlx" / "config.local.yaml").write_text("core:\n  jobs: 2\n")

    assert not is_git_ignored(tmp_path, ".mlx/config.yaml")
    assert not is_git_ignored(tmp_path, ".mlx/.gitignore")
    for private in (".mlx/config.local.yaml", ".mlx/cache/mlx-store.json", ".mlx/tmp/lock", ".mlx/state.db"):
        assert is_git_ignored(tmp_path, private), private


def test_init_json_reports_what_to_commit(tmp_path, mlx):
    git(tmp_path, "init", "-q")

    result = mlx("init", "--json", cwd=tmp_path)

    assert result.code == 0, result
    assert result.json == {
        "root": str(tmp_path.resolve()),
        "reinitialized": False,
        "git": True,
        "to_commit": [".mlx/config.yaml", ".mlx/.gitignore"],
    }


def test_init_outside_git_fails_with_a_hint(tmp_path, mlx):
    result = mlx("init", cwd=tmp_path)

    result.expect_error(
        17,
        f"mlx init in '{tmp_path.resolve()}' needs a git repository",
        hint="run 'git init' first, or 'mlx init --no-git' to use mlx without git",
    )
    assert not (tmp_path / ".mlx").exists()


def test_init_no_git_works_outside_git_and_says_git_features_need_git(tmp_path, mlx):
    result = mlx("init", "--no-git", cwd=tmp_path)

    assert result.code == 0, result
    assert (tmp_path / ".mlx" / "cache" / "mlx-store.json").is_file()
    assert result.err == "git-only features (gc across history, diffs at revisions) need a git repository\n"


def test_init_in_a_subdirectory_of_a_git_repository(tmp_path, mlx):
    git(tmp_path, "init", "-q")
    project = tmp_path / "projects" / "one"
    project.mkdir(parents=True)

    result = mlx("init", cwd=project)

    assert result.code == 0, result
    assert (project / ".mlx" / "config.yaml").is_file()


def test_reinit_is_safe_and_keeps_config_and_cache(repo, mlx):
    repo.gen({"a.txt": "hello\n"})
    assert mlx("add", "a.txt").code == 0
    assert mlx("config", "cache.type", "hardlink,copy").code == 0
    config_before = (repo / ".mlx" / "config.yaml").read_bytes()
    objects_before = repo.objects()

    result = mlx("init")

    assert result.code == 0, result
    assert result.out == f"Reinitialized existing mlx repository in {repo.path.resolve()}/.mlx\n"
    assert (repo / ".mlx" / "config.yaml").read_bytes() == config_before
    assert repo.objects() == objects_before
    assert mlx("status").out == "Everything is up to date (1 tracked path).\n"


def test_commands_outside_a_repository_fail_with_a_hint(tmp_path, mlx):
    result = mlx("status", cwd=tmp_path)

    result.expect_error(
        10,
        f"not an mlx repository (or any parent up to the mount point): '{tmp_path.resolve()}'",
        hint="run 'mlx init' at the top of your project",
    )
