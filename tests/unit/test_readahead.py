"""opened_ahead: files opened (and their reading started) a window ahead of the one in hand."""

from __future__ import annotations

import errno
import os
from contextlib import closing

import pytest

from mlxkit.fs.readahead import opened_ahead


def open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


def make_files(tmp_path, count: int) -> list[str]:
    paths = []
    for n in range(count):
        path = tmp_path / f"{n:03}.bin"
        path.write_bytes(f"file {n}".encode() * (n + 1))
        paths.append(str(path))
    return paths


def read_and_close(fd: int) -> bytes:
    try:
        return os.read(fd, 1 << 20)
    finally:
        os.close(fd)


@pytest.mark.parametrize("advise", [None, [False, True] * 25], ids=["all advised", "some advised"])
def test_each_file_comes_in_order_open_at_its_start(tmp_path, advise):
    paths = make_files(tmp_path, 50)

    contents = [read_and_close(fd) for fd in opened_ahead(paths, advise, window=8)]

    assert contents == [f"file {n}".encode() * (n + 1) for n in range(50)]


def test_no_more_than_the_window_is_open_at_once(tmp_path):
    paths = make_files(tmp_path, 40)
    before = open_descriptors()
    most = 0

    for fd in opened_ahead(paths, window=5):
        most = max(most, open_descriptors() - before)
        os.close(fd)

    assert most == 5  # the one in hand and the four opened after it
    assert open_descriptors() == before


def test_a_file_that_cannot_be_opened_comes_as_its_error_in_its_place(tmp_path):
    paths = make_files(tmp_path, 6)
    os.unlink(paths[2])
    os.symlink(paths[0], tmp_path / "link")  # never followed
    paths[4] = str(tmp_path / "link")

    got = list(opened_ahead(paths, window=3))

    assert isinstance(got[2], FileNotFoundError) and got[2].filename == paths[2]
    assert isinstance(got[4], OSError) and got[4].errno == errno.ELOOP
    assert [read_and_close(fd) for n, fd in enumerate(got) if n not in (2, 4)] == [
        f"file {n}".encode() * (n + 1) for n in (0, 1, 3, 5)
    ]


def test_stopping_early_closes_what_was_opened_ahead(tmp_path):
    paths = make_files(tmp_path, 30)
    before = open_descriptors()

    with closing(opened_ahead(paths, window=10)) as opened:
        os.close(next(opened))
        assert open_descriptors() - before == 9
    assert open_descriptors() == before


def test_nothing_to_open_yields_nothing():
    assert list(opened_ahead([])) == []
