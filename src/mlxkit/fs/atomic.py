"""Publish files atomically: temp file in the destination's directory, fsync, rename, fsync the dir.

Modeled on borg's SaveFile. Nothing another process can observe is ever half-written: a reader sees
the old file or the new one. Temp files carry TEMP_PREFIX so that gc never mistakes them for objects
and fsck can report leftovers as garbage.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

TEMP_PREFIX = ".mlx-tmp-"
_OPEN_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


def is_temp_name(name: str) -> bool:
    return name.startswith(TEMP_PREFIX)


def open_temp(directory: Path, mode: int = 0o600) -> tuple[int, Path]:
    """Create a new, exclusive temp file in `directory`; returns its descriptor and path."""
    while True:
        path = directory / f"{TEMP_PREFIX}{secrets.token_hex(8)}"
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


def write_atomic(path: Path, data: bytes, *, mode: int = 0o644, durable: bool = True) -> None:
    """Replace `path` with `data` so that readers see either the old or the new content.

    `durable` fsyncs the file before the rename and the directory after it, so that the new content
    survives a crash once this returns (metadata files: pointers, config, lock holder).
    """
    directory = path.parent
    fd, tmp = open_temp(directory)
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
        _unlink_quietly(tmp)
        raise
    if durable:
        fsync_dir(directory)


def _unlink_quietly(path: Path) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def sync_filesystem(directory: Path) -> None:
    """Flush every dirty page of the file system holding `directory` (git's fsyncMethod=batch).

    One syncfs() after writing many objects costs far less than one fsync per object, and still
    makes the objects durable before the trees and pointers that name them are published.
    """
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    syncfs = getattr(libc, "syncfs", None)
    if syncfs is None:  # pragma: no cover - not Linux
        os.sync()
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        if syncfs(fd) != 0:  # pragma: no cover - EIO etc.
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err), str(directory))
    finally:
        os.close(fd)
