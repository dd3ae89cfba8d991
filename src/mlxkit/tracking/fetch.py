"""mlx fetch: bring the objects that the workspace (or a part of history) references from a remote
into the local cache, without touching the workspace (`mlx pull` checks out afterwards).

Trees come first (a fresh clone has none, and only they say which files a directory holds), then
the files. Packed objects are read as coalesced byte ranges of their packs, a few large requests per
pack, never one per object. Every object is hashed before it enters the cache; one that does not
match is reported with its pack and offset and never stored, and the rest are still fetched. The
counts account for every referenced object: fetched, already in the cache (trees too), or missing.
A place without a marker holds nothing mlx knows of: everything is missing there, with a warning.
"""

from __future__ import annotations

import os
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from mlxkit.cyclegc import collector_paused
from mlxkit.errors import IntegrityError
from mlxkit.fs.atomic import unlink_quietly
from mlxkit.parallel import MIN_ITEMS_FOR_PROCESSES, map_chunks
from mlxkit.progress import NULL_PROGRESS, Progress
from mlxkit.repo.repository import Repository
from mlxkit.store.digest import Digest
from mlxkit.store.objects import ObjectStore
from mlxkit.store.remotes.layout import loose_path, pack_path
from mlxkit.store.remotes.packs import plan_reads
from mlxkit.tracking.connect import Connection, connect
from mlxkit.tracking.history import WORKSPACE, Scope
from mlxkit.tracking.presence import loose_sizes
from mlxkit.tracking.roots import Root
from mlxkit.tracking.wanted import wanted_objects

# A read of more than this is split (at object boundaries): jobs x this bounds the memory in flight.
MAX_READ = 8 << 20
UNPACK_CHUNK = 2000  # objects per task of a pack's unpacking: ~0.1 s of work
T = TypeVar("T")


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
    warnings: list[str] = field(default_factory=list)  # a remote without a marker, each bad index
    bad_indexes: int = 0  # indexes on the remote that could not be read: what they list was not found

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
    durable: bool = True,
) -> FetchResult:
    """Without `durable`, the caller makes the fetched objects durable (repo.make_objects_durable)
    before it reports success: `mlx pull` does it while it checks out."""
    wanted = wanted_objects(repo, targets, scope=scope, cwd=cwd, extra=extra_roots)
    connection = connect(repo, remote, jobs=jobs)
    if not connection.unmarked:
        connection.catalog.sync()
    fetcher = _Fetcher(repo, connection, progress)
    fetcher.present += len(wanted.trees) - len(wanted.unexpanded)  # the trees already in the cache
    fetcher.get(dict(wanted.unexpanded), "trees")
    wanted.expand(repo)
    fetcher.missing.extend(wanted.unexpanded.values())  # trees that could not be brought
    with repo.flushing_objects():
        fetcher.get(wanted.files, "files")
    if fetcher.fetched and durable:
        repo.make_objects_durable()
    if wanted.trees and not fetcher.missing and not fetcher.corrupt:
        _mark_complete(repo, wanted.trees)
    return FetchResult(
        connection.name, wanted.count, fetcher.fetched, fetcher.fetched_bytes, fetcher.present,
        sorted(set(fetcher.missing)), list(fetcher.corrupt.values()), warnings=[*repo.warnings, *connection.reader_warnings()],
        bad_indexes=len(connection.catalog.problems),
    )


def _mark_complete(repo: Repository, trees: Iterable[Digest]) -> None:
    """Every object of these trees is in the cache now (each was there, or was fetched and
    verified): record it, so that the checkout of `mlx pull` need not stat them all again
    (10^5 of them for a large directory, while the new objects are being written out)."""
    repo.state.mark_complete(trees, repo.store.generation())


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
        self.corrupt: dict[str, str] = {}  # hex digest -> a line saying which copy is corrupt
        self._count_lock = threading.Lock()

    def get(self, objects: dict[Digest, str], what: str) -> None:
        store, catalog = self.repo.store, self.connection.catalog
        present = store.present(objects)
        needed = {digest: path for digest, path in objects.items() if digest not in present}
        self.present += len(objects) - len(needed)
        if self.connection.unmarked:  # the place holds nothing mlx knows of
            self.missing.extend(needed.values())
            return
        copy, retried = 0, set()
        while needed:  # an object in several packs whose copy was damaged is read from the next one
            self._transfer(needed, what, copy)
            copy += 1
            needed = {digest: path for digest, path in needed.items() if len(catalog.locations(digest)) > copy and not store.has(digest)}
            retried.update(needed)
        for digest in retried:
            if store.has(digest):  # its damaged copy was reported: not a problem after all
                self.corrupt.pop(digest.hex, None)

    def _transfer(self, needed: dict[Digest, str], what: str, copy: int) -> None:
        reads = list(self._plan(needed, copy))
        whole = [read for read in reads if read.start is not None and read.size > MAX_READ]
        self.progress.start(f"fetching {what} from '{self.connection.name}'", sum(read.size for read in reads), unit="bytes")
        try:
            self._in_threads(self._run, [read for read in reads if read not in whole])
            jobs = max(1, self.connection.fs.jobs)
            for first in range(0, len(whole), jobs):
                self._unpack_packs(whole[first : first + jobs])
        finally:
            self.progress.finish()

    def _in_threads(self, function: Callable[[_Read], T], reads: list[_Read]) -> list[T]:
        """`function` of every read, on the remote's `jobs` threads; the first failure cancels the rest."""
        if not reads:
            return []
        with ThreadPoolExecutor(max(1, self.connection.fs.jobs), thread_name_prefix="mlx-fetch") as pool:
            futures = [pool.submit(function, read) for read in reads]
            try:
                for future in as_completed(futures):
                    future.result()
            except BaseException:
                pool.shutdown(wait=True, cancel_futures=True)
                for future in futures:  # what did succeed (an open file, say) is the caller's to undo
                    if future.done() and not future.cancelled() and future.exception() is None:
                        self._undo(future.result())
                raise
        return [future.result() for future in futures]

    def _undo(self, result: object) -> None:
        if isinstance(result, int):
            os.close(result)

    def _unpack_packs(self, reads: list[_Read]) -> None:
        """Whole packs: downloaded side by side (a local remote's packs are read in place), then
        unpacked by forked workers, since verifying and storing 10^4 small objects is CPU work."""
        scratch = self.repo.tmp_dir
        scratch.mkdir(parents=True, exist_ok=True)
        fds = self._in_threads(lambda read: self.connection.fs.open_local(read.path, scratch), reads)
        try:
            with collector_paused():  # the packs are here: from now on, only the local disk
                # One set of workers for all the packs, in chunks small enough that both end together
                items = [(n, *entry) for n, read in enumerate(reads) for entry in sorted(read.objects, key=lambda item: item[1])]
                jobs = self.repo.jobs if len(items) >= MIN_ITEMS_FOR_PROCESSES else 1
                job = _Unpack(self.repo.store, fds, [read.path for read in reads])
                for stored, stored_bytes, span, corrupt in map_chunks(job, items, jobs=jobs, chunk=_unpack_chunk(len(items), jobs)):
                    self._tally(stored, stored_bytes, corrupt)
                    self.progress.advance(span)
        finally:
            for fd in fds:
                os.close(fd)

    def _plan(self, needed: dict[Digest, str], copy: int = 0) -> Iterator[_Read]:
        catalog = self.connection.catalog
        by_pack: dict[str, list[tuple[Digest, int, int]]] = defaultdict(list)
        loose = []
        for digest in needed:
            location = catalog.locate(digest) if copy == 0 else catalog.locations(digest)[copy]
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
        found = loose_sizes(self.connection, loose)  # the catalog has none of them
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
        data = self.connection.fs.read_ranges(read.path, [(read.start, read.end)])[0]
        self._tally(*store_objects(self.repo.store, memoryview(data), read.start, read.objects, read.path))
        self.progress.advance(read.end - read.start)

    def _run_loose(self, read: _Read) -> None:
        digest = read.objects[0][0]
        temp = self.repo.store.download_path()
        try:
            self.connection.fs.download(read.path, temp)
            size = os.stat(temp).st_size
            self.repo.store.adopt(temp, digest)  # removes the temp file when the bytes do not match
        except IntegrityError:
            self.corrupt[digest.hex] = f"object {digest.short} at {read.path} is corrupt"
            return
        except BaseException:
            unlink_quietly(temp)
            raise
        self._tally(1, size, [])
        self.progress.advance(size)

    def _tally(self, stored: int, stored_bytes: int, corrupt: list[tuple[str, str]]) -> None:
        with self._count_lock:  # called from the pool's threads
            self.fetched += stored
            self.fetched_bytes += stored_bytes
            self.corrupt.update(corrupt)


class _Unpack:
    """Verifies and stores objects of packs open as `fds`, a chunk at a time, MAX_READ bytes per
    read (a job for parallel.map_chunks: forked workers inherit the descriptors). An item is
    (index of its pack in `fds`, digest, offset, length), sorted by pack and offset."""

    def __init__(self, store: ObjectStore, fds: Sequence[int], packs: Sequence[str]) -> None:
        self.store, self.fds, self.packs = store, fds, packs

    def __call__(self, items: Sequence[tuple[int, Digest, int, int]]) -> tuple[int, int, int, list[tuple[str, str]]]:
        stored = stored_bytes = span = 0
        corrupt: list[tuple[str, str]] = []
        first = 0
        while first < len(items):
            pack, start, last = items[first][0], items[first][2], first
            while last + 1 < len(items) and items[last + 1][0] == pack and items[last + 1][2] + items[last + 1][3] - start <= MAX_READ:
                last += 1
            end = items[last][2] + items[last][3]
            view = memoryview(os.pread(self.fds[pack], end - start, start))
            objects = [item[1:] for item in items[first : last + 1]]
            counts = store_objects(self.store, view, start, objects, self.packs[pack])
            stored, stored_bytes, span = stored + counts[0], stored_bytes + counts[1], span + end - start
            corrupt += counts[2]
            first = last + 1
        return stored, stored_bytes, span, corrupt


def _unpack_chunk(items: int, jobs: int) -> int:
    """Objects per task: about four tasks per worker, so that no worker is left alone at the end,
    and at most UNPACK_CHUNK (~0.1 s of work) so that progress moves."""
    return max(1, min(UNPACK_CHUNK, -(-items // (4 * jobs))))


def store_objects(
    store: ObjectStore, view: memoryview, start: int, objects: Sequence[tuple[Digest, int, int]], pack: str
) -> tuple[int, int, list[tuple[str, str]]]:
    """Store the objects that `view` (the pack's bytes from `start`) holds, each re-hashed first;
    returns how many were stored, their bytes, and (hex digest, a line) for each one that is corrupt."""
    stored = stored_bytes = 0
    corrupt = []
    for digest, offset, length in objects:
        piece = view[offset - start : offset - start + length]
        try:
            if len(piece) != length:
                raise IntegrityError("short read")
            store.put_expected(digest, piece)
        except IntegrityError:
            corrupt.append((digest.hex, f"object {digest.short} in {pack} at offset {offset} is corrupt"))
            continue
        stored += 1
        stored_bytes += length
    return stored, stored_bytes, corrupt


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
