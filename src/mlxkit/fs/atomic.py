"""Publish files atomically: temp file in the destination's directory, fsync, rename, fsync the dir.

Modeled on borg's SaveFile. Nothing another process can observe is ever half-written: a reader sees
the old file or the new one. Temp files carry TEMP_PREFIX so that gc never mistakes them for objects
and fsck can report leftovers as garbage.
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

TEMP_PREFIX = ".mlx-tmp-"
_OPEN_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


def is_temp_name(name: str) -> bool:
    return name.startswith(TEMP_PREFIX)


def temp_name(directory: Path | str) -> str:
    return f"{directory}{os.sep}{TEMP_PREFIX}{os.urandom(8).hex()}"


def open_temp(directory: Path | str, mode: int = 0o600) -> tuple[int, str]:
    """Create a new, exclusive temp file in `directory`; returns its descriptor and path."""
    while True:
        path = temp_name(directory)
        try:
            return os.open(path, _OPEN_FLAGS, mode), path
        except FileExistsError:  # pragma: no cover - 64 random bits
            continue


def write_all(fd: int, data: bytes | memoryview) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes, *, mode: int = 0o644, durable: bool = True, dir_syncs: set[Path] | None = None) -> None:
    """Replace `path` with `data` so that readers see either the old or the new content.

    `durable` fsyncs the file before the rename and the directory after it, so that the new content
    survives a crash once this returns (metadata files: pointers, config, lock holder).

    `dir_syncs`, for a writer that replaces the same files again and again (mlx.lock after each
    stage): the directory is added to this set instead, for `sync_dirs` to fsync once at the end.
    The file itself is still fsynced before the rename, so a crash leaves the old file or the new
    one, both whole; only the newest rename may be undone by a crash before the end.
    """
    _replace(str(path), data, mode=mode, durable=durable)
    if durable:
        if dir_syncs is None:
            fsync_dir(path.parent)
        else:
            dir_syncs.add(path.parent)


def sync_dirs(dir_syncs: set[Path]) -> None:
    """fsync each directory `write_atomic` deferred, and forget them."""
    for directory in sorted(dir_syncs):
        fsync_dir(directory)
    dir_syncs.clear()


def _replace(path: str, data: bytes, *, mode: int, durable: bool) -> None:
    """Write a temp file beside `path`, check its size, optionally fsync it, rename it over `path`."""
    fd, tmp = open_temp(os.path.dirname(path), mode)
    try:
        try:
            write_all(fd, data)
            if os.fstat(fd).st_size != len(data):
                raise OSError(f"short write to '{tmp}'")
            os.fchmod(fd, mode)
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        unlink_quietly(tmp)
        raise


_proc: int | None = None  # a descriptor of /proc once unnamed files are known to be usable; -1 when not
_link_by_descriptor: Callable[[int, bytes], None] | None = None  # while the kernel lets AT_EMPTY_PATH name them

_AT_FDCWD = -100
_AT_EMPTY_PATH = 0x1000


def _unnamed_files() -> bool:
    """Whether O_TMPFILE files can be named here: Linux with /proc mounted.

    They are named by descriptor, linkat(fd, "", AT_FDCWD, path, AT_EMPTY_PATH), where the kernel
    allows it: Linux 6.10 and later for a file the caller opened itself. That costs about 15% less
    kernel time per file than the way open(2) documents for every user, linkat("/proc/self/fd/N",
    AT_SYMLINK_FOLLOW), which looks the descriptor up through /proc; older kernels want
    CAP_DAC_READ_SEARCH for AT_EMPTY_PATH, refuse with ENOENT, and /proc takes over.
    """
    global _proc, _link_by_descriptor
    if _proc is None:
        try:
            _proc = os.open("/proc", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC) if hasattr(os, "O_TMPFILE") else -1
        except OSError:  # pragma: no cover - no /proc
            _proc = -1
        if _proc >= 0:
            _link_by_descriptor = _libc_linkat()
    return _proc >= 0


def _libc_linkat() -> Callable[[int, bytes], None] | None:
    """libc's linkat with AT_EMPTY_PATH, raising OSError as os.link does. Loaded by the first
    unnamed file a process makes, so never by a thread that runs beside a fork: the one such
    thread, the syncfs of filesystem_syncer, makes no file."""
    import ctypes

    linkat = _libc_function("linkat")
    if linkat is None:  # pragma: no cover - no libc to load
        return None
    linkat.argtypes = (ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_int)

    def link(fd: int, path: bytes) -> None:
        if linkat(fd, b"", _AT_FDCWD, path, _AT_EMPTY_PATH) != 0:
            code = ctypes.get_errno()
            raise OSError(code, os.strerror(code), os.fsdecode(path))  # FileExistsError for EEXIST

    return link


def _libc_function(name: str) -> Any:
    """libc's function `name` through ctypes (errno kept), or None where there is none. Loading
    libc takes locks that a fork() copies as they are: see filesystem_syncer."""
    import ctypes

    try:
        return getattr(ctypes.CDLL(None, use_errno=True), name)
    except (OSError, AttributeError):  # pragma: no cover - not Linux
        return None


def create_new(path: str, data: bytes, *, mode: int, durable: bool) -> bool:
    """Publish `data` at `path` unless something is there already; True when it was created.

    Linux: the bytes go into an unnamed O_TMPFILE inode that linkat() names in one step: no temp
    name, no rename, no existence check, and nothing left behind by a crash. Elsewhere (or when
    the file system refuses) a temp file and a rename do the same.
    """
    directory = os.path.dirname(path)
    fd = open_unnamed(directory, mode)
    if fd is not None:
        try:
            write_all(fd, data)
            if not creates_exactly(directory, mode):
                os.fchmod(fd, mode)  # exactly `mode`, whatever the umask (a cache may be shared)
            if durable:
                os.fsync(fd)
            created = link_unnamed(fd, path)
            if created is not None:
                return created
        finally:
            os.close(fd)
    if os.path.lexists(path):
        return False
    _replace(path, data, mode=mode, durable=durable)
    return True


def current_umask() -> int:
    """The process's umask, which files created with a `mode` of their own must honour. Linux
    reports it in /proc/self/status; elsewhere reading it means setting it (and straight back),
    which a thread creating a file at that moment would see."""
    try:
        with open("/proc/self/status", "rb") as status:
            for line in status:
                if line.startswith(b"Umask:"):
                    return int(line.split()[1], 8)
    except OSError:  # pragma: no cover - no /proc
        pass
    mask = os.umask(0)  # pragma: no cover - not Linux
    os.umask(mask)  # pragma: no cover
    return mask  # pragma: no cover


_exact_modes: dict[tuple[str, int], bool] = {}


def creates_exactly(directory: str, mode: int) -> bool:
    """Whether a file created in `directory` with `mode` gets exactly `mode`: the umask clears none
    of its bits, and the directory has no default ACL (which takes the umask's place). Then the
    fchmod that makes a new file's mode exact is not needed: one system call fewer for each of
    10^5 small files. Asked once per directory and mode in a process (a process that changes its
    umask while mlx works keeps the first answer)."""
    key = (directory, mode)
    exact = _exact_modes.get(key)
    if exact is None:
        exact = _exact_modes[key] = not (mode & current_umask()) and not _has_default_acl(directory)
    return exact


def _has_default_acl(directory: str) -> bool:
    try:
        os.getxattr(directory, "system.posix_acl_default")
    except OSError as exc:
        # ENODATA: none; ENOTSUP: no ACLs on this file system (the umask applies).
        return exc.errno not in (errno.ENODATA, errno.ENOTSUP, errno.EOPNOTSUPP)
    except AttributeError:  # pragma: no cover - no xattrs in this os module: assume the worst
        return True
    return True


def open_unnamed(directory: str, mode: int) -> int | None:
    """A writable descriptor of a new, nameless file in `directory` (O_TMPFILE), or None where the
    system or file system cannot make one. FileNotFoundError when `directory` does not exist."""
    if not _unnamed_files():
        return None
    try:
        return os.open(directory, os.O_TMPFILE | os.O_WRONLY | os.O_CLOEXEC, mode)
    except FileNotFoundError:
        raise
    except OSError:
        return None


def link_unnamed(fd: int, path: str) -> bool | None:
    """Give the nameless file `fd` the name `path`: True when done, False when `path` exists,
    None when this file system refuses (later calls then skip unnamed files)."""
    try:
        _name_unnamed(fd, path)
        return True
    except FileExistsError:
        return False
    except OSError as exc:
        refused = exc.errno in (errno.ENOENT, errno.EPERM, errno.EXDEV, errno.EOPNOTSUPP, errno.EINVAL)
        if not refused or _missing_directory(exc, path):
            raise
    _disable_unnamed()
    return None


def _name_unnamed(fd: int, path: str) -> None:
    global _link_by_descriptor
    if _link_by_descriptor is not None:
        try:
            _link_by_descriptor(fd, os.fsencode(path))
            return
        except OSError as exc:
            if _missing_directory(exc, path) or exc.errno not in (errno.ENOENT, errno.EPERM):
                raise
        _link_by_descriptor = None  # a kernel before 6.10: by /proc from now on
    # linkat(/proc, "self/fd/N", AT_FDCWD, path, AT_SYMLINK_FOLLOW): a src_dir_fd makes os.link use linkat
    os.link(f"self/fd/{fd}", path, src_dir_fd=_proc, follow_symlinks=True)


def _missing_directory(exc: OSError, path: str) -> bool:
    return exc.errno == errno.ENOENT and not os.path.isdir(os.path.dirname(path))


def _disable_unnamed() -> None:
    global _proc
    _proc = -1


def unlink_quietly(path: str | Path) -> None:
    """Remove a temp file on the way out of a failure; a second failure must not hide the first."""
    with contextlib.suppress(OSError):
        os.unlink(path)


@cache
def writeback_starter() -> Callable[[int, int, int], None] | None:
    """A function `start(fd, offset, count)` that asks the kernel to begin writing those bytes of
    `fd` to disk now, without waiting (sync_file_range's SYNC_FILE_RANGE_WRITE), or None where
    there is none. For a large file that a barrier will make durable: its writeback then overlaps
    the copy instead of following it (1 GiB: 0.5-0.8 s for copy, hash and syncfs, 0.8 s without).
    A hint: a refusal changes nothing, the barrier still writes everything.

    Loaded once per process, by its first caller: that must be the process that forks workers, before
    it forks them (they inherit it), and not a thread beside a fork (see filesystem_syncer)."""
    import ctypes

    sync_file_range = _libc_function("sync_file_range")
    if sync_file_range is None:  # pragma: no cover - not Linux
        return None
    sync_file_range.argtypes = (ctypes.c_int, ctypes.c_longlong, ctypes.c_longlong, ctypes.c_uint)

    def start(fd: int, offset: int, count: int) -> None:
        sync_file_range(fd, offset, count, _SYNC_FILE_RANGE_WRITE)

    return start


_SYNC_FILE_RANGE_WRITE = 2


def filesystem_syncer(directory: Path) -> Callable[[], None]:
    """A function that flushes every dirty page of the file system holding `directory` (git's
    fsyncMethod=batch).

    One syncfs() after writing many objects costs far less than one fsync per object, and still
    makes the objects durable before the trees and pointers that name them are published. It comes
    in two halves: this one imports ctypes and loads libc, which take locks that a fork() copies as
    they are; the function returned only makes the system call, so a thread may run it while this
    process forks its workers (a worker that inherited a held import lock would wait forever).
    """
    import ctypes

    syncfs = _libc_function("syncfs")

    def sync() -> None:
        if syncfs is None:  # pragma: no cover - not Linux
            os.sync()
            return
        try:
            fd = os.open(directory, os.O_RDONLY)
        except FileNotFoundError:  # not made yet (a fresh clone's cache): nothing written there
            return
        try:
            if syncfs(fd) != 0:  # pragma: no cover - EIO etc.
                code = ctypes.get_errno()
                raise OSError(code, os.strerror(code), str(directory))
        finally:
            os.close(fd)

    return sync
