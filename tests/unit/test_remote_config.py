"""Named remotes in the configuration: three-part keys, credentials only in config.local.yaml, the
protocol allowlist for committed urls, and the edits behind `mlx remote`."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlxkit.errors import InvalidFileError, UsageError
from mlxkit.repo.config import (
    DEFAULTS,
    REMOTE_NAME,
    check_key,
    is_secret,
    parse_value,
    read_config,
    set_value,
    split_key,
    url_protocol,
)
from mlxkit.repo.remotes import (
    RemoteSettings,
    add_remote,
    catalog_dir,
    list_remotes,
    modify_remote,
    remove_remote,
    rename_remote,
    resolve_remote,
    set_default,
)


@pytest.fixture
def mlx_dir(tmp_path: Path) -> Path:
    path = tmp_path / "repo" / ".mlx"
    (path / "tmp").mkdir(parents=True)
    return path


def write(mlx_dir: Path, shared: str | None = None, local: str | None = None) -> None:
    if shared is not None:
        (mlx_dir / "config.yaml").write_text(shared)
    if local is not None:
        (mlx_dir / "config.local.yaml").write_text(local)


# -- keys ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "path"),
    [
        ("remotes.origin.url", ("remotes", "origin", "url")),
        ("remotes.my.nas.v2.jobs", ("remotes", "my.nas.v2", "jobs")),
        ("cache.type", ("cache", "type")),
        ("remote.pack_size", ("remote", "pack_size")),
        ("remotes.origin", ("remotes", "origin")),
    ],
)
def test_split_key_keeps_dots_of_a_remote_name(key, path):
    assert split_key(key) == path


def test_remote_keys_are_got_and_set_through_three_part_keys(mlx_dir):
    set_value(mlx_dir, "remotes.origin.url", "s3://bucket/prefix", local=False)
    set_value(mlx_dir, "remotes.origin.jobs", parse_value("remotes.origin.jobs", "8"), local=False)
    set_value(mlx_dir, "remotes.my.nas.url", "/mnt/nas", local=False)

    assert (mlx_dir / "config.yaml").read_text() == (
        "remotes:\n  origin:\n    url: s3://bucket/prefix\n    jobs: 8\n  my.nas:\n    url: /mnt/nas\n"
    )
    config = read_config(mlx_dir)
    assert config.get("remotes.origin.jobs") == 8
    assert config.get("remotes.my.nas.url") == "/mnt/nas"
    assert config.get("remotes.origin.region") is None
    assert config.items() == [
        ("remotes.origin.url", "s3://bucket/prefix", "config.yaml"),
        ("remotes.origin.jobs", 8, "config.yaml"),
        ("remotes.my.nas.url", "/mnt/nas", "config.yaml"),
    ]


def test_unsetting_the_last_key_of_a_remote_removes_the_remote_and_the_section(mlx_dir):
    set_value(mlx_dir, "remotes.origin.url", "s3://b/p", local=False)
    set_value(mlx_dir, "core.jobs", 2, local=False)

    set_value(mlx_dir, "remotes.origin.url", None, local=False)

    assert (mlx_dir / "config.yaml").read_text() == "core:\n  jobs: 2\n"


def test_the_two_files_merge_key_by_key_per_remote(mlx_dir):
    write(mlx_dir, "remotes:\n  origin:\n    url: s3://b/p\n    region: eu-west-1\n",
          "remotes:\n  origin:\n    region: us-east-1\n    access_key_id: AKIA\n")  # fmt: skip
    config = read_config(mlx_dir)
    assert config.get("remotes.origin.url") == "s3://b/p"
    assert config.get("remotes.origin.region") == "us-east-1"
    assert config.get("remotes.origin.access_key_id") == "AKIA"


def test_pack_settings_have_defaults():
    assert DEFAULTS["remote.pack_threshold"] == 1048576
    assert DEFAULTS["remote.pack_size"] == 67108864
    assert DEFAULTS["remote.jobs"] is None
    assert DEFAULTS["core.remote"] is None


@pytest.mark.parametrize(
    ("key", "text", "message"),
    [
        ("remote.pack_threshold", "4095", "invalid value for 'remote.pack_threshold': 4095 is less than the minimum of 4096"),
        ("remote.pack_size", "1048575", "invalid value for 'remote.pack_size': 1048575 is less than the minimum of 1048576"),
        ("remote.jobs", "257", "invalid value for 'remote.jobs': 257 is greater than the maximum of 256"),
        ("remotes.origin.jobs", "0", "invalid value for 'remotes.origin.jobs': 0 is less than the minimum of 1"),
        ("core.remote", "-x", "invalid value for 'core.remote': '-x' is not a remote name (letters, digits, '_', '.', '-'; at most 64)"),
    ],
)
def test_remote_settings_are_checked_against_the_schema(mlx_dir, key, text, message):
    with pytest.raises(UsageError) as info:
        set_value(mlx_dir, key, parse_value(key, text), local=False)
    assert info.value.message == message
    assert not (mlx_dir / "config.yaml").exists()


def test_an_unknown_remote_option_suggests_the_closest_key():
    with pytest.raises(UsageError) as info:
        check_key("remotes.origin.urll")
    assert (info.value.message, info.value.hint) == ("unknown config key 'remotes.origin.urll'", "did you mean 'remotes.origin.url'?")
    with pytest.raises(UsageError) as info:
        check_key("remote.origin.url")  # dvc's spelling
    assert info.value.hint == "did you mean 'remotes.origin.url'?"


def test_a_key_with_an_invalid_remote_name_is_refused():
    with pytest.raises(UsageError) as info:
        check_key("remotes.-origin.url")
    assert info.value.message == "invalid remote name '-origin'"
    assert info.value.hint == "a remote name is letters, digits, '_', '.' and '-', at most 64, starting with a letter or digit"


@pytest.mark.parametrize(
    ("key", "secret"),
    [
        ("remotes.origin.access_key_id", True),
        ("remotes.origin.secret_access_key", True),
        ("remotes.a.b.session_token", True),
        ("remotes.origin.url", False),
        ("remotes.origin.profile", False),
        ("core.remote", False),
    ],
)
def test_is_secret_names_the_credentials(key, secret):
    assert is_secret(key) is secret


# -- what a file may hold --------------------------------------------------------------------------


def test_a_credential_in_the_committed_config_is_refused_with_its_line(mlx_dir):
    write(mlx_dir, "remotes:\n  origin:\n    url: s3://b/p\n    secret_access_key: abc\n")
    with pytest.raises(InvalidFileError) as info:
        read_config(mlx_dir)
    assert str(info.value) == (
        "invalid file '.mlx/config.yaml:4': 'remotes.origin.secret_access_key' may only be set in "
        ".mlx/config.local.yaml: a committed file must not hold credentials"
    )
    assert info.value.hint == (
        "delete the line (and revoke the credential if it was ever committed), then run "
        "'mlx remote modify --local origin secret_access_key VALUE'"
    )


def test_a_credential_is_set_only_in_the_local_config(mlx_dir):
    with pytest.raises(UsageError) as info:
        set_value(mlx_dir, "remotes.origin.session_token", "t", local=False)
    assert info.value.message == "'remotes.origin.session_token' may only be set in .mlx/config.local.yaml"
    set_value(mlx_dir, "remotes.origin.session_token", "t", local=True)
    assert (mlx_dir / "config.local.yaml").read_text() == "remotes:\n  origin:\n    session_token: t\n"
    assert not (mlx_dir / "config.yaml").exists()


def test_an_unknown_option_of_a_remote_in_a_file_gets_did_you_mean(mlx_dir):
    write(mlx_dir, "remotes:\n  origin:\n    url: s3://b/p\n    regoin: eu\n")
    with pytest.raises(InvalidFileError) as info:
        read_config(mlx_dir)
    assert str(info.value) == "invalid file '.mlx/config.yaml:4': at 'remotes.origin': unknown key 'regoin'"
    assert info.value.hint == "did you mean 'region'?"


@pytest.mark.parametrize(("name", "shown"), [("bad name", "bad name"), ("-x", "-x"), ("12", "12"), ("on", "True")])
def test_an_invalid_remote_name_in_a_file_is_refused_with_its_line(mlx_dir, name, shown):
    write(mlx_dir, f"core:\n  jobs: 2\nremotes:\n  ok:\n    url: /a\n  {name}:\n    url: /b\n")
    with pytest.raises(InvalidFileError) as info:
        read_config(mlx_dir)
    assert info.value.problem == f"at 'remotes': invalid remote name '{shown}'"
    assert info.value.line == (6 if shown == name else 3)
    quote = "" if name in ("bad name", "-x") else " (quote it: YAML reads it as a number or a boolean)"
    assert info.value.hint == f"a remote name is letters, digits, '_', '.' and '-', at most 64, starting with a letter or digit{quote}"


@pytest.mark.parametrize(
    ("url", "protocol"),
    [
        ("/mnt/nas/remote", ""),
        ("../remote", ""),
        ("C:\\remote", ""),
        ("file:///srv/remote", "file"),
        ("s3://bucket/prefix", "s3"),
        ("gs://bucket", "gs"),
        ("memory://x", "memory"),
        ("simplecache::s3://bucket", "simplecache::s3"),
        ("zip::file.zip", "zip::file.zip"),
        ("data:text/plain,x", "data"),
    ],
)
def test_url_protocol_reads_a_url_as_fsspec_would(url, protocol):
    assert url_protocol(url) == protocol


def test_a_url_of_another_protocol_is_set_only_in_the_local_config(mlx_dir):
    with pytest.raises(UsageError) as info:
        set_value(mlx_dir, "remotes.x.url", "memory://x", local=False)
    assert info.value.message == (
        "the protocol 'memory' is accepted only in .mlx/config.local.yaml: a committed remote may use a path, file:// or s3://"
    )
    assert info.value.hint == "run 'mlx config --local remotes.x.url memory://x'"
    set_value(mlx_dir, "remotes.x.url", "memory://x", local=True)
    assert read_config(mlx_dir).get("remotes.x.url") == "memory://x"


# -- resolving a remote ----------------------------------------------------------------------------


def test_resolve_remote_maps_options_to_s3fs_storage_options(mlx_dir):
    write(
        mlx_dir,
        "core:\n  remote: origin\nremote:\n  pack_size: 2097152\n  jobs: 3\n"
        "remotes:\n  origin:\n    url: s3://b/p\n    endpoint_url: http://127.0.0.1:5000\n    region: eu-west-1\n"
        "    profile: ml\n    jobs: 16\n    timeout: 5\n  other:\n    url: s3://o\n",
        "remotes:\n  origin:\n    access_key_id: AKIA\n    secret_access_key: s3cr3t\n    session_token: tok\n",
    )
    settings = resolve_remote(read_config(mlx_dir), None)

    assert settings.name == "origin"
    assert settings.url == "s3://b/p"
    assert settings.options == {
        "profile": "ml", "key": "AKIA", "secret": "s3cr3t", "token": "tok",
        "client_kwargs": {"endpoint_url": "http://127.0.0.1:5000", "region_name": "eu-west-1"},
        "config_kwargs": {"connect_timeout": 5, "read_timeout": 5},
    }  # fmt: skip
    assert (settings.jobs, settings.pack_threshold, settings.pack_size) == (16, 1048576, 2097152)
    assert settings.url_is_local_config is False
    assert settings.defined_in == ("config.yaml", "config.local.yaml")
    assert settings.is_default is True
    assert resolve_remote(read_config(mlx_dir), "other").jobs == 3
    assert resolve_remote(read_config(mlx_dir), "other").options["config_kwargs"]["read_timeout"] == 20  # remote.timeout


def test_settings_never_show_credentials(mlx_dir):
    write(mlx_dir, "remotes:\n  origin:\n    url: s3://b/p\n", "remotes:\n  origin:\n    secret_access_key: s3cr3t\n")
    settings = resolve_remote(read_config(mlx_dir), "origin")
    assert "s3cr3t" not in repr(settings)
    assert settings.public_options() == {"secret": "***", "config_kwargs": {"connect_timeout": 20, "read_timeout": 20}}


def test_public_url_hides_a_password():
    settings = RemoteSettings("n", "sftp://ada:pw@host/path", {}, None, 4096, 1048576, True)
    assert settings.public_url == "sftp://ada:***@host/path"
    assert RemoteSettings("n", "s3://bucket/a:b@c", {}, None, 4096, 1048576, True).public_url == "s3://bucket/a:b@c"


def test_a_relative_or_home_path_is_resolved_at_use_and_stored_as_typed(mlx_dir, monkeypatch):
    monkeypatch.setenv("HOME", "/home/ada")
    write(mlx_dir, "remotes:\n  up:\n    url: ../nas\n  home:\n    url: ~/remote\n  file:\n    url: file://store\n")
    config = read_config(mlx_dir)
    root = mlx_dir.parent
    assert resolve_remote(config, "up").url == str(root.parent / "nas")
    assert resolve_remote(config, "home").url == "/home/ada/remote"
    assert resolve_remote(config, "file").url == f"file://{root / 'store'}"
    assert config.get("remotes.up.url") == "../nas"
    assert resolve_remote(config, "up").options == {}


def test_resolve_without_a_default_remote_says_how_to_add_one(mlx_dir):
    with pytest.raises(UsageError) as info:
        resolve_remote(read_config(mlx_dir), None)
    assert (info.value.message, info.value.hint) == ("no default remote", "run 'mlx remote add --default NAME URL'")
    write(mlx_dir, "remotes:\n  b:\n    url: /b\n  a:\n    url: /a\n")
    with pytest.raises(UsageError) as info:
        resolve_remote(read_config(mlx_dir), None)
    assert info.value.hint == "run 'mlx remote default NAME' (remotes: a, b)"


def test_resolve_a_default_that_names_no_remote(mlx_dir):
    write(mlx_dir, "core:\n  remote: ghost\nremotes:\n  a:\n    url: /a\n")
    with pytest.raises(UsageError) as info:
        resolve_remote(read_config(mlx_dir), None)
    assert info.value.message == "no such remote 'ghost' (core.remote in .mlx/config.yaml names it as the default)"
    assert info.value.hint == "run 'mlx remote add ghost URL', or choose another default with 'mlx remote default NAME'"


def test_resolve_an_unknown_remote(mlx_dir):
    with pytest.raises(UsageError) as info:
        resolve_remote(read_config(mlx_dir), "nope")
    assert (info.value.message, info.value.hint) == ("no such remote 'nope'", "run 'mlx remote add nope URL' to add it")


def test_a_committed_url_of_another_protocol_is_refused_when_used(mlx_dir):
    write(mlx_dir, "remotes:\n  x:\n    url: gs://bucket\n")
    config = read_config(mlx_dir)
    assert [remote.url for remote in list_remotes(config)] == ["gs://bucket"]  # listing opens nothing
    with pytest.raises(InvalidFileError) as info:
        resolve_remote(config, "x")
    assert str(info.value) == (
        "invalid file '.mlx/config.yaml': remote 'x': the protocol 'gs' is accepted only in .mlx/config.local.yaml: "
        "a committed remote may use a path, file:// or s3://"
    )
    assert info.value.hint == "if you trust this url, run 'mlx remote modify --local x url gs://bucket'"


def test_a_local_url_of_another_protocol_is_accepted(mlx_dir):
    write(mlx_dir, "remotes:\n  x:\n    url: gs://committed\n", "remotes:\n  x:\n    url: memory://x\n")
    settings = resolve_remote(read_config(mlx_dir), "x")
    assert (settings.url, settings.url_is_local_config) == ("memory://x", True)


def test_a_remote_without_a_url_is_an_invalid_file(mlx_dir):
    write(mlx_dir, None, "remotes:\n  origin:\n    region: eu\n")
    with pytest.raises(InvalidFileError) as info:
        list_remotes(read_config(mlx_dir))
    assert str(info.value) == "invalid file '.mlx/config.local.yaml': remote 'origin' has no url"
    assert info.value.hint == "run 'mlx remote modify origin url URL', or 'mlx remote remove origin'"


def test_list_remotes_is_sorted_by_name(mlx_dir):
    write(mlx_dir, "remotes:\n  zeta:\n    url: /z\n  Alpha:\n    url: /a\n", "remotes:\n  beta:\n    url: memory://b\n")
    assert [(r.name, r.defined_in) for r in list_remotes(read_config(mlx_dir))] == [
        ("Alpha", ("config.yaml",)), ("beta", ("config.local.yaml",)), ("zeta", ("config.yaml",)),
    ]  # fmt: skip


# -- edits -----------------------------------------------------------------------------------------


def test_add_remote_writes_the_committed_file_and_the_default(mlx_dir):
    result = add_remote(mlx_dir, "origin", "s3://b/p", local=False, default=True, force=False)

    assert (result.name, result.file, result.replaced, result.default) == ("origin", ".mlx/config.yaml", False, True)
    assert (mlx_dir / "config.yaml").read_text() == "core:\n  remote: origin\nremotes:\n  origin:\n    url: s3://b/p\n"


def test_add_remote_refuses_an_existing_name_unless_forced(mlx_dir):
    write(mlx_dir, "remotes:\n  origin:\n    url: /old\n    region: eu\n")
    with pytest.raises(UsageError) as info:
        add_remote(mlx_dir, "origin", "/new", local=True, default=False, force=False)
    assert (info.value.message, info.value.hint) == (
        "remote 'origin' already exists", "pass --force to replace it, or run 'mlx remote modify origin url URL'"
    )
    result = add_remote(mlx_dir, "origin", "/new", local=False, default=False, force=True)
    assert result.replaced
    assert (mlx_dir / "config.yaml").read_text() == "remotes:\n  origin:\n    url: /new\n"


@pytest.mark.parametrize("name", ["", "-a", ".a", "a b", "a/b", "é", "a" * 65])
def test_add_remote_refuses_an_invalid_name(mlx_dir, name):
    with pytest.raises(UsageError, match=r"^invalid remote name "):
        add_remote(mlx_dir, name, "/x", local=False, default=False, force=False)
    assert not (mlx_dir / "config.yaml").exists()


def test_add_remote_keeps_other_protocols_to_the_local_file(mlx_dir):
    with pytest.raises(UsageError) as info:
        add_remote(mlx_dir, "x", "memory://x", local=False, default=False, force=False)
    assert info.value.hint == "run 'mlx remote add --local x memory://x' to keep it to this machine"
    assert not (mlx_dir / "config.yaml").exists()
    add_remote(mlx_dir, "x", "memory://x", local=True, default=False, force=False)
    assert (mlx_dir / "config.local.yaml").read_text() == "remotes:\n  x:\n    url: memory://x\n"


def test_remove_remote_clears_both_files_the_default_and_its_folder(mlx_dir):
    write(mlx_dir, "core:\n  remote: origin\nremotes:\n  origin:\n    url: /o\n  keep:\n    url: /k\n",
          "remotes:\n  origin:\n    access_key_id: A\n")  # fmt: skip
    (catalog_dir(mlx_dir, "origin") / "index").mkdir(parents=True)
    (catalog_dir(mlx_dir, "origin") / "url").write_text("/o")

    result = remove_remote(mlx_dir, "origin")

    assert (result.files, result.was_default) == ([".mlx/config.yaml", ".mlx/config.local.yaml"], True)
    assert (mlx_dir / "config.yaml").read_text() == "remotes:\n  keep:\n    url: /k\n"
    assert (mlx_dir / "config.local.yaml").read_text() == ""
    assert not catalog_dir(mlx_dir, "origin").exists()
    assert remove_remote(mlx_dir, "keep").files == [".mlx/config.yaml"]  # no folder: nothing to delete


def test_remove_an_unknown_remote_names_the_known_ones(mlx_dir):
    write(mlx_dir, "remotes:\n  origin:\n    url: /o\n")
    with pytest.raises(UsageError) as info:
        remove_remote(mlx_dir, "orign")
    assert (info.value.message, info.value.hint) == ("no such remote 'orign'", "known remotes: origin")


def test_rename_remote_renames_everywhere_in_place(mlx_dir):
    write(mlx_dir, "remotes:\n  a:\n    url: /a\n  origin:\n    url: /o\n  z:\n    url: /z\n",
          "core:\n  remote: origin\nremotes:\n  origin:\n    profile: p\n")  # fmt: skip
    catalog_dir(mlx_dir, "origin").mkdir(parents=True)
    (catalog_dir(mlx_dir, "origin") / "url").write_text("/o")

    rename_remote(mlx_dir, "origin", "main")

    assert (mlx_dir / "config.yaml").read_text() == "remotes:\n  a:\n    url: /a\n  main:\n    url: /o\n  z:\n    url: /z\n"
    assert (mlx_dir / "config.local.yaml").read_text() == "core:\n  remote: main\nremotes:\n  main:\n    profile: p\n"
    assert not catalog_dir(mlx_dir, "origin").exists()
    assert (catalog_dir(mlx_dir, "main") / "url").read_text() == "/o"


def test_rename_remote_replaces_a_stale_folder_of_the_new_name(mlx_dir):
    write(mlx_dir, "remotes:\n  a:\n    url: /a\n")
    catalog_dir(mlx_dir, "a").mkdir(parents=True)
    (catalog_dir(mlx_dir, "a") / "url").write_text("/a")
    catalog_dir(mlx_dir, "b").mkdir()
    (catalog_dir(mlx_dir, "b") / "url").write_text("/left-behind")

    rename_remote(mlx_dir, "a", "b")

    assert sorted(path.name for path in (mlx_dir / "remotes").iterdir()) == ["b"]
    assert (catalog_dir(mlx_dir, "b") / "url").read_text() == "/a"


def test_rename_remote_refuses_an_existing_or_invalid_new_name(mlx_dir):
    write(mlx_dir, "remotes:\n  a:\n    url: /a\n  b:\n    url: /b\n")
    with pytest.raises(UsageError) as info:
        rename_remote(mlx_dir, "a", "b")
    assert (info.value.message, info.value.hint) == ("remote 'b' already exists", "run 'mlx remote remove b' first")
    with pytest.raises(UsageError, match="^invalid remote name 'b c'$"):
        rename_remote(mlx_dir, "a", "b c")
    assert (mlx_dir / "config.yaml").read_text() == "remotes:\n  a:\n    url: /a\n  b:\n    url: /b\n"


def test_modify_remote_sets_typed_values_and_unsets(mlx_dir):
    write(mlx_dir, "remotes:\n  origin:\n    url: s3://b\n")
    modify_remote(mlx_dir, "origin", "jobs", "12", local=False)
    modify_remote(mlx_dir, "origin", "region", "eu-west-1", local=False)
    modify_remote(mlx_dir, "origin", "secret_access_key", "s", local=True)
    assert (mlx_dir / "config.yaml").read_text() == "remotes:\n  origin:\n    url: s3://b\n    jobs: 12\n    region: eu-west-1\n"

    modify_remote(mlx_dir, "origin", "jobs", None, local=False, unset=True)
    modify_remote(mlx_dir, "origin", "secret_access_key", None, local=True, unset=True)

    assert (mlx_dir / "config.yaml").read_text() == "remotes:\n  origin:\n    url: s3://b\n    region: eu-west-1\n"
    assert (mlx_dir / "config.local.yaml").read_text() == ""


def test_modify_remote_refusals(mlx_dir):
    write(mlx_dir, "remotes:\n  origin:\n    url: s3://b\n")
    cases = [
        (("ghost", "region", "x", False), "no such remote 'ghost'", "known remotes: origin"),
        (("origin", "regoin", "x", False), "unknown remote option 'regoin'", "did you mean 'region'?"),
        (("origin", "zzz", "x", False), "unknown remote option 'zzz'",
         "known options: url, endpoint_url, region, profile, jobs, timeout, access_key_id, secret_access_key, session_token"),
        (("origin", "access_key_id", "A", False), "'access_key_id' is a credential: it may only be set in .mlx/config.local.yaml",
         "run 'mlx remote modify --local origin access_key_id ...'"),
        (("origin", "url", "gs://x", False),
         "the protocol 'gs' is accepted only in .mlx/config.local.yaml: a committed remote may use a path, file:// or s3://",
         "run 'mlx remote modify --local origin url gs://x' to keep it to this machine"),
        (("origin", "jobs", "lots", False), "'remotes.origin.jobs' takes a whole number, not 'lots'", None),
        (("origin", "region", None, False), "'mlx remote modify origin region' needs a value, or --unset", None),
    ]  # fmt: skip
    for (name, key, value, local), message, hint in cases:
        with pytest.raises(UsageError) as info:
            modify_remote(mlx_dir, name, key, value, local=local)
        assert (info.value.message, info.value.hint) == (message, hint)
    assert (mlx_dir / "config.yaml").read_text() == "remotes:\n  origin:\n    url: s3://b\n"


def test_modify_remote_refuses_to_unset_the_only_url(mlx_dir):
    write(mlx_dir, "remotes:\n  origin:\n    url: s3://b\n    region: eu\n")
    with pytest.raises(UsageError) as info:
        modify_remote(mlx_dir, "origin", "url", None, local=False, unset=True)
    assert (info.value.message, info.value.hint) == (
        "remote 'origin' needs a url", "run 'mlx remote remove origin' to remove the remote"
    )
    write(mlx_dir, None, "remotes:\n  origin:\n    url: /local\n")
    modify_remote(mlx_dir, "origin", "url", None, local=False, unset=True)  # the local url remains
    assert resolve_remote(read_config(mlx_dir), "origin").url == "/local"


def test_set_default_names_an_existing_remote(mlx_dir):
    write(mlx_dir, "remotes:\n  a:\n    url: /a\n")
    with pytest.raises(UsageError, match="^no such remote 'b'$"):
        set_default(mlx_dir, "b", local=False)
    set_default(mlx_dir, "a", local=True)
    assert (mlx_dir / "config.local.yaml").read_text() == "core:\n  remote: a\n"
    assert resolve_remote(read_config(mlx_dir), None).name == "a"


@settings(deadline=None, max_examples=60)
@given(name=st.from_regex(REMOTE_NAME, fullmatch=True), url=st.sampled_from(["/srv/r", "s3://b/p", "file:///x"]))
def test_any_valid_name_survives_the_round_trip_through_yaml(name, url):
    with tempfile.TemporaryDirectory() as top:
        mlx_dir = Path(top) / ".mlx"
        os.mkdir(mlx_dir)
        add_remote(mlx_dir, name, url, local=False, default=True, force=False)
        config = read_config(mlx_dir)
        assert config.get(f"remotes.{name}.url") == url
        assert [remote.name for remote in list_remotes(config)] == [name]
        assert resolve_remote(config, None).name == name
        new = name[:-1] + ("b" if name.endswith("a") else "a")
        rename_remote(mlx_dir, name, new)
        assert resolve_remote(read_config(mlx_dir), None).name == new
