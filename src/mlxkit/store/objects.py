"""The object store: `objects/ab/cdef…` files, named by the blake3 of their bytes, read-only.

Objects are copied in, never moved: the source stays where it is. Each object is written to a temp
file in its own directory and renamed into place, and its name is the hash of exactly the bytes
written, so an object always hashes to its name. The store's root carries the marker
`mlx-store.json`; gc deletes nothing from a directory without it.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from mlxkit.errors import ChangedWhileReadingError, IntegrityError, MissingObjectError, UnsupportedFormatError
from mlxkit.fs.atomic import create_new, open_temp, temp_name, unlink_quietly, write_atomic, writeback_starter
from mlxkit.store.digest import Digest
from mlxkit.store.hashing import MMAP_THRESHOLD, copy_hashed, hash_bytes, hash_path

MARKER = "mlx-store.json"
STORE_FORMAT = 1
OBJECT_MODE = 0o444
_FANOUT = re.compile(r"[0-9a-f]{2}")
_REST = re.compile(r"[0-9a-f]{62}")
_ANY_OBJECT_PATH = re.compile(r"/objects/([0-9a-f]{2})/([0-9a-f]{62})\Z")
_ENTRY_BYTES = 72  # an object's entry in an ext4 directory: its 62-character name and 8 bytes more
_STATS_PER_LISTED = 16  # a stat of a missing object costs ~16 times the listing of one entry


@dataclass(frozen=True, slots=True)
class Stored:
    """The outcome of putting a file: its digest, the stat it had, and whether bytes were written."""

    digest: Digest
    stat: os.stat_result
    written: bool


def same_file_state(a: os.stat_result, b: os.stat_result) -> bool:
    return (a.st_size, a.st_mtime_ns, a.st_ino, a.st_ctime_ns) == (b.st_size, b.st_mtime_ns, b.st_ino, b.st_ctime_ns)


class ObjectStore:
    def __init__(self, root: Path, *, fsync_each: bool = False, durable: bool = False) -> None:
        """`fsync_each`: every object is fsynced as it is written; `durable`: a barrier will make
        the objects durable later (a large object's writeback starts as it is copied)."""
        self.root = root
        self.objects = root / "objects"
        self.fsync_each = fsync_each
        self.durable = durable or fsync_each
        self._made_dirs: set[str] = set()
        self._prefix = f"{self.objects}{os.sep}"  # hot paths build str paths: pathlib costs ~7 us a join

    # -- layout -------------------------------------------------------------------------------

    def create(self) -> None:
        self.objects.mkdir(parents=True, exist_ok=True)
        if not (self.root / MARKER).exists():
            marker = json.dumps({"format": STORE_FORMAT, "hash": "blake3"}, sort_keys=True).encode() + b"\n"
            write_atomic(self.root / MARKER, marker)

    def check_marker(self) -> None:
        """Refuse a store without mlx's marker or of a newer format (gc and fsck call this first).
        A cache that does not exist at all passes: it holds nothing (a fresh clone's, which mlx
        makes with its first object); a dangling link in its place does not."""
        if not os.path.lexists(self.root):
            return
        try:
            marker = json.loads((self.root / MARKER).read_bytes())
        except FileNotFoundError:
            raise UnsupportedFormatError(
                f"'{self.root}' has no {MARKER}: it is not an mlx cache",
                hint="mlx deletes nothing in a directory without its marker; run 'mlx init' to create one",
            ) from None
        except ValueError:
            raise UnsupportedFormatError(f"'{self.root / MARKER}' is not valid JSON") from None
        if not isinstance(marker, dict) or marker.get("hash") != "blake3" or marker.get("format") != STORE_FORMAT:
            raise UnsupportedFormatError(
                f"the cache at '{self.root}' uses format {marker.get('format') if isinstance(marker, dict) else '?'}, "
                f"this mlx reads {STORE_FORMAT}",
                hint="upgrade mlx",
            )

    def path(self, digest: Digest) -> Path:
        return self.objects / digest.hex[:2] / digest.hex[2:]

    def location(self, digest: Digest) -> str:
        """The object's path as a str (for loops over many objects)."""
        return f"{self._prefix}{digest.hex[:2]}{os.sep}{digest.hex[2:]}"

    def digest_at(self, location: str) -> Digest | None:
        """The digest whose object lives exactly at `location` (as `location()` spells it: a link
        that mlx made with cache.type symlink), or None for any other text."""
        if not location.startswith(self._prefix):
            return None
        fanout, _, rest = location[len(self._prefix) :].partition(os.sep)
        return Digest(fanout + rest) if _FANOUT.fullmatch(fanout) and _REST.fullmatch(rest) else None

    def digest_moved(self, location: str) -> Digest | None:
        """The digest a link names that points into the objects of a cache somewhere else (where
        this one was before the repository or its cache moved), if this cache holds that object;
        None for any other text. Callers read the object at this store's own `path()`, never at
        the link's text."""
        found = _ANY_OBJECT_PATH.search(location)
        digest = Digest(found[1] + found[2]) if found else None
        return digest if digest is not None and self.has(digest) else None

    def generation(self) -> int:
        """A number that changes whenever an object is added or deleted: a hash of the mtimes of
        `objects/` and its fan-out directories (257 stats, where checking a large tree's objects
        takes 10^5). Not their newest mtime: one directory dated in the future would pin that."""
        from blake3 import blake3

        try:
            lines = [f"\0{os.stat(self.objects).st_mtime_ns}\n"]
            with os.scandir(self.objects) as entries:
                for entry in entries:
                    if entry.is_dir(follow_symlinks=False):
                        lines.append(f"{entry.name}\0{entry.stat(follow_symlinks=False).st_mtime_ns}\n")
        except FileNotFoundError:
            return 0
        digest = blake3("".join(sorted(lines)).encode("utf-8", "surrogateescape")).digest()
        return int.from_bytes(digest[:8], "big") >> 1 or 1  # fits SQLite's INTEGER; 0 means "never"

    def has(self, digest: Digest) -> bool:
        return os.path.exists(self.location(digest))

    def present(self, digests: Iterable[Digest]) -> set[Digest]:
        """Those of `digests` that the cache holds. A fan-out directory is listed when that costs
        less than a `stat` per object asked about (10^5 of them in a fresh clone's fetch), judged
        by its size in bytes: a directory entry takes about _ENTRY_BYTES of it, and listing an
        entry costs about 1/_STATS_PER_LISTED of a stat."""
        by_prefix: dict[str, list[Digest]] = {}
        for digest in digests:
            by_prefix.setdefault(digest.hex[:2], []).append(digest)
        found: set[Digest] = set()
        for prefix, asked in by_prefix.items():
            directory = f"{self._prefix}{prefix}"
            try:
                if len(asked) < 8 or os.stat(directory).st_size > _ENTRY_BYTES * _STATS_PER_LISTED * len(asked):
                    found.update(digest for digest in asked if self.has(digest))
                    continue
                names = set(os.listdir(directory))
            except (FileNotFoundError, NotADirectoryError):  # no object of this prefix yet
                continue
            found.update(digest for digest in asked if digest.hex[2:] in names)
        return found

    def _fanout_dir(self, digest: Digest) -> str:
        prefix = digest.hex[:2]
        directory = f"{self._prefix}{prefix}"
        if prefix not in self._made_dirs:
            self._make_fanout_dir(directory)
            self._made_dirs.add(prefix)
        return directory

    def _make_fanout_dir(self, directory: str) -> None:
        """Make the directory of a new object's prefix. The first of a new cache (a clone's first
        pull or run, where no 'mlx init' made the cache) comes with the marker, as add's does."""
        try:
            os.mkdir(directory)
        except FileExistsError:
            pass
        except FileNotFoundError:
            self.create()
            os.makedirs(directory, exist_ok=True)

    # -- writing ------------------------------------------------------------------------------

    def _publish(self, fd: int, tmp: str, digest: Digest) -> None:
        try:
            os.fchmod(fd, OBJECT_MODE)  # exactly 0o444, whatever the umask
            if self.fsync_each:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self.location(digest))

    def put_bytes(self, data: bytes) -> tuple[Digest, bool]:
        """Store `data`; returns its digest and whether it was new."""
        digest = hash_bytes(data)
        return digest, self._write_new(digest, data)

    def _write_new(self, digest: Digest, data: bytes) -> bool:
        location = self.location(digest)
        try:
            created = create_new(location, data, mode=OBJECT_MODE, durable=self.fsync_each)
        except FileNotFoundError:  # the first object of its fan-out directory (asking first would
            self._make_fanout_dir(os.path.dirname(location))  # cost a mkdir per chunk and prefix)
            created = create_new(location, data, mode=OBJECT_MODE, durable=self.fsync_each)
        if created:
            return True
        self.freshen(digest)
        return False

    def put_file(self, source: str | Path, display: str, known: Digest | None = None) -> Stored:
        """Copy the file at `source` into the store (never moving it).

        `known` is the digest the stat cache remembers; when that object is present nothing is
        read. A file whose size, mtime, inode or ctime changes while it is read raises
        ChangedWhileReadingError and stores nothing.
        """
        return self.put_opened(os.open(source, os.O_RDONLY | os.O_NOFOLLOW), source, display, known)

    def put_opened(self, fd: int, source: str | Path, display: str, known: Digest | None = None) -> Stored:
        """put_file for the file already open as `fd`, which this closes."""
        try:
            before = os.fstat(fd)
            if known is not None and self.freshen(known):
                return Stored(known, before, False)
            if before.st_size < MMAP_THRESHOLD:
                return self._put_small(fd, before, display)
            return self._put_large(source, fd, before, display)
        finally:
            os.close(fd)

    def _put_small(self, fd: int, before: os.stat_result, display: str) -> Stored:
        data = os.read(fd, before.st_size + 1)
        if len(data) != before.st_size or not same_file_state(before, os.fstat(fd)):
            raise ChangedWhileReadingError(display)
        digest = hash_bytes(data)
        return Stored(digest, before, self._write_new(digest, data))

    def _put_large(self, source: str | Path, fd: int, before: os.stat_result, display: str) -> Stored:
        """Copy into a temp file (a reflink, or a copy in the kernel hashed as it lands), then name it
        by the hash of its own bytes: one read of the data, and the object hashes to its name by
        construction. A source whose stat moved during the copy may have given a torn copy: it is
        refused, not stored."""
        self.objects.mkdir(parents=True, exist_ok=True)
        tmp_fd, tmp = open_temp(self.objects, OBJECT_MODE)
        try:
            try:
                digest, copied = _clone_or_copy_hashed(fd, tmp_fd, tmp, before.st_size, durable=self.durable)
            except BaseException:
                os.close(tmp_fd)
                raise
            if copied != before.st_size or not same_file_state(before, os.fstat(fd)):
                os.close(tmp_fd)
                raise ChangedWhileReadingError(display)
            if self.freshen(digest):
                os.close(tmp_fd)
                unlink_quietly(tmp)
                return Stored(digest, before, False)
            self._fanout_dir(digest)
            self._publish(tmp_fd, tmp, digest)
        except BaseException:
            unlink_quietly(tmp)
            raise
        return Stored(digest, before, True)

    def put_expected(self, digest: Digest, data: bytes | memoryview) -> bool:
        """Store downloaded bytes that must hash to `digest`; returns whether they were new. Bytes
        that do not match raise IntegrityError and are never stored (RELIABILITY.md §6)."""
        if hash_bytes(data) != digest:
            raise IntegrityError(f"object {digest.short} does not match its hash")
        return self._write_new(digest, bytes(data))

    def download_path(self) -> str:
        """A temp name in the store for a large download, which `adopt` then checks and names."""
        if not self.objects.is_dir():
            self.create()
        return temp_name(self.objects)

    def adopt(self, temp: str, digest: Digest) -> None:
        """Name a downloaded temp file by its digest once its bytes hash to it; else delete it and
        raise IntegrityError."""
        try:
            if hash_path(temp, mapped=False) != digest:
                raise IntegrityError(f"object {digest.short} does not match its hash")
            self._fanout_dir(digest)
            fd = os.open(temp, os.O_RDONLY)
            self._publish(fd, temp, digest)
        except BaseException:
            unlink_quietly(temp)
            raise

    def freshen(self, digest: Digest) -> bool:
        """True when the object exists; touches its mtime so a grace period sees it as recent (git).

        An object hard-linked into a workspace (cache.type hardlink) is left alone: its mtime is the
        workspace file's too, and a touch would make the next status hash it again.
        """
        location = self.location(digest)
        try:
            if os.stat(location).st_nlink == 1:
                os.utime(location)
        except FileNotFoundError:
            return False
        except PermissionError:
            pass
        return True

    # -- reading ------------------------------------------------------------------------------

    def read_bytes(self, digest: Digest) -> bytes:
        try:
            return self.path(digest).read_bytes()
        except FileNotFoundError:
            raise MissingObjectError(
                f"object {digest.short} is missing from the cache", hint="re-add the data with 'mlx add' where you still have it"
            ) from None

    def read_small(self, digest: Digest, size: int) -> bytes:
        """An object of known `size`, read with two system calls (open() builds three objects per
        file: ~15 us of 30 on small files). Unverified: push hashes what it packs."""
        fd = os.open(self.location(digest), os.O_RDONLY)
        try:
            data = os.read(fd, size)
            while len(data) < size and (more := os.read(fd, size - len(data))):
                data += more
        finally:
            os.close(fd)
        return data

    def read_verified(self, digest: Digest) -> bytes:
        data = self.read_bytes(digest)
        if hash_bytes(data) != digest:
            raise IntegrityError(
                f"object {digest.short} in the cache is corrupt", hint="run 'mlx fsck --repair', then re-add the data with 'mlx add'"
            )
        return data

    def iter_objects(self) -> Iterator[tuple[Digest, str]]:
        """Every well-named object file and its path; anything else below objects/ is skipped (see
        iter_strays). Paths are str: caches hold 10^6 objects, and a Path costs microseconds each."""
        for prefix, rest, path in self._scan():
            if rest is not None:
                yield Digest(prefix + rest), path

    def iter_strays(self) -> Iterator[Path]:
        """Files below objects/ that are not objects: leftover temp files and foreign names."""
        for _prefix, rest, path in self._scan():
            if rest is None:
                yield Path(path)

    def _scan(self) -> Iterator[tuple[str, str | None, str]]:
        try:
            top = os.scandir(self.objects)
        except FileNotFoundError:
            return
        with top:
            children = list(top)
        for fanout in children:
            if not fanout.is_dir(follow_symlinks=False) or not _FANOUT.fullmatch(fanout.name):
                yield fanout.name, None, fanout.path
                continue
            with os.scandir(fanout.path) as entries:
                for entry in entries:
                    good = _REST.fullmatch(entry.name) and entry.is_file(follow_symlinks=False)
                    yield fanout.name, (entry.name if good else None), entry.path


def _clone_or_copy_hashed(src_fd: int, dst_fd: int, dst_path: str, size: int, *, durable: bool) -> tuple[Digest, int]:
    """A reflink where the file system has them (no bytes copied: hash the clone on every core),
    else a kernel copy hashed as it lands (written to disk as it lands when it must be `durable`).
    Returns the digest and the size of what was stored."""
    import fcntl

    from mlxkit.fs.links import FICLONE

    try:
        fcntl.ioctl(dst_fd, FICLONE, src_fd)
    except OSError:
        return copy_hashed(src_fd, dst_fd, dst_path, size, writeback=writeback_starter() if durable else None)
    return hash_path(dst_path, size), os.fstat(dst_fd).st_size
