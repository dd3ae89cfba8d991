"""Materialise a cache object at a workspace path: reflink, hardlink, symlink or copy.

Every link type goes through a temp name in the destination directory and a rename, so a workspace
file is replaced whole or not at all, and a final-component symlink at the destination is replaced,
never followed.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

from mlxkit.errors import MlxError
from mlxkit.fs.atomic import creates_exactly, link_unnamed, open_temp, open_unnamed, temp_name, unlink_quietly

LINK_TYPES = ("reflink", "hardlink", "symlink", "copy")
DEFAULT_LINK_TYPES = ("reflink", "copy")
FICLONE = 0x40049409  # linux/fs.h: _IOW(0x94, 9, int)
_NOT_SUPPORTED = {errno.EOPNOTSUPP, errno.ENOTSUP, errno.EXDEV, errno.EINVAL, errno.ENOTTY, errno.EPERM, errno.EMLINK}
# copy_file_range refusals that sendfile can still serve (another file system, an old kernel).
NO_COPY_FILE_RANGE = frozenset({errno.EXDEV, errno.ENOSYS, errno.EOPNOTSUPP, errno.EINVAL})
_unsupported: set[tuple[str, int]] = set()  # (link type, st_dev) pairs that failed once


class LinkUnsupported(OSError):
    pass


def copy_fd(src_fd: int, dst_fd: int) -> None:
    """Copy a whole file in the kernel where it can (copy_file_range), else through sendfile."""
    while True:
        try:
            n = os.copy_file_range(src_fd, dst_fd, 1 << 30)
        except OSError as exc:
            if exc.errno not in NO_COPY_FILE_RANGE:
                raise
            break
        if n == 0:
            return
    offset = os.lseek(src_fd, 0, os.SEEK_CUR)
    while True:
        n = os.sendfile(dst_fd, src_fd, offset, 1 << 30)
        if n == 0:
            return
        offset += n


def _link(kind: str, source: Path | str, destination: Path | str) -> None:
    """A hard or symbolic link at `destination` (FileExistsError if something is there)."""
    try:
        if kind == "hardlink":
            os.link(source, destination)
        else:
            os.symlink(source, destination)
    except FileExistsError:
        raise
    except OSError as exc:
        if exc.errno in _NOT_SUPPORTED:
            raise LinkUnsupported(exc.errno, f"{kind} not supported") from exc
        raise


def _fill_temp(kind: str, source: Path | str, directory: Path | str, opened: int | None = None) -> str:
    """Create a temp file in `directory` holding `source` by the given link type."""
    if kind in ("hardlink", "symlink"):
        while True:
            tmp = temp_name(directory)
            try:
                _link(kind, source, tmp)
                return tmp
            except FileExistsError:  # pragma: no cover - 64 random bits
                continue
    fd, tmp = open_temp(directory)
    try:
        _fill_fd(kind, source, fd, opened)
    except BaseException:
        unlink_quietly(tmp)
        raise
    finally:
        os.close(fd)
    return tmp


def place(
    source: Path | str, destination: Path | str, link_types: tuple[str, ...], *, mode: int, opened: int | None = None
) -> str:
    """Make `destination` hold `source`'s bytes with the first link type that works; returns it.

    `mode` applies to reflinks and copies; hard links share the cache object's read-only mode and
    symbolic links have none of their own. `opened`, a read-only descriptor of `source` (which the
    caller closes), saves a reflink or copy opening it again.
    """
    directory = os.path.dirname(destination)
    device = _device(directory)
    last_error: OSError | None = None
    for kind in link_types:
        if (kind, device) in _unsupported:
            continue
        try:
            if not _place_direct(kind, source, destination, directory, mode, opened):
                _place_through_temp(kind, source, destination, directory, mode, opened)
        except LinkUnsupported as exc:
            _unsupported.add((kind, device))
            last_error = exc
            continue
        return kind
    raise MlxError(
        f"no link type of cache.type {','.join(link_types)} works for '{destination}': {last_error}",
        hint="add 'copy', which works everywhere: mlx config cache.type " + ",".join((*link_types, "copy")),
    )


def _place_direct(
    kind: str, source: Path | str, destination: Path | str, directory: str, mode: int, opened: int | None
) -> bool:
    """The short way, when `destination` does not exist yet: a link made in place, or a copy in a
    nameless file (O_TMPFILE) that is named when complete. False when it cannot be used."""
    if kind in ("hardlink", "symlink"):
        try:
            _link(kind, source, destination)
            return True
        except FileExistsError:
            return False
    fd = open_unnamed(directory, mode)
    if fd is None:
        return False
    try:
        _fill_fd(kind, source, fd, opened)
        if not creates_exactly(directory, mode):
            os.fchmod(fd, mode)  # as the temp path's chmod: exactly `mode`, whatever the umask
        named = link_unnamed(fd, os.fspath(destination))
        if named is False:  # the destination exists: name it beside, then rename over
            tmp = temp_name(directory)
            if link_unnamed(fd, tmp):
                try:
                    os.replace(tmp, destination)
                except BaseException:
                    unlink_quietly(tmp)
                    raise
                return True
        return bool(named)
    finally:
        os.close(fd)


def _place_through_temp(
    kind: str, source: Path | str, destination: Path | str, directory: str, mode: int, opened: int | None
) -> None:
    tmp = _fill_temp(kind, source, directory, opened)
    try:
        if kind in ("reflink", "copy"):
            os.chmod(tmp, mode)
        os.replace(tmp, destination)
        if kind == "hardlink" and os.path.lexists(tmp):
            # rename() of a hard link over another link to the same file does nothing (POSIX): the
            # destination already is what was asked, and the temporary name must go.
            os.unlink(tmp)
    except BaseException:
        unlink_quietly(tmp)
        raise


def _fill_fd(kind: str, source: Path | str, fd: int, opened: int | None) -> None:
    if opened is not None:
        os.lseek(opened, 0, os.SEEK_SET)  # a second try (a temp name after a refused linkat) reads it again
        _fill_from(kind, opened, fd)
        return
    src_fd = os.open(source, os.O_RDONLY | os.O_NOFOLLOW)
    try:
        _fill_from(kind, src_fd, fd)
    finally:
        os.close(src_fd)


def _fill_from(kind: str, src_fd: int, fd: int) -> None:
    if kind == "reflink":
        import fcntl

        try:
            fcntl.ioctl(fd, FICLONE, src_fd)
        except OSError as exc:
            raise LinkUnsupported(exc.errno, "reflink not supported") from exc
    else:
        copy_fd(src_fd, fd)


def copies(link_types: tuple[str, ...], directory: str) -> bool:
    """Whether place() into `directory` (judged by its file system) will copy: the first of
    `link_types` not yet seen failing there is "copy". A reflink's first try is what finds out."""
    device = _device(directory)
    return next((kind for kind in link_types if (kind, device) not in _unsupported), None) == "copy"


_devices: dict[str, int] = {}


def _device(directory: str) -> int:
    device = _devices.get(directory)
    if device is None:
        device = _devices[directory] = os.stat(directory).st_dev
    return device


def supported_link_types(directory: Path) -> list[str]:
    """Try each link type between two files in `directory` (mlx doctor)."""
    fd, source = open_temp(directory)
    os.write(fd, b"mlx")
    os.close(fd)
    works = []
    try:
        for kind in LINK_TYPES:
            try:
                tmp = _fill_temp(kind, source, directory)
            except OSError:
                continue
            os.unlink(tmp)
            works.append(kind)
    finally:
        os.unlink(source)
    return works
