"""blake3 hashing of bytes and files, and the copy that is hashed as it lands in the store."""

from __future__ import annotations

import errno
import multiprocessing
import os
import tempfile
import threading
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlxkit.store.hashing import COPY_WINDOW, MMAP_THRESHOLD, copy_hashed, hash_bytes, hash_fd, hash_path, hash_paths

EMPTY = "blake3:af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"


def pattern(size: int) -> bytes:
    """Bytes that differ from window to window, so that a misplaced window changes the digest."""
    block = os.urandom(4099)
    return (block * (size // len(block) + 1))[:size]


def copy_file(source: Path, destination: Path, size: int):
    with open(source, "rb") as src, open(destination, "xb") as dst:
        return copy_hashed(src.fileno(), dst.fileno(), str(destination), size)


def open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


def copier_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name == "mlx-copy"]


def test_hash_bytes_of_nothing_is_the_blake3_of_the_empty_string():
    assert str(hash_bytes(b"")) == EMPTY


@pytest.mark.parametrize("size", [0, 1, MMAP_THRESHOLD - 1, MMAP_THRESHOLD, MMAP_THRESHOLD + 1])
def test_hash_path_agrees_with_hash_bytes_on_both_sides_of_the_mmap_threshold(tmp_path, size):
    content = pattern(size)
    (tmp_path / "f").write_bytes(content)
    assert hash_path(tmp_path / "f") == hash_path(str(tmp_path / "f"), size) == hash_bytes(content)


def test_hash_path_of_a_small_file_longer_than_its_stat_said_hashes_it_to_its_end(tmp_path):
    (tmp_path / "f").write_bytes(b"grew after the stat")
    assert hash_path(tmp_path / "f", size=4) == hash_bytes(b"grew after the stat")


def test_hash_fd_hashes_an_open_file_to_its_end_and_leaves_it_open(tmp_path):
    (tmp_path / "f").write_bytes(b"grew after the stat")
    fd = os.open(tmp_path / "f", os.O_RDONLY)
    try:
        assert hash_fd(fd, 4) == hash_bytes(b"grew after the stat")
        assert os.fstat(fd)  # still open: the caller closes it
    finally:
        os.close(fd)


def test_hash_paths_hashes_small_and_large_files_in_order_with_each_error_in_its_place(tmp_path):
    contents = [pattern(size) for size in (0, 5000, MMAP_THRESHOLD + 1, 1)]
    paths = []
    for n, content in enumerate(contents):
        (tmp_path / str(n)).write_bytes(content)
        paths.append(str(tmp_path / str(n)))
    paths.insert(2, str(tmp_path / "missing"))
    sizes = [len(c) for c in contents[:2]] + [10] + [len(c) for c in contents[2:]]

    got = list(hash_paths(paths, sizes))

    assert isinstance(got[2], FileNotFoundError) and got[2].filename == paths[2]
    assert got[:2] + got[3:] == [hash_bytes(content) for content in contents]


def _hash_in_child(path: str, queue) -> None:
    queue.put(str(hash_path(path)))


def test_hash_path_of_a_large_file_works_in_a_forked_child_after_this_process_hashed_one(tmp_path):
    """blake3's shared thread pool does not survive fork(): a child hashing through it would hang."""
    content = pattern(MMAP_THRESHOLD + 1)
    (tmp_path / "big").write_bytes(content)
    assert hash_path(tmp_path / "big") == hash_bytes(content)
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_hash_in_child, args=(str(tmp_path / "big"), queue))
    child.start()
    child.join(60)
    if child.is_alive():
        child.kill()
        child.join()
    assert child.exitcode == 0
    assert queue.get(timeout=5) == str(hash_bytes(content))


@pytest.mark.parametrize(
    "size", [1, 4095, COPY_WINDOW - 1, COPY_WINDOW, COPY_WINDOW + 1, 2 * COPY_WINDOW + 4097]
)
def test_copy_hashed_copies_every_byte_and_names_the_copy(tmp_path, size):
    content = pattern(size)
    (tmp_path / "src").write_bytes(content)
    digest, copied = copy_file(tmp_path / "src", tmp_path / "dst", size)
    assert (digest, copied) == (hash_bytes(content), size)
    assert (tmp_path / "dst").read_bytes() == content
    assert (tmp_path / "src").read_bytes() == content


@settings(max_examples=60, deadline=None)
@given(content=st.binary(max_size=5000), asked=st.integers(min_value=0, max_value=5100))
def test_copy_hashed_copies_at_most_the_size_asked_for_and_says_how_much(content, asked):
    with tempfile.TemporaryDirectory() as scratch:
        source, destination = Path(scratch, "src"), Path(scratch, "dst")
        source.write_bytes(content)
        digest, copied = copy_file(source, destination, asked)
        expected = content[:asked]
        assert (digest, copied) == (hash_bytes(expected), len(expected))
        assert destination.read_bytes() == expected


@pytest.mark.skipif(not os.path.exists("/dev/urandom"), reason="needs /dev/urandom")
def test_copy_hashed_names_the_bytes_it_stored_from_a_source_that_never_reads_the_same_twice(tmp_path):
    """/dev/urandom refuses copy_file_range, so this also takes the sendfile path. Any second read
    of the source (rather than of the copy) would give a digest that does not name the copy."""
    size = COPY_WINDOW + 12345
    with open("/dev/urandom", "rb") as src, open(tmp_path / "dst", "xb") as dst:
        digest, copied = copy_hashed(src.fileno(), dst.fileno(), str(tmp_path / "dst"), size)
    stored = (tmp_path / "dst").read_bytes()
    assert (digest, copied, len(stored)) == (hash_bytes(stored), size, size)


def test_copy_hashed_raises_the_copy_error_and_leaves_no_thread_or_descriptor(tmp_path):
    (tmp_path / "src").write_bytes(pattern(COPY_WINDOW + 1))
    (tmp_path / "dst").write_bytes(b"")
    descriptors = open_descriptors()
    with open(tmp_path / "src", "rb") as src, open(tmp_path / "dst", "rb") as read_only:
        with pytest.raises(OSError) as info:
            copy_hashed(src.fileno(), read_only.fileno(), str(tmp_path / "dst"), COPY_WINDOW + 1)
    assert info.value.errno == errno.EBADF  # the destination is not open for writing
    assert copier_threads() == []
    assert open_descriptors() == descriptors
    assert (tmp_path / "dst").read_bytes() == b""


def test_copy_hashed_starts_the_writeback_of_every_window_it_copied_and_only_those(tmp_path):
    from mlxkit.fs.atomic import writeback_starter

    start = writeback_starter()
    assert start is not None  # Linux has sync_file_range
    size = 2 * COPY_WINDOW + 4097
    content = pattern(size)
    (tmp_path / "src").write_bytes(content)
    started: list[tuple[int, int]] = []

    def record(fd: int, offset: int, count: int) -> None:
        started.append((offset, count))
        start(fd, offset, count)  # the real system call, on the copy's descriptor

    with open(tmp_path / "src", "rb") as src, open(tmp_path / "dst", "xb") as dst:
        digest, copied = copy_hashed(src.fileno(), dst.fileno(), str(tmp_path / "dst"), size, writeback=record)

    assert (digest, copied) == (hash_bytes(content), size)
    assert started == [(0, COPY_WINDOW), (COPY_WINDOW, COPY_WINDOW), (2 * COPY_WINDOW, 4097)]
    assert (tmp_path / "dst").read_bytes() == content
