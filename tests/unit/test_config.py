"""Configuration: validated layers, and a committed file can never move the cache."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlxkit.errors import InvalidFileError, UsageError
from mlxkit.repo.config import (
    DEFAULTS,
    check_key,
    known_keys,
    parse_value,
    read_config,
    set_value,
)
from tests.unit.mutations import mutations


@pytest.fixture
def mlx_dir(tmp_path: Path) -> Path:
    path = tmp_path / ".mlx"
    path.mkdir()
    return path


def test_read_config_of_missing_or_empty_files_gives_the_defaults(mlx_dir):
    config = read_config(mlx_dir)
    assert config.items() == []
    assert config.get("cache.type") == ["reflink", "copy"]
    assert config.link_types == ("reflink", "copy")
    assert config.get("core.fsync") == "batch"
    assert config.get("core.jobs") is None
    (mlx_dir / "config.yaml").write_text("")
    (mlx_dir / "config.local.yaml").write_text("# nothing\n")
    assert read_config(mlx_dir).items() == []


def test_local_config_overrides_the_committed_one(mlx_dir):
    (mlx_dir / "config.yaml").write_text("core:\n  jobs: 4\n  fsync: always\n")
    (mlx_dir / "config.local.yaml").write_text("core:\n  jobs: 8\ncache:\n  dir: /srv/mlx-cache\n")
    config = read_config(mlx_dir)
    assert config.get("core.jobs") == 8
    assert config.get("core.fsync") == "always"
    assert config.get("cache.dir") == "/srv/mlx-cache"
    assert config.items() == [
        ("core.jobs", 4, "config.yaml"),
        ("core.fsync", "always", "config.yaml"),
        ("core.jobs", 8, "config.local.yaml"),
        ("cache.dir", "/srv/mlx-cache", "config.local.yaml"),
    ]


def test_cache_dir_in_the_committed_config_is_refused_with_its_line(mlx_dir):
    (mlx_dir / "config.yaml").write_text("core:\n  jobs: 2\ncache:\n  type: [copy]\n  dir: /tmp/elsewhere\n")
    with pytest.raises(InvalidFileError) as info:
        read_config(mlx_dir)
    assert str(info.value) == (
        "invalid file '.mlx/config.yaml:5': 'cache.dir' may only be set in .mlx/config.local.yaml: "
        "a committed file must not move the cache"
    )
    assert info.value.hint == "run 'mlx config --local cache.dir PATH' instead"


def test_relative_cache_dir_in_the_local_config_is_refused_with_its_line(mlx_dir):
    (mlx_dir / "config.local.yaml").write_text("cache:\n  dir: ../cache\n")
    with pytest.raises(InvalidFileError) as info:
        read_config(mlx_dir)
    assert str(info.value) == "invalid file '.mlx/config.local.yaml:2': 'cache.dir' must be an absolute path"


def test_unknown_key_in_config_is_refused_with_line_and_hint(mlx_dir):
    (mlx_dir / "config.yaml").write_text("core:\n  jobs: 2\n  fsnyc: never\n")
    with pytest.raises(InvalidFileError) as info:
        read_config(mlx_dir)
    assert str(info.value) == "invalid file '.mlx/config.yaml:3': at 'core': unknown key 'fsnyc'"
    assert info.value.hint == "did you mean 'fsync'?"


def test_unknown_section_in_config_is_refused_with_line_and_hint(mlx_dir):
    (mlx_dir / "config.local.yaml").write_text("core:\n  jobs: 2\nremots:\n  origin:\n    url: s3://x\n")
    with pytest.raises(InvalidFileError) as info:
        read_config(mlx_dir)
    assert info.value.line == 3
    assert info.value.problem == "at 'the top level': unknown key 'remots'"
    assert info.value.hint == "did you mean 'remotes'?"


def test_invalid_value_in_config_names_its_line(mlx_dir):
    (mlx_dir / "config.yaml").write_text("cache:\n  type: [copy, teleport]\n")
    with pytest.raises(InvalidFileError) as info:
        read_config(mlx_dir)
    assert info.value.line == 2
    assert info.value.problem == "at 'cache.type.1': 'teleport' is not one of 'reflink', 'hardlink', 'symlink', 'copy'"


def test_unsafe_yaml_in_config_is_refused(mlx_dir):
    (mlx_dir / "config.yaml").write_text("core: &c {jobs: 2}\ncache: *c\n")
    with pytest.raises(InvalidFileError, match="^invalid file '.mlx/config.yaml:1': anchors"):
        read_config(mlx_dir)


@pytest.mark.parametrize(
    ("key", "text", "value"),
    [
        ("cache.type", "hardlink,copy", ["hardlink", "copy"]),
        ("cache.type", " reflink , copy ,", ["reflink", "copy"]),
        ("cache.type", "copy", ["copy"]),
        ("core.jobs", "4", 4),
        ("core.jobs", "-1", -1),
        ("core.fsync", "never", "never"),
        ("cache.dir", "/srv/cache", "/srv/cache"),
    ],
)
def test_parse_value_gives_the_type_the_schema_expects(key, text, value):
    assert parse_value(key, text) == value


def test_parse_value_refuses_a_non_integer_for_an_integer_key():
    with pytest.raises(UsageError, match="^'core.jobs' takes a whole number, not 'four'$"):
        parse_value("core.jobs", "four")


def test_known_keys_come_from_the_schema():
    assert sorted(known_keys()) == [
        "cache.dir", "cache.type", "core.fsync", "core.jobs", "core.remote", "remote.jobs", "remote.pack_size",
        "remote.pack_threshold", "remote.timeout",
    ]  # fmt: skip
    assert set(DEFAULTS) == set(known_keys())


def test_check_key_refuses_an_unknown_key_with_a_hint():
    with pytest.raises(UsageError) as info:
        check_key("cache.tpye")
    assert info.value.message == "unknown config key 'cache.tpye'"
    assert info.value.hint == "did you mean 'cache.type'?"
    with pytest.raises(UsageError) as info:
        check_key("zzz")
    assert info.value.hint == (
        "known keys: cache.dir, cache.type, core.fsync, core.jobs, core.remote, remote.jobs, remote.pack_size, "
        "remote.pack_threshold, remote.timeout, remotes.NAME.OPTION (OPTION: url, endpoint_url, region, profile, jobs, "
        "timeout, access_key_id, secret_access_key, session_token)"
    )


def test_set_value_then_unset_round_trips(mlx_dir):
    set_value(mlx_dir, "core.jobs", 4, local=False)
    set_value(mlx_dir, "cache.type", ["hardlink", "copy"], local=False)
    assert (mlx_dir / "config.yaml").read_text() == "core:\n  jobs: 4\ncache:\n  type: [hardlink, copy]\n"
    config = read_config(mlx_dir)
    assert config.get("core.jobs") == 4
    assert config.link_types == ("hardlink", "copy")

    set_value(mlx_dir, "core.jobs", None, local=False)
    assert (mlx_dir / "config.yaml").read_text() == "cache:\n  type: [hardlink, copy]\n"
    set_value(mlx_dir, "cache.type", None, local=False)
    assert (mlx_dir / "config.yaml").read_bytes() == b""
    assert read_config(mlx_dir).get("cache.type") == ["reflink", "copy"]


def test_set_value_keeps_the_other_keys(mlx_dir):
    (mlx_dir / "config.yaml").write_text("core:\n  fsync: never\n")
    set_value(mlx_dir, "core.jobs", 2, local=False)
    assert read_config(mlx_dir).items() == [("core.fsync", "never", "config.yaml"), ("core.jobs", 2, "config.yaml")]


def test_set_value_of_cache_dir_goes_only_to_the_local_file(mlx_dir):
    with pytest.raises(UsageError, match=r"^'cache.dir' may only be set in .mlx/config.local.yaml$"):
        set_value(mlx_dir, "cache.dir", "/srv/cache", local=False)
    assert not (mlx_dir / "config.yaml").exists()
    set_value(mlx_dir, "cache.dir", "/srv/cache", local=True)
    assert (mlx_dir / "config.local.yaml").read_text() == "cache:\n  dir: /srv/cache\n"
    assert read_config(mlx_dir).get("cache.dir") == "/srv/cache"


def test_set_value_refuses_a_relative_cache_dir(mlx_dir):
    with pytest.raises(UsageError, match="^'cache.dir' must be an absolute path$"):
        set_value(mlx_dir, "cache.dir", "cache", local=True)
    assert not (mlx_dir / "config.local.yaml").exists()


def test_set_value_refuses_an_invalid_value_and_writes_nothing(mlx_dir):
    (mlx_dir / "config.yaml").write_text("core:\n  jobs: 2\n")
    with pytest.raises(UsageError) as info:
        set_value(mlx_dir, "core.jobs", 0, local=False)
    assert info.value.message == "invalid value for 'core.jobs': 0 is less than the minimum of 1"
    with pytest.raises(UsageError):
        set_value(mlx_dir, "cache.type", ["copy", "copy"], local=False)
    assert (mlx_dir / "config.yaml").read_text() == "core:\n  jobs: 2\n"


def test_set_value_refuses_an_unknown_key(mlx_dir):
    with pytest.raises(UsageError, match="unknown config key 'core.job'"):
        set_value(mlx_dir, "core.job", 2, local=False)
    assert not (mlx_dir / "config.yaml").exists()


# -- the quick schema check against jsonschema ---------------------------------------------------

_FULL = {
    "core": {"fsync": "batch", "jobs": 4, "remote": "origin"},
    "cache": {"type": ["reflink", "copy"], "dir": "/tmp/cache"},
    "remote": {"pack_threshold": 1048576, "pack_size": 67108864, "jobs": None},
    "remotes": {"origin": {"url": "s3://b/p", "endpoint_url": "http://127.0.0.1:9000", "region": "eu", "jobs": 8}},
}
_VALUES = (
    st.none() | st.booleans() | st.integers(-1, 300) | st.floats(0, 2) | st.sampled_from(["", "x", "copy", "batch", "-o", "a.b"])
    | st.lists(st.sampled_from(["copy", "copy", "hardlink", "x"]), max_size=3)
    | st.dictionaries(st.sampled_from(["url", "jobs", "type", "origin", "-x", "extra"]), st.sampled_from(["s3://b", 3, None]), max_size=2)
)


@settings(deadline=None, max_examples=400)
@given(doc=mutations(_FULL, _VALUES))
def test_the_quick_config_check_is_never_looser_than_jsonschema(doc):
    """`conforms` lets the reader skip jsonschema's import; what it passes must be valid, and the
    usual documents (everything but the odd cases it leaves to jsonschema) must pass it."""
    import jsonschema

    from mlxkit.formats.schema import conforms, load_schema

    valid = jsonschema.Draft202012Validator(load_schema("config-1")).is_valid(doc)
    quick = conforms(doc, "config-1")
    assert not quick or valid
    odd = any(type(v) is float or (isinstance(v, list) and len(set(map(repr, v))) < len(v)) for v in _leaves_of(doc))
    assert quick == valid or odd


def _leaves_of(data):
    if isinstance(data, dict):
        for value in data.values():
            yield from _leaves_of(value)
    yield data


def test_reading_a_valid_config_imports_no_jsonschema(tmp_path):
    import subprocess
    import sys

    mlx_dir = tmp_path / ".mlx"
    mlx_dir.mkdir()
    (mlx_dir / "config.yaml").write_text(
        "core:\n  remote: origin\ncache:\n  type: [copy]\nremotes:\n  origin:\n    url: s3://b/p\n    endpoint_url: http://127.0.0.1:9\n"
    )
    code = (
        "import sys; from pathlib import Path; from mlxkit.repo.config import read_config; "
        "read_config(Path(sys.argv[1])); print('jsonschema' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code, str(mlx_dir)], capture_output=True, text=True, check=True)
    assert done.stdout == "False\n"
