"""blake3 hashing: memory-mapped and multi-threaded for large files, one read for small ones, and
hashing a copy while the kernel makes it (for large files entering the store)."""

from __future__ import annotations

import mmap
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing
from pathlib import Path

from blake3 import blake3

from mlxkit.fs.links import NO_COPY_FILE_RANGE
from mlxkit.fs.readahead import opened_ahead
from mlxkit.parallel import default_jobs
from mlxkit.store.digest import Digest

# Below this size one read() is cheaper than setting up a mapping and threads.
MMAP_THRESHOLD = 4 * 1024 * 1024
# A copy is hashed in windows of this size, each as soon as the kernel has copied it: small enough
# that the hash trails the copy by a few milliseconds, large enough that the mappings cost nothing.
COPY_WINDOW = 8 * 1024 * 1024
# A thread count, not blake3.AUTO: a count gives each hasher a thread pool of its own, while AUTO's
# shared pool does not survive fork(), and a forked worker (mlxkit.parallel) that hashes through it
# after this process did waits forever. A pool costs about 0.1 ms, nothing beside 4 MiB of hashing.
_THREADS = default_jobs()
_READ_CHUNK = 8 << 20


def hash_bytes(data: bytes | memoryview) -> Digest:
    return Digest(blake3(data).hexdigest())


def hash_path(path: Path | str, size: int | None = None, *, mapped: bool = True) -> Digest:
    """Hash a file by path; large files through mmap on every core. `mapped=False` reads them
    instead: for a file just written (a download), whose mapping would count in the command's
    resident memory for as long as the hash takes."""
    if size is None:
        size = os.stat(path).st_size
    if size >= MMAP_THRESHOLD and mapped:
        hasher = blake3(max_threads=_THREADS)
        hasher.update_mmap(path)
        return Digest(hasher.hexdigest())
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    try:
        return hash_fd(fd, size)
    finally:
        os.close(fd)


def hash_paths(paths: Sequence[str], sizes: Sequence[int]) -> Iterator[Digest | OSError]:
    """hash_path of each of `paths` (with the size it is expected to have), in order, or the
    OSError that hashing it raised. The small files are opened, and their reading started, a
    window ahead of the one being hashed (fs/readahead.py): files that are not in memory are read
    from the disk many at a time instead of one by one."""
    small = [size < MMAP_THRESHOLD for size in sizes]
    with closing(opened_ahead([path for path, is_small in zip(paths, small) if is_small])) as opened:
        for path, size, is_small in zip(paths, sizes, small):
            fd = next(opened) if is_small else None
            if isinstance(fd, OSError):
                yield fd
                continue
            result: Digest | OSError
            try:
                result = hash_path(path, size) if fd is None else hash_fd(fd, size)
            except OSError as exc:
                result = exc
            finally:
                if fd is not None:
                    os.close(fd)
            yield result


def hash_fd(fd: int, size: int) -> Digest:
    """Hash the open file `fd` from its current offset to its end, reading it; `size` is what it
    is expected to hold (a file of up to that many bytes takes one read)."""
    data = os.read(fd, min(size + 1, _READ_CHUNK))
    if len(data) <= size < _READ_CHUNK:  # the whole file in one read (a longer one is read to its end)
        return Digest(blake3(data).hexdigest())
    hasher = blake3(data, max_threads=_THREADS)
    while chunk := os.read(fd, _READ_CHUNK):
        hasher.update(chunk)
    return Digest(hasher.hexdigest())


def copy_hashed(
    src_fd: int, dst_fd: int, dst_path: str, size: int, *, writeback: Callable[[int, int, int], None] | None = None
) -> tuple[Digest, int]:
    """Copy the first `size` bytes of `src_fd` into the empty file `dst_fd` (at `dst_path`) in the
    kernel, and hash the copy's bytes as they land; returns their digest and how many were copied
    (fewer than `size` when the source ended early).

    What is hashed is read back from the copy, not from the source, so the digest names exactly the
    stored bytes even if something rewrote the source meanwhile (the caller re-stats the source to
    refuse such a file). A thread copies while this one hashes: on two cores the copy and the hash
    overlap, and the copy, the slower of the two, sets the pace, so one hashing thread is enough.
    `writeback` (fs.atomic.writeback_starter) starts writing each window to disk once it is copied.
    """
    hasher = blake3()
    hashed = 0
    view_fd = os.open(dst_path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        copier = _Copier(src_fd, dst_fd, size, writeback)
        try:
            copier.start()
            while (copied := copier.wait_beyond(hashed)) > hashed:
                _hash_window(hasher, view_fd, hashed, copied)
                hashed = copied
        finally:
            copier.stop = True
            if copier.is_alive():  # not yet when start() itself was interrupted: it then stops at once
                copier.join()
    finally:
        os.close(view_fd)
    if copier.error is not None:
        raise copier.error
    return Digest(hasher.hexdigest()), hashed


def _hash_window(hasher: blake3, fd: int, start: int, end: int) -> None:
    """Hash bytes [start, end) of `fd` through a mapping (mappings start on a page boundary)."""
    aligned = start - start % mmap.ALLOCATIONGRANULARITY
    with mmap.mmap(fd, end - aligned, prot=mmap.PROT_READ, offset=aligned) as window:
        with memoryview(window) as view:
            hasher.update(view[start - aligned :])


class _Copier(threading.Thread):
    """Copies a file window by window and tells the hashing thread how far it got.

    It works on duplicates of the descriptors, so that whatever the caller does with its own after
    an interruption (closing them, reusing their numbers), the copier can only ever write into the
    temp file it was given; it stops at the next window once `stop` is set.
    """

    def __init__(self, src_fd: int, dst_fd: int, size: int, writeback: Callable[[int, int, int], None] | None) -> None:
        super().__init__(name="mlx-copy", daemon=True)
        self._src = os.dup(src_fd)
        self._dst = os.dup(dst_fd)
        self._size = size
        self._writeback = writeback
        self._progress = threading.Condition()
        self._copied = 0
        self._done = False
        self._kernel_copy = True
        self.stop = False
        self.error: BaseException | None = None

    def wait_beyond(self, offset: int) -> int:
        """Block until more than `offset` bytes are copied or the copy ended; the bytes copied."""
        with self._progress:
            while self._copied <= offset and not self._done:
                self._progress.wait()
            return self._copied

    def run(self) -> None:
        try:
            copied = 0
            while copied < self._size and not self.stop:
                count = self._copy(copied, min(COPY_WINDOW, self._size - copied))
                if count == 0:  # the source is shorter than it was
                    break
                if self._writeback is not None:
                    self._writeback(self._dst, copied, count)
                copied += count
                with self._progress:
                    self._copied = copied
                    self._progress.notify()
        except BaseException as exc:  # handed to the hashing thread, which raises it
            self.error = exc
        finally:
            os.close(self._src)
            os.close(self._dst)
            with self._progress:
                self._done = True
                self._progress.notify()

    def _copy(self, offset: int, count: int) -> int:
        if self._kernel_copy:
            try:
                return os.copy_file_range(self._src, self._dst, count, offset, offset)
            except OSError as exc:
                if exc.errno not in NO_COPY_FILE_RANGE:
                    raise
                self._kernel_copy = False
        os.lseek(self._dst, offset, os.SEEK_SET)
        return os.sendfile(self._dst, self._src, offset, count)
