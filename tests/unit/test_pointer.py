"""Pointer files: what `mlx add` writes reads back the same, and anything hostile is refused at parse."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from mlxkit.errors import InvalidFileError, UnsafePathError, UnsupportedFormatError
from mlxkit.formats.schema import validate
from mlxkit.formats.yamlio import load_yaml
from mlxkit.fs.confine import RepoPath
from mlxkit.store.digest import Digest
from mlxkit.tracking.pointer import (
    MAX_POINTER_BYTES,
    Pointer,
    _has_pointer_shape,
    find_pointer_files,
    parse_pointer,
    pointer_file_for,
    read_pointer,
    target_of,
    write_pointer,
)

HEX = "0123456789abcdef" * 4
HASH = f"blake3:{HEX}"
RAW = RepoPath.parse("data/raw.mlx")


def parse(text: str | bytes, pointer_file: RepoPath = RAW) -> Pointer:
    data = text.encode() if isinstance(text, str) else text
    return parse_pointer(load_yaml(data, pointer_file.posix), pointer_file)


def test_pointer_to_yaml_is_the_documented_text():
    pointer = Pointer(RepoPath.parse("data/raw"), Digest.parse(HASH), 1234, files=10)
    assert pointer.to_yaml() == f"format: 1\npath: raw\nhash: {HASH}\nsize: 1234\nfiles: 10\n"
    assert pointer.file == RAW
    assert pointer.is_dir


def test_pointer_of_an_executable_file_has_x_and_no_files():
    pointer = Pointer(RepoPath.parse("run.sh"), Digest.parse(HASH), 5, executable=True)
    assert pointer.to_yaml() == f"format: 1\npath: run.sh\nhash: {HASH}\nsize: 5\nx: true\n"
    assert not pointer.is_dir


_NAME = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="/\\\x00"), min_size=1, max_size=12
).filter(lambda name: name not in (".", "..") and not name.startswith("~"))


@settings(deadline=None)  # timings are not what these properties check
@given(
    parent=st.sampled_from(["", "data/", "a/b/"]),
    name=_NAME,
    data=st.binary(max_size=8),
    size=st.integers(min_value=0, max_value=2**63),
    files=st.none() | st.integers(min_value=0, max_value=10**9),
    executable=st.booleans(),
)
def test_pointer_round_trips_through_yaml(parent, name, data, size, files, executable):
    from mlxkit.fs.confine import unsafe_reason

    assume(unsafe_reason(parent + name) is None)
    pointer = Pointer(RepoPath.parse(parent + name), Digest.parse(f"blake3:{HEX}"), size, files, executable)
    assert parse(pointer.to_yaml(), pointer.file) == pointer


def test_write_pointer_then_read_pointer_gives_the_same_pointer(tmp_path):
    (tmp_path / "data").mkdir()
    pointer = Pointer(RepoPath.parse("data/raw"), Digest.parse(HASH), 7, files=2)
    write_pointer(tmp_path, pointer)
    assert (tmp_path / "data" / "raw.mlx").read_text() == pointer.to_yaml()
    assert read_pointer(tmp_path, RAW) == pointer


@pytest.mark.parametrize(
    ("pointer_file", "path", "why"),
    [
        ("data/raw.mlx", "a/raw", "a pointer names a file in its own directory"),
        ("data/raw.mlx", "/etc/passwd", "the path is absolute"),
        ("data/raw.mlx", "../raw", "the path has a '..' component"),
        ("data/raw.mlx", "..", "the path has a '..' component"),
        ("data/raw.mlx", ".git", "the path has the reserved name '.git'"),
        ("data/raw.mlx", ".GIT.", "the path has the reserved name '.GIT.'"),
        ("data/raw.mlx", ".mlx", "the path has the reserved name '.mlx'"),
        ("data/raw.mlx", "a\\\\b", "the path contains a backslash"),
        ("data/raw.mlx", "", "the path has an empty or '.' component"),
        ("raw.mlx", "..", "the path has a '..' component"),
        ("raw.mlx", "~", "the path starts with '~'"),
        ("raw.mlx", "C:raw", "the path is absolute"),
        ("raw.mlx", "", "the path is empty"),
    ],
)
def test_parse_pointer_refuses_unsafe_path_naming_file_and_line(pointer_file, path, why):
    with pytest.raises(UnsafePathError) as info:
        parse(f'format: 1\nhash: {HASH}\npath: "{path}"\nsize: 1\n', RepoPath.parse(pointer_file))
    assert info.value.message == f"unsafe path in '{pointer_file}:3': {why}"


@pytest.mark.parametrize("name", ["~backup", "c:x", "C:", "a~1"])
def test_parse_pointer_accepts_names_that_are_only_unsafe_at_the_top(name):
    target = RepoPath.parse(f"data/{name}")
    pointer = Pointer(target, Digest.parse(HASH), 3)
    assert parse(pointer.to_yaml(), pointer.file) == pointer


def test_parse_pointer_refuses_a_path_that_is_not_the_pointers_own_name():
    with pytest.raises(InvalidFileError) as info:
        parse(f"format: 1\npath: other\nhash: {HASH}\nsize: 1\n")
    assert str(info.value) == "invalid file 'data/raw.mlx:2': 'path' is 'other' but the pointer file is named 'raw.mlx'"
    assert info.value.hint == "rename the pointer to 'other.mlx', or use 'mlx move'"


@pytest.mark.parametrize("value", [f"blake3:{HEX.upper()}", "blake3:../../x", f"md5:{HEX[:32]}", f"blake3:{HEX[:-1]}"])
def test_parse_pointer_refuses_bad_hash_naming_its_line(value):
    with pytest.raises(InvalidFileError) as info:
        parse(f"format: 1\npath: raw\nsize: 1\nhash: '{value}'\n")
    assert info.value.line == 4
    assert info.value.problem == f"'{value}' is not a hash of the form 'blake3:<64 lowercase hex digits>'"


def test_parse_pointer_refuses_a_non_string_hash_with_the_schema_message():
    with pytest.raises(InvalidFileError) as info:
        parse("format: 1\npath: raw\nsize: 1\nhash: 12\n")
    assert str(info.value) == "invalid file 'data/raw.mlx:4': at 'hash': 12 is not of type 'string'"


@pytest.mark.parametrize(
    ("text", "line", "problem"),
    [
        ("format: 1\npath: raw\nsize: 1\n", 1, "at 'the top level': 'hash' is required"),
        (f"format: 1\nhash: {HASH}\nsize: 1\n", 1, "at 'the top level': 'path' is required"),
        (f"path: raw\nhash: {HASH}\nsize: 1\n", 1, "at 'the top level': 'format' is required"),
        (f"format: 1\npath: raw\nhash: {HASH}\n", 1, "at 'the top level': 'size' is required"),
    ],
)
def test_parse_pointer_refuses_missing_keys_with_the_schema_message(text, line, problem):
    with pytest.raises(InvalidFileError) as info:
        parse(text)
    assert (info.value.line, info.value.problem) == (line, problem)


def test_parse_pointer_refuses_unknown_keys_naming_their_line():
    with pytest.raises(InvalidFileError) as info:
        parse(f"format: 1\npath: raw\nhash: {HASH}\nsize: 1\nfile: 3\n")
    assert str(info.value) == "invalid file 'data/raw.mlx:5': at 'the top level': unknown key 'file'"
    assert info.value.hint == "did you mean 'files'?"


@pytest.mark.parametrize("fmt", [2, 17])
def test_parse_pointer_refuses_newer_format_as_unsupported(fmt):
    with pytest.raises(UnsupportedFormatError) as info:
        parse(f"format: {fmt}\npath: raw\nhash: {HASH}\nsize: 1\nnew_field: x\n")
    assert info.value.message == f"'data/raw.mlx' uses pointer format {fmt}, this mlx reads 1"
    assert info.value.hint == "upgrade mlx"


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("size: true", "at 'size': True is not of type 'integer'"),
        ("size: -1", "at 'size': -1 is less than the minimum of 0"),
        ("size: 1.5", "at 'size': 1.5 is not of type 'integer'"),
        ("size: '1'", "at 'size': '1' is not of type 'integer'"),
    ],
)
def test_parse_pointer_refuses_sizes_that_are_not_natural_numbers(line, problem):
    with pytest.raises(InvalidFileError) as info:
        parse(f"format: 1\npath: raw\nhash: {HASH}\n{line}\n")
    assert (info.value.line, info.value.problem) == (4, problem)


@pytest.mark.parametrize(
    "extra", ["files: true", "files: -1", "x: false", "x: 1", "format: 0", "format: true"]
)
def test_parse_pointer_refuses_other_wrong_values(extra):
    key = extra.split(":")[0]
    base = {"format": "1", "path": "raw", "hash": HASH, "size": "1"}
    base[key] = extra.split(": ")[1]
    text = "".join(f"{k}: {v}\n" for k, v in base.items())
    with pytest.raises(InvalidFileError, match=f"at '{key}': "):
        parse(text)


@pytest.mark.parametrize("text", ["", "just a string\n", "- a\n- b\n", "null\n"])
def test_parse_pointer_refuses_documents_that_are_not_mappings(text):
    with pytest.raises(InvalidFileError):
        parse(text)


def test_read_pointer_refuses_a_missing_file(tmp_path):
    with pytest.raises(InvalidFileError, match="^invalid file 'data/raw.mlx': no such pointer file$"):
        read_pointer(tmp_path, RAW)


def test_read_pointer_refuses_a_file_over_the_size_cap(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "raw.mlx").write_bytes(b"#" * (MAX_POINTER_BYTES + 1))
    with pytest.raises(InvalidFileError, match="larger than 64 KiB: not a pointer file"):
        read_pointer(tmp_path, RAW)


def test_read_pointer_refuses_a_pointer_that_is_a_symlink(tmp_path):
    outside = tmp_path / "outside.mlx"
    outside.write_text(f"format: 1\npath: raw\nhash: {HASH}\nsize: 1\n")
    root = tmp_path / "repo"
    (root / "data").mkdir(parents=True)
    (root / "data" / "raw.mlx").symlink_to(outside)
    with pytest.raises(UnsafePathError, match="'data/raw.mlx' is a symbolic link"):
        read_pointer(root, RAW)


def test_write_pointer_refuses_to_write_through_a_symlinked_directory(tmp_path):
    root = tmp_path / "repo"
    root.mkdir()
    (tmp_path / "outside").mkdir()
    (root / "data").symlink_to(tmp_path / "outside")
    with pytest.raises(UnsafePathError, match="'data' is a symbolic link"):
        write_pointer(root, Pointer(RepoPath.parse("data/raw"), Digest.parse(HASH), 1))
    assert os.listdir(tmp_path / "outside") == []


def test_target_of_and_pointer_file_for_are_inverse():
    assert target_of(RAW) == RepoPath.parse("data/raw")
    assert pointer_file_for(RepoPath.parse("data/raw")) == RAW
    for bad in ("data/raw.txt", "data/.mlx", ".mlx"):
        with pytest.raises(UnsafePathError):
            target_of(RepoPath(bad))


def test_find_pointer_files_skips_tracked_dirs_git_mlx_and_nested_repositories(tmp_path: Path):
    for path in ["a.mlx", "data/raw.mlx", "data/raw/inner.mlx", ".git/x.mlx", ".mlx/y.mlx", "sub/nested/z.mlx",
                 "deep/d/e.mlx", "data/.mlx"]:
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text("")
    (tmp_path / "sub" / "nested" / ".mlx").mkdir()
    (tmp_path / "link.mlx").symlink_to(tmp_path / "a.mlx")
    found = sorted(p.posix for p in find_pointer_files(tmp_path))
    assert found == ["a.mlx", "data/raw.mlx", "deep/d/e.mlx"]


@settings(deadline=None)  # timings are not what these properties check
@given(st.binary(max_size=200))
@example(f"format: 1\npath: raw\nhash: {HASH}\nsize: 1\n".encode())
@example(b"format: 1\npath: [a]\nhash: {}\nsize: 1\n")
@example(b"format: 99999999999999999999\n")
@example(b"format: .inf\n")
@example(b"format: 1\npath: \xc3\xa9\nhash: x\nsize: 1\n")
def test_pointer_reader_of_arbitrary_bytes_raises_only_documented_errors(data):
    try:
        parse(data)
    except (InvalidFileError, UnsafePathError, UnsupportedFormatError):
        pass


_VALUES = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-3, max_value=3)
    | st.floats(allow_nan=False)
    | st.sampled_from(["", "raw", "a/b", "a\\b", "a\x00", "..", ".git", HASH, HASH.upper(), HASH + "\n", "blake3:"])
    | st.text(max_size=4)
    | st.lists(st.integers(), max_size=2)
)
_KEYS = st.sampled_from(["format", "path", "hash", "size", "files", "x", "extra"])
_PLAUSIBLE = st.fixed_dictionaries(
    {"format": st.just(1) | _VALUES, "path": st.just("raw") | _VALUES, "hash": st.just(HASH) | _VALUES,
     "size": st.integers(min_value=0) | _VALUES},
    optional={"files": st.integers(min_value=0) | _VALUES, "x": st.just(True) | _VALUES, "extra": _VALUES},
) | st.dictionaries(_KEYS, _VALUES, max_size=7)


@settings(deadline=None)  # timings are not what these properties check
@given(_PLAUSIBLE)
@example({"format": 1, "path": "a/b", "hash": HASH, "size": 1})
@example({"format": 1, "path": "raw", "hash": "nope", "size": 1})
@example({"format": 1, "path": "raw", "hash": HASH, "size": 1, "files": 2, "x": True})
def test_the_fast_shape_check_and_the_schema_agree(data):
    try:
        validate(data, "pointer-1")
    except InvalidFileError:
        assert not _has_pointer_shape(data)
    else:
        assert _has_pointer_shape(data)


@settings(deadline=None)  # timings are not what these properties check
@given(_PLAUSIBLE)
def test_parse_pointer_of_plausible_documents_raises_only_documented_errors(data):
    from mlxkit.formats.yamlio import dump_yaml

    try:
        pointer = parse(dump_yaml(data))
    except (InvalidFileError, UnsafePathError, UnsupportedFormatError):
        return
    validate(data, "pointer-1")
    assert pointer.target == RepoPath.parse("data/raw")
