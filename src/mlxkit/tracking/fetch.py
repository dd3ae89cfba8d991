"""mlx fetch: bring the objects that the workspace (or a part of history) references from a remote
into the local cache, without touching the workspace (`mlx pull` checks out afterwards).

Trees come first (a fresh clone has none, and only they say which files a directory holds), then
the files. Packed objects are read as coalesced byte ranges of their packs, a few large requests per
pack, never one per object. Every object is hashed before it enters the cache; one that does not
match is reported with its pack and offset and never stored, and the rest are still fetched.
"""

from __future__ import annotations

import os
import threading
from collections import defaultdict
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from mlxkit.errors import IntegrityError
from mlxkit.fs.atomic import temp_name, unlink_quietly
from mlxkit.progress import NULL_PROGRESS, Progress
from mlxkit.repo.repository import Repository
from mlxkit.store.digest import Digest
from mlxkit.store.remotes.layout import loose_path, pack_path
from mlxkit.store.remotes.packs import plan_reads
from mlxkit.tracking.connect import Connection, connect
from mlxkit.tracking.history import WORKSPACE, Scope
from mlxkit.tracking.presence import remote_sizes
from mlxkit.tracking.roots import Root
from mlxkit.tracking.wanted import wanted_objects

# A read of more than this is split (at object boundaries): jobs x this bounds the memory in flight.
MAX_READ = 8 << 20


@dataclass(frozen=True)
class FetchResult:
    remote: str
    objects: int  # objects referenced
    fetched: int
    fetched_bytes: int
    present: int  # already in the local cache
    missing: list[str] = field(default_factory=list)  # tracked paths whose objects the remote lacks
    corrupt: list[str] = field(default_factory=list)  # one line each: the object, its pack and offset
    run_cache_entries: int = 0  # with --run-cache: entries brought
    warnings: list[str] = field(default_factory=list)

    @property
    def is_complete(self) -> bool:
        return not self.missing and not self.corrupt


def fetch(
    repo: Repository,
    remote: str | None = None,
    targets: list[str] | None = None,
    *,
    scope: Scope = WORKSPACE,
    jobs: int | None = None,
    cwd: Path | None = None,
    progress: Progress = NULL_PROGRESS,
    extra_roots: Iterable[Root] = (),
) -> FetchResult:
    wanted = wanted_objects(repo, targets, scope=scope, cwd=cwd, extra=extra_roots)
    connection = connect(repo, remote, jobs=jobs)
    connection.catalog.sync()
    fetcher = _Fetcher(repo, connection, progress)
    fetcher.get(dict(wanted.unexpanded), "trees")
    wanted.expand(repo)
    fetcher.missing.extend(wanted.unexpanded.values())  # trees that could not be brought
    fetcher.get(wanted.files, "files")
    if fetcher.fetched:
        repo.make_objects_durable()
    return FetchResult(
        connection.name, wanted.count, fetcher.fetched, fetcher.fetched_bytes, fetcher.present,
        sorted(set(fetcher.missing)), fetcher.corrupt,
    )


@dataclass
class _Read:
    """One request: a byte range of a pack (or a whole loose object) and the objects inside it."""

    path: str
    start: int | None  # None: a loose object, downloaded to a file
    end: int | None
    size: int  # bytes transferred
    objects: list[tuple[Digest, int, int]]  # digest, offset in the pack, length


class _Fetcher:
    def __init__(self, repo: Repository, connection: Connection, progress: Progress) -> None:
        self.repo, self.connection, self.progress = repo, connection, progress
        self.fetched = self.fetched_bytes = self.present = 0
        self.missing: list[str] = []
        self.corrupt: list[str] = []
        self._count_lock = threading.Lock()

    def get(self, objects: dict[Digest, str], what: str) -> None:
        store = self.repo.store
        needed = {digest: path for digest, path in objects.items() if not store.has(digest)}
        self.present += len(objects) - len(needed)
        if not needed:
            return
        reads = list(self._plan(needed))
        self.progress.start(f"fetching {what} from '{self.connection.name}'", sum(read.size for read in reads), unit="bytes")
        try:
            with ThreadPoolExecutor(max(1, self.connection.fs.jobs), thread_name_prefix="mlx-fetch") as pool:
                futures = [pool.submit(self._run, read) for read in reads]
                try:
                    for future in as_completed(futures):
                        future.result()
                except BaseException:
                    pool.shutdown(wait=True, cancel_futures=True)
                    raise
        finally:
            self.progress.finish()

    def _plan(self, needed: dict[Digest, str]) -> Iterator[_Read]:
        catalog = self.connection.catalog
        by_pack: dict[str, list[tuple[Digest, int, int]]] = defaultdict(list)
        loose = []
        for digest in needed:
            location = catalog.locate(digest)
            if location is None:
                loose.append(digest)
            else:
                by_pack[location.pack].append((digest, location.offset, location.length))
        sizes = catalog.packs()
        for pack, entries in sorted(by_pack.items()):
            for start, end, inside in plan_reads(entries, sizes[pack]):
                read = _Read(pack_path(pack), start, end, end - start, list(inside))
                if (start, end) == (0, sizes[pack]):
                    # A whole pack is one streamed download into a temp file: a server may pay for
                    # each ranged GET in proportion to the whole object (moto does), and memory
                    # stays bounded however large the pack.
                    yield read
                else:
                    yield from _split(read)
        found = remote_sizes(self.connection, loose) if loose else {}
        for digest in loose:
            if digest in found:
                yield _Read(loose_path(digest), None, None, found[digest], [(digest, 0, found[digest])])
            else:
                self.missing.append(needed[digest])

    def _run(self, read: _Read) -> None:
        if read.start is None:
            self._run_loose(read)
            return
        assert read.end is not None
        if read.end - read.start > MAX_READ:
            self._run_whole_pack(read)
            return
        data = self.connection.fs.read_ranges(read.path, [(read.start, read.end)])[0]
        self._store_pieces(read, memoryview(data))
        self.progress.advance(read.end - read.start)

    def _run_whole_pack(self, read: _Read) -> None:
        temp = temp_name(self.repo.tmp_dir)
        try:
            self.connection.fs.download(read.path, temp)
            with open(temp, "rb", buffering=0) as handle:
                for window in _split(read):  # MAX_READ at a time: memory stays bounded, not the pack's size
                    assert window.start is not None
                    self._store_pieces(window, memoryview(os.pread(handle.fileno(), window.size, window.start)))
        finally:
            unlink_quietly(temp)
        self.progress.advance(read.size)

    def _store_pieces(self, read: _Read, view: memoryview) -> None:
        assert read.start is not None
        for digest, offset, length in read.objects:
            try:
                self._store_piece(digest, view[offset - read.start : offset - read.start + length], length)
            except IntegrityError:
                self.corrupt.append(f"object {digest.short} in {read.path} at offset {offset} is corrupt")
                continue
            self._done(length)

    def _store_piece(self, digest: Digest, piece: memoryview, length: int) -> None:
        if len(piece) != length:
            raise IntegrityError("short read")
        self.repo.store.put_expected(digest, piece)

    def _run_loose(self, read: _Read) -> None:
        digest = read.objects[0][0]
        temp = self.repo.store.download_path()
        try:
            self.connection.fs.download(read.path, temp)
            size = os.stat(temp).st_size
            self.repo.store.adopt(temp, digest)  # removes the temp file when the bytes do not match
        except IntegrityError:
            self.corrupt.append(f"object {digest.short} at {read.path} is corrupt")
            return
        except BaseException:
            unlink_quietly(temp)
            raise
        self._done(size)
        self.progress.advance(size)

    def _done(self, size: int) -> None:
        with self._count_lock:  # called from the pool's threads
            self.fetched += 1
            self.fetched_bytes += size


def _split(read: _Read) -> Iterator[_Read]:
    """Cut a long range at object boundaries into reads of at most MAX_READ (one object may exceed it)."""
    assert read.start is not None and read.end is not None
    if read.end - read.start <= MAX_READ:
        yield read
        return
    group: list[tuple[Digest, int, int]] = []
    for entry in sorted(read.objects, key=lambda item: item[1]):
        if group and entry[1] + entry[2] - group[0][1] > MAX_READ:
            yield _group(read.path, group)
            group = []
        group.append(entry)
    if group:
        yield _group(read.path, group)


def _group(path: str, objects: list[tuple[Digest, int, int]]) -> _Read:
    start, end = objects[0][1], objects[-1][1] + objects[-1][2]
    return _Read(path, start, end, end - start, objects)
