"""mlx remote add|list|remove|modify|default|rename: named remotes in .mlx/config.yaml (credentials
and other protocols in config.local.yaml), never printing a credential."""

from __future__ import annotations

import pytest
import yaml

TEMPLATE = "# mlx configuration, shared through git: see 'mlx config --help' and docs/config.md\n"
SUBCOMMANDS = ["add", "list", "remove", "modify", "default", "rename"]


def shared(repo) -> object:
    return yaml.safe_load((repo / ".mlx/config.yaml").read_text())


def local(repo) -> object:
    path = repo / ".mlx/config.local.yaml"
    return yaml.safe_load(path.read_text()) if path.exists() else None


def table(out: str) -> list[list[str]]:
    """The cells of each row of a table printed by `mlx remote list` (header included)."""
    return [[cell.strip() for cell in line.replace("┃", "│").split("│")] for line in out.splitlines() if "│" in line or "┃" in line]


@pytest.fixture
def origin(repo, mlx):
    """A repository whose default remote `origin` is on S3, its credentials in config.local.yaml."""
    assert mlx("remote", "add", "--default", "origin", "s3://bucket/project").code == 0
    assert mlx("remote", "modify", "origin", "endpoint_url", "http://127.0.0.1:5000").code == 0
    assert mlx("remote", "modify", "--local", "origin", "access_key_id", "AKIAEXAMPLE").code == 0
    assert mlx("remote", "modify", "--local", "origin", "secret_access_key", "s3cr3t-value").code == 0
    return repo


def test_remote_add_writes_the_committed_config(repo, mlx):
    result = mlx("remote", "add", "--default", "origin", "s3://bucket/project")

    assert (result.code, result.out, result.err) == (0, "added remote 'origin' in .mlx/config.yaml (the default)\n", "")
    assert shared(repo) == {"core": {"remote": "origin"}, "remotes": {"origin": {"url": "s3://bucket/project"}}}
    assert local(repo) is None
    assert mlx("remote", "default").out == "origin\n"


def test_remote_list_shows_name_url_default_and_files(origin, mlx, monkeypatch):
    monkeypatch.setenv("COLUMNS", "300")  # the resolved path is as long as pytest's temp folder: keep it on one line
    assert mlx("remote", "add", "backup", "../nas").code == 0

    result = mlx("remote", "list")

    assert result.code == 0, result
    assert table(result.out) == [
        ["name", "url", "default", "defined in"],
        ["backup", str(origin.path.parent / "nas"), "", "config.yaml"],
        ["origin", "s3://bucket/project", "*", "config.yaml, config.local.yaml"],
    ]
    assert "s3cr3t" not in result.out and "AKIA" not in result.out


def test_remote_list_json_masks_credentials(origin, mlx):
    result = mlx("remote", "list", "--json")

    assert result.json == [
        {
            "name": "origin", "url": "s3://bucket/project", "default": True,
            "files": ["config.yaml", "config.local.yaml"], "jobs": None,
            "options": {
                "key": "***", "secret": "***", "client_kwargs": {"endpoint_url": "http://127.0.0.1:5000"},
                "config_kwargs": {"connect_timeout": 20, "read_timeout": 20},
            },
        }
    ]  # fmt: skip


def test_remote_list_without_remotes_prints_nothing_and_says_how_to_add_one(repo, mlx):
    result = mlx("remote", "list")
    assert (result.code, result.out, result.err) == (0, "", "no remotes: add one with 'mlx remote add --default NAME URL'\n")
    assert mlx("remote", "list", "--json").json == []


def test_config_list_and_get_mask_credentials(origin, mlx):
    result = mlx("config", "--list")

    assert result.out.splitlines() == [
        "core.remote=origin  (config.yaml)",
        "remotes.origin.url=s3://bucket/project  (config.yaml)",
        "remotes.origin.endpoint_url=http://127.0.0.1:5000  (config.yaml)",
        "remotes.origin.access_key_id=***  (config.local.yaml)",
        "remotes.origin.secret_access_key=***  (config.local.yaml)",
    ]
    assert "s3cr3t" not in mlx("config", "--list", "--json").out
    assert mlx("config", "remotes.origin.secret_access_key").out == "***\n"
    assert mlx("config", "remotes.origin.secret_access_key", "--json").json == {
        "key": "remotes.origin.secret_access_key", "value": "***",
    }  # fmt: skip
    assert local(origin) == {"remotes": {"origin": {"access_key_id": "AKIAEXAMPLE", "secret_access_key": "s3cr3t-value"}}}


def test_config_sets_a_remote_through_its_dotted_key(repo, mlx):
    assert mlx("config", "remotes.origin.url", "s3://b/p").code == 0
    assert mlx("config", "remotes.origin.jobs", "8").code == 0

    assert shared(repo) == {"remotes": {"origin": {"url": "s3://b/p", "jobs": 8}}}
    assert mlx("config", "remotes.origin.url").out == "s3://b/p\n"
    assert mlx("remote", "list", "--json").json[0]["jobs"] == 8


def test_a_credential_is_refused_in_the_committed_config(repo, mlx):
    mlx("remote", "add", "origin", "s3://b/p")
    mlx("remote", "modify", "origin", "secret_access_key", "x").expect_error(
        2, "'secret_access_key' is a credential: it may only be set in .mlx/config.local.yaml",
        hint="run 'mlx remote modify --local origin secret_access_key ...'",
    )  # fmt: skip
    mlx("config", "remotes.origin.session_token", "x").expect_error(
        2, "'remotes.origin.session_token' may only be set in .mlx/config.local.yaml",
        hint="run 'mlx config --local remotes.origin.session_token ...'",
    )  # fmt: skip
    assert shared(repo) == {"remotes": {"origin": {"url": "s3://b/p"}}}


def test_a_credential_written_into_the_committed_config_is_an_invalid_file(repo, mlx):
    (repo / ".mlx/config.yaml").write_text("remotes:\n  origin:\n    url: s3://b/p\n    access_key_id: AKIA\n")

    for args in (("remote", "list"), ("status",)):
        mlx(*args).expect_error(
            12,
            "invalid file '.mlx/config.yaml:4': 'remotes.origin.access_key_id' may only be set in "
            ".mlx/config.local.yaml: a committed file must not hold credentials",
            hint="delete the line (and revoke the credential if it was ever committed), then run "
            "'mlx remote modify --local origin access_key_id VALUE'",
        )


def test_another_protocol_is_accepted_only_with_local(repo, mlx):
    mlx("remote", "add", "scratch", "memory://x").expect_error(
        2,
        "the protocol 'memory' is accepted only in .mlx/config.local.yaml: a committed remote may use a path, file:// or s3://",
        hint="run 'mlx remote add --local scratch memory://x' to keep it to this machine",
    )
    assert (repo / ".mlx/config.yaml").read_text() == TEMPLATE

    result = mlx("remote", "add", "--local", "scratch", "memory://x")

    assert result.out == "added remote 'scratch' in .mlx/config.local.yaml\n"
    assert local(repo) == {"remotes": {"scratch": {"url": "memory://x"}}}
    assert table(mlx("remote", "list").out)[1] == ["scratch", "memory://x", "", "config.local.yaml"]


@pytest.mark.parametrize("name", ["-x", "a b", "a/b", "x" * 65])
def test_remote_add_refuses_an_invalid_name(repo, mlx, name):
    mlx("remote", "add", "--", name, "/srv/r").expect_error(
        2, f"invalid remote name '{name}'",
        hint="a remote name is letters, digits, '_', '.' and '-', at most 64, starting with a letter or digit",
    )  # fmt: skip
    assert (repo / ".mlx/config.yaml").read_text() == TEMPLATE


def test_remote_add_refuses_a_duplicate_unless_forced(repo, mlx):
    assert mlx("remote", "add", "origin", "/srv/one").code == 0
    mlx("remote", "add", "origin", "/srv/two").expect_error(
        2, "remote 'origin' already exists", hint="pass --force to replace it, or run 'mlx remote modify origin url URL'"
    )
    mlx("remote", "add", "--local", "origin", "/srv/two").expect_error(
        2, "remote 'origin' already exists", hint="pass --force to replace it, or run 'mlx remote modify origin url URL'"
    )

    result = mlx("remote", "add", "--force", "origin", "/srv/two")

    assert result.out == "replaced remote 'origin' in .mlx/config.yaml\n"
    assert shared(repo) == {"remotes": {"origin": {"url": "/srv/two"}}}


def test_remote_modify_sets_and_unsets(origin, mlx):
    assert mlx("remote", "modify", "origin", "region", "eu-west-1").code == 0
    assert mlx("remote", "modify", "origin", "jobs", "4").code == 0
    assert shared(origin)["remotes"]["origin"] == {
        "url": "s3://bucket/project", "endpoint_url": "http://127.0.0.1:5000", "region": "eu-west-1", "jobs": 4,
    }  # fmt: skip

    result = mlx("remote", "modify", "--unset", "origin", "region")

    assert (result.code, result.out, result.err) == (0, "", "")
    assert "region" not in shared(origin)["remotes"]["origin"]
    mlx("remote", "modify", "--unset", "origin", "jobs", "4").expect_error(2, "--unset takes a key and no value")
    mlx("remote", "modify", "origin", "regoin", "x").expect_error(2, "unknown remote option 'regoin'", hint="did you mean 'region'?")
    mlx("remote", "modify", "ghost", "region", "x").expect_error(2, "no such remote 'ghost'", hint="known remotes: origin")


def test_remote_default_prints_and_changes_the_default(origin, mlx):
    assert mlx("remote", "add", "backup", "/srv/backup").code == 0
    assert mlx("remote", "default").out == "origin\n"

    assert mlx("remote", "default", "--local", "backup").out == ""

    assert mlx("remote", "default").out == "backup\n"
    assert local(origin)["core"] == {"remote": "backup"}
    assert shared(origin)["core"] == {"remote": "origin"}
    assert [row[2] for row in table(mlx("remote", "list").out)[1:]] == ["*", ""]
    mlx("remote", "default", "ghost").expect_error(2, "no such remote 'ghost'", hint="known remotes: backup, origin")


def test_remote_default_without_one(repo, mlx):
    mlx("remote", "default").expect_error(2, "no default remote", hint="run 'mlx remote add --default NAME URL'")
    assert mlx("remote", "add", "backup", "/srv/backup").code == 0
    mlx("remote", "default").expect_error(2, "no default remote", hint="run 'mlx remote default NAME' (remotes: backup)")


def test_a_default_that_names_a_missing_remote_says_which_file_names_it(repo, mlx):
    assert mlx("config", "--local", "core.remote", "ghost").code == 0

    mlx("remote", "default").expect_error(
        2, "no such remote 'ghost' (core.remote in .mlx/config.local.yaml names it as the default)",
        hint="run 'mlx remote add ghost URL', or choose another default with 'mlx remote default NAME'",
    )  # fmt: skip


def test_remote_remove_forgets_it_everywhere_with_its_index_folder(origin, mlx):
    folder = origin / ".mlx/remotes/origin"
    (folder / "index").mkdir(parents=True)
    (folder / "url").write_text("s3://bucket/project")

    result = mlx("remote", "remove", "origin")

    assert (result.code, result.out, result.err) == (0, "removed remote 'origin' (it was the default)\n", "")
    assert (origin / ".mlx/config.yaml").read_text() == TEMPLATE  # what mlx init wrote: comments stay
    assert (origin / ".mlx/config.local.yaml").read_text() == ""
    assert not folder.exists()
    assert mlx("remote", "list", "--json").json == []
    mlx("remote", "remove", "origin").expect_error(2, "no such remote 'origin'", hint="run 'mlx remote add origin URL' to add it")


def test_remote_rename_moves_config_default_and_index_folder(origin, mlx):
    (origin / ".mlx/remotes/origin").mkdir(parents=True)
    (origin / ".mlx/remotes/origin/url").write_text("s3://bucket/project")

    result = mlx("remote", "rename", "origin", "main")

    assert (result.code, result.out, result.err) == (0, "renamed remote 'origin' to 'main'\n", "")
    assert shared(origin) == {
        "core": {"remote": "main"},
        "remotes": {"main": {"url": "s3://bucket/project", "endpoint_url": "http://127.0.0.1:5000"}},
    }
    assert list(local(origin)["remotes"]) == ["main"]
    assert (origin / ".mlx/remotes/main/url").read_text() == "s3://bucket/project"
    assert not (origin / ".mlx/remotes/origin").exists()
    assert mlx("remote", "default").out == "main\n"


def test_remote_rename_refusals(origin, mlx):
    assert mlx("remote", "add", "backup", "/srv/backup").code == 0
    mlx("remote", "rename", "origin", "backup").expect_error(2, "remote 'backup' already exists", hint="run 'mlx remote remove backup' first")
    mlx("remote", "rename", "ghost", "x").expect_error(2, "no such remote 'ghost'", hint="known remotes: backup, origin")
    mlx("remote", "rename", "origin", "a b").expect_error(
        2, "invalid remote name 'a b'",
        hint="a remote name is letters, digits, '_', '.' and '-', at most 64, starting with a letter or digit",
    )  # fmt: skip
    assert sorted(shared(origin)["remotes"]) == ["backup", "origin"]


@pytest.mark.parametrize("subcommand", SUBCOMMANDS)
def test_every_remote_subcommand_help_shows_examples(repo, mlx, subcommand):
    result = mlx("remote", subcommand, "--help")

    assert result.code == 0, result
    lines = [line.strip() for line in result.out.splitlines()]
    assert any(line.startswith(f"mlx remote {subcommand}") for line in lines[lines.index("Examples") + 1 :]), result.out


def test_a_password_in_a_url_is_never_printed(repo, mlx):
    """Lists show the url masked; hints that suggest a command say URL instead."""
    url = "sftp://ada:hunter2@127.0.0.1/srv/mlx"
    with open(repo / ".mlx/config.yaml", "a") as config:  # a committed url of another protocol, by hand
        config.write(f"remotes:\n  nas:\n    url: {url}\n")
    outputs = [
        mlx("fetch", "-r", "nas"),
        mlx("remote", "add", "bk", "sftp://ada:hunter2@127.0.0.1/x"),
        mlx("remote", "modify", "nas", "url", "sftp://ada:hunter2@127.0.0.1/y"),
        mlx("remote", "list"),
        mlx("remote", "list", "--json"),
        mlx("config", "--list"),
        mlx("config", "--list", "--json"),
        mlx("config", "remotes.nas.url"),
        mlx("config", "remotes.nas.url", "sftp://ada:hunter2@127.0.0.1/z"),
    ]

    assert [result.code for result in outputs] == [12, 2, 2, 0, 0, 0, 0, 0, 2]
    # a command in a hint says URL: one with the password masked, run as printed, would store '***'
    assert outputs[8].err_lines[1] == "hint: run 'mlx config --local remotes.nas.url URL'"
    assert outputs[0].err_lines[1] == "hint: if you trust this url, run 'mlx remote modify --local nas url URL'"
    assert outputs[1].err_lines[1] == "hint: run 'mlx remote add --local bk URL' to keep it to this machine"
    assert outputs[2].err_lines[1] == "hint: run 'mlx remote modify --local nas url URL' to keep it to this machine"
    assert outputs[7].out == "sftp://ada:***@127.0.0.1/srv/mlx\n"
    for result in outputs:
        assert "hunter2" not in result.out + result.err, result


def test_file_localhost_means_the_local_path(repo, mlx, tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "300")
    target = tmp_path / "lh-remote"
    assert mlx("remote", "add", "-d", "lh", f"file://localhost{target}").code == 0
    (repo / "f.txt").write_text("data\n")
    assert mlx("add", "f.txt").code == 0

    listed = mlx("remote", "list", "--json")
    pushed = mlx("push")

    assert listed.json[0]["url"] == f"file://{target}"
    assert pushed.code == 0, pushed
    assert (target / "mlx-store.json").is_file()
    assert not (repo / "localhost").exists()
