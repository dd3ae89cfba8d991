"""mlx config: dotted keys in .mlx/config.yaml, or config.local.yaml with --local; a committed
file can never move the cache."""

from __future__ import annotations

import yaml

TEMPLATE = "# mlx configuration, shared through git: see 'mlx config --help' and docs/config.md\n"


def test_config_defaults(repo, mlx):
    assert mlx("config", "cache.type").out == "reflink,copy\n"
    assert mlx("config", "core.fsync").out == "batch\n"
    assert mlx("config", "--list").out == ""
    assert mlx("config", "cache.type", "--json").json == {"key": "cache.type", "value": ["reflink", "copy"]}


def test_config_set_writes_the_committed_file(repo, mlx):
    result = mlx("config", "cache.type", "hardlink,copy")

    assert (result.code, result.out, result.err) == (0, "", "")
    assert yaml.safe_load((repo / ".mlx/config.yaml").read_text()) == {"cache": {"type": ["hardlink", "copy"]}}
    assert mlx("config", "cache.type").out == "hardlink,copy\n"


def test_config_and_remote_commands_edit_only_what_changes_and_keep_comments(repo, mlx):
    written = (
        TEMPLATE + "core:\n  fsync: batch  # the team's choice\n  jobs: 2\n\n"
        "# the lab's disk\nremotes:\n  lab:\n    url: /mnt/lab  # mounted by IT\n"
    )
    (repo / ".mlx/config.yaml").write_text(written)

    for args in (
        ("config", "core.fsync", "never"),
        ("config", "--unset", "core.jobs"),
        ("remote", "rename", "lab", "shared"),
        ("remote", "modify", "shared", "jobs", "8"),
    ):
        assert mlx(*args).code == 0, args

    assert (repo / ".mlx/config.yaml").read_text() == (
        TEMPLATE + "core:\n  fsync: never  # the team's choice\n\n"
        "# the lab's disk\nremotes:\n  shared:\n    url: /mnt/lab  # mounted by IT\n    jobs: 8\n"
    )


def test_config_local_overrides_the_committed_value(repo, mlx):
    assert mlx("config", "core.jobs", "4").code == 0
    assert mlx("config", "--local", "core.jobs", "8").code == 0

    assert mlx("config", "core.jobs").out == "8\n"
    assert yaml.safe_load((repo / ".mlx/config.yaml").read_text()) == {"core": {"jobs": 4}}
    assert yaml.safe_load((repo / ".mlx/config.local.yaml").read_text()) == {"core": {"jobs": 8}}
    assert mlx("config", "--list").out == "core.jobs=4  (config.yaml)\ncore.jobs=8  (config.local.yaml)\n"
    assert mlx("config", "--list", "--json").json == [
        {"key": "core.jobs", "value": 4, "file": "config.yaml"},
        {"key": "core.jobs", "value": 8, "file": "config.local.yaml"},
    ]


def test_config_unset(repo, mlx):
    assert mlx("config", "core.jobs", "4").code == 0
    assert mlx("config", "--local", "core.jobs", "8").code == 0

    assert mlx("config", "--local", "--unset", "core.jobs").code == 0
    assert mlx("config", "core.jobs").out == "4\n"
    assert mlx("config", "--unset", "core.jobs").code == 0
    assert mlx("config", "core.jobs").out == "\n"
    assert mlx("config", "--list").out == ""
    assert (repo / ".mlx/config.yaml").read_text() == TEMPLATE  # what mlx init wrote: comments stay


def test_config_unset_with_a_value_is_a_usage_error(repo, mlx):
    mlx("config", "--unset", "core.jobs", "3").expect_error(2, "--unset takes a key and no value")


def test_config_unknown_key_suggests_the_closest(repo, mlx):
    mlx("config", "cache.typo", "copy").expect_error(2, "unknown config key 'cache.typo'", hint="did you mean 'cache.type'?")
    mlx("config", "cache.typo").expect_error(2, "unknown config key 'cache.typo'", hint="did you mean 'cache.type'?")
    mlx("config", "nothing").expect_error(
        2, "unknown config key 'nothing'",
        hint="known keys: cache.dir, cache.type, core.fsync, core.jobs, core.remote, remote.jobs, remote.pack_size, "
        "remote.pack_threshold, remote.timeout, remotes.NAME.OPTION (OPTION: url, endpoint_url, region, profile, jobs, "
        "timeout, access_key_id, secret_access_key, session_token)",
    )
    assert (repo / ".mlx/config.yaml").read_text() == TEMPLATE


def test_config_refuses_bad_values_as_usage_errors(repo, mlx):
    mlx("config", "core.jobs", "many").expect_error(2, "'core.jobs' takes a whole number, not 'many'")
    mlx("config", "core.jobs", "0").expect_error(2, "invalid value for 'core.jobs': 0 is less than the minimum of 1")
    mlx("config", "cache.type", "hardlink,teleport").expect_error(
        2, "invalid value for 'cache.type': 'teleport' is not one of 'reflink', 'hardlink', 'symlink', 'copy'"
    )
    mlx("config", "core.fsync", "sometimes").expect_error(
        2, "invalid value for 'core.fsync': 'sometimes' is not one of 'batch', 'always', 'never'"
    )
    assert (repo / ".mlx/config.yaml").read_text() == TEMPLATE


def test_config_cache_dir_is_refused_in_the_committed_config(repo, mlx):
    mlx("config", "cache.dir", "/mnt/cache").expect_error(
        2, "'cache.dir' may only be set in .mlx/config.local.yaml", hint="run 'mlx config --local cache.dir ...'"
    )
    assert (repo / ".mlx/config.yaml").read_text() == TEMPLATE


def test_a_committed_config_that_moves_the_cache_is_an_invalid_file(repo, mlx, tmp_path):
    (repo / ".mlx/config.yaml").write_text(f"core:\n  jobs: 2\ncache:\n  dir: {tmp_path}\n")

    result = mlx("status")

    result.expect_error(
        12,
        "invalid file '.mlx/config.yaml:4': 'cache.dir' may only be set in .mlx/config.local.yaml: "
        "a committed file must not move the cache",
        hint="run 'mlx config --local cache.dir PATH' instead",
    )


def test_config_local_cache_dir_must_be_absolute(repo, mlx):
    mlx("config", "--local", "cache.dir", "rel/cache").expect_error(2, "'cache.dir' must be an absolute path")


def test_config_local_cache_dir_moves_the_cache(repo, mlx, tmp_path):
    shared = tmp_path / "shared-cache"
    assert mlx("config", "--local", "cache.dir", str(shared)).code == 0
    repo.gen({"a.csv": "a\n"})

    assert mlx("add", "a.csv").code == 0

    assert (shared / "mlx-store.json").is_file()
    assert len(list((shared / "objects").rglob("*"))) == 2  # a fan-out directory and the object
    assert repo.objects() == set()


def test_invalid_yaml_in_config_names_file_and_line(repo, mlx):
    (repo / ".mlx/config.yaml").write_text("core:\n  jobs: 2\n  jobs: 3\n")

    mlx("status").expect_error(12, "invalid file '.mlx/config.yaml:3': duplicate key 'jobs'")


def test_unknown_key_in_config_file_names_file_and_line(repo, mlx):
    (repo / ".mlx/config.yaml").write_text("core:\n  jobs: 2\ncache:\n  tipe: [copy]\n")

    mlx("status").expect_error(
        12, "invalid file '.mlx/config.yaml:4': at 'cache': unknown key 'tipe'", hint="did you mean 'type'?"
    )


def test_a_local_config_that_git_tracks_cannot_move_the_cache(repo, mlx, tmp_path):
    assert mlx("config", "--local", "cache.dir", str(tmp_path / "elsewhere")).code == 0
    assert mlx("status").code == 0  # in this process: what it remembers must not outlive git's index
    repo.git("add", "-f", ".mlx/config.local.yaml")

    result = mlx("status")

    result.expect_error(
        12,
        "invalid file '.mlx/config.local.yaml:2': 'cache.dir' may only be set in .mlx/config.local.yaml while git "
        "does not track that file: a committed file must not move the cache",
        hint="stop tracking it: 'git rm --cached .mlx/config.local.yaml', commit, and check its content",
    )
    repo.git("rm", "-q", "--cached", ".mlx/config.local.yaml")
    assert mlx("status").code == 0


def test_gc_in_a_clone_never_follows_a_committed_local_config_to_another_cache(repo, mlx, tmp_path):
    repo.gen({"p.csv": "precious\n"})
    assert mlx("add", "p.csv").code == 0
    kept = repo.objects()
    evil = tmp_path / "evil"
    evil.mkdir()
    repo.git("init", "-q", str(evil))  # any git repository whose commit names the other project's cache
    assert mlx("init", cwd=evil).code == 0
    (evil / ".mlx/config.local.yaml").write_text(f"cache:\n  dir: {repo.cache}\n")
    from tests.conftest import git

    git(evil, "add", "-f", ".mlx")
    git(evil, "commit", "-qm", "evil")
    git(tmp_path, "clone", "-q", str(evil), "clone")

    result = mlx("gc", cwd=tmp_path / "clone")

    assert result.code == 12, result
    assert repo.objects() == kept
