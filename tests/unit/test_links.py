"""links.place: a workspace file appears whole, by the first link type that works, never through a link."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from mlxkit.errors import MlxError
from mlxkit.fs.links import LINK_TYPES, copies, place, supported_link_types

CONTENT = b"cached object bytes\n"


@pytest.fixture
def source(tmp_path: Path) -> Path:
    cache = tmp_path / "cache"
    cache.mkdir()
    path = cache / "object"
    path.write_bytes(CONTENT)
    os.chmod(path, 0o444)
    return path


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    path = tmp_path / "work"
    path.mkdir()
    return path


def names(directory: Path) -> list[str]:
    return sorted(os.listdir(directory))


@pytest.mark.parametrize("mode", [0o644, 0o755, 0o600])
def test_place_copy_gives_an_independent_file_with_the_given_mode(source, workspace, mode):
    destination = workspace / "a.csv"
    assert place(source, destination, ("copy",), mode=mode) == "copy"
    assert destination.read_bytes() == CONTENT
    assert stat.S_IMODE(destination.stat().st_mode) == mode
    assert destination.stat().st_ino != source.stat().st_ino
    assert destination.stat().st_nlink == 1
    os.chmod(destination, 0o644)
    destination.write_bytes(b"edited")
    assert source.read_bytes() == CONTENT
    assert names(workspace) == ["a.csv"]


def test_place_hardlink_shares_the_inode_and_the_objects_mode(source, workspace):
    destination = workspace / "a.csv"
    assert place(source, destination, ("hardlink",), mode=0o644) == "hardlink"
    assert destination.stat().st_ino == source.stat().st_ino
    assert source.stat().st_nlink == 2
    assert stat.S_IMODE(destination.stat().st_mode) == 0o444
    assert names(workspace) == ["a.csv"]


def test_place_symlink_points_at_the_source(source, workspace):
    destination = workspace / "a.csv"
    assert place(source, destination, ("symlink",), mode=0o644) == "symlink"
    assert destination.is_symlink()
    assert os.readlink(destination) == str(source)
    assert destination.read_bytes() == CONTENT
    assert stat.S_IMODE(source.stat().st_mode) == 0o444
    assert names(workspace) == ["a.csv"]


def test_place_reflink_or_copy_falls_back_to_copy_on_ext4(source, workspace):
    # The test machine's ext4 has no reflink: the first type fails and the second one is used.
    supported = supported_link_types(workspace)
    if "reflink" in supported:
        pytest.skip("this file system supports reflinks")
    destination = workspace / "a.csv"
    assert place(source, destination, ("reflink", "copy"), mode=0o644) == "copy"
    assert destination.read_bytes() == CONTENT
    assert stat.S_IMODE(destination.stat().st_mode) == 0o644
    assert names(workspace) == ["a.csv"]


def test_place_copy_from_an_opened_source_reads_it_from_its_start_and_leaves_it_open(source, workspace):
    fd = os.open(source, os.O_RDONLY)
    try:
        os.read(fd, 100)  # at its end: each copy must start again from the first byte
        for name in ("a.csv", "b.csv"):
            assert place(source, workspace / name, ("copy",), mode=0o644, opened=fd) == "copy"
            assert (workspace / name).read_bytes() == CONTENT
        assert os.fstat(fd).st_ino == source.stat().st_ino  # still open: the caller closes it
    finally:
        os.close(fd)


def test_copies_says_whether_place_will_copy(source, workspace):
    directory = str(workspace)
    assert copies(("copy",), directory)
    assert not copies(("hardlink", "copy"), directory)
    assert not copies(("symlink",), directory)
    kind = place(source, workspace / "a.csv", ("reflink", "copy"), mode=0o644)  # the first try finds out
    assert copies(("reflink", "copy"), directory) == (kind == "copy")


def test_place_with_no_working_link_type_raises_and_leaves_nothing(source, workspace):
    if "reflink" in supported_link_types(workspace):
        pytest.skip("this file system supports reflinks")
    destination = workspace / "a.csv"
    destination.write_bytes(b"old")
    with pytest.raises(MlxError, match="no link type of cache.type reflink works for") as raised:
        place(source, destination, ("reflink",), mode=0o644)
    assert raised.value.hint == "add 'copy', which works everywhere: mlx config cache.type reflink,copy"
    assert destination.read_bytes() == b"old"
    assert names(workspace) == ["a.csv"]


def test_supported_link_types_on_this_machine_includes_copy_hardlink_symlink(workspace):
    supported = supported_link_types(workspace)
    assert {"copy", "hardlink", "symlink"} <= set(supported)
    assert set(supported) <= set(LINK_TYPES)
    assert names(workspace) == []


@pytest.mark.parametrize("kind", ["copy", "hardlink", "symlink"])
def test_place_replaces_a_symlink_at_the_destination_never_following_it(source, workspace, tmp_path, kind):
    victim = tmp_path / "outside.txt"
    victim.write_bytes(b"must not change")
    destination = workspace / "a.csv"
    destination.symlink_to(victim)
    place(source, destination, (kind,), mode=0o644)
    assert victim.read_bytes() == b"must not change"
    assert destination.read_bytes() == CONTENT
    if kind == "symlink":
        assert os.readlink(destination) == str(source)
    else:
        assert not destination.is_symlink()
    assert names(workspace) == ["a.csv"]


@pytest.mark.parametrize("kind", ["copy", "hardlink", "symlink"])
def test_place_replaces_an_existing_file_whole(source, workspace, kind):
    destination = workspace / "a.csv"
    destination.write_bytes(b"previous content, longer than the new one" * 10)
    old_inode = destination.stat().st_ino
    place(source, destination, (kind,), mode=0o644)
    assert destination.read_bytes() == CONTENT
    assert os.lstat(destination).st_ino != old_inode
    assert names(workspace) == ["a.csv"]


def test_place_copy_refuses_a_source_that_is_a_symlink(tmp_path, workspace):
    (tmp_path / "real").write_bytes(b"x")
    (tmp_path / "link").symlink_to(tmp_path / "real")
    with pytest.raises(OSError):
        place(tmp_path / "link", workspace / "a", ("copy",), mode=0o644)
    assert names(workspace) == []


def test_place_copy_of_a_large_file_copies_every_byte(tmp_path, workspace):
    big = tmp_path / "big"
    content = os.urandom(3 * 1024 * 1024 + 17)
    big.write_bytes(content)
    place(big, workspace / "big", ("copy",), mode=0o600)
    assert (workspace / "big").read_bytes() == content
