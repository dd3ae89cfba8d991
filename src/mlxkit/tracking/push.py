"""mlx push: send the objects that the workspace (or a part of history) references to a remote.

Small objects travel in pack files and large ones loose (docs/remotes.md), in parallel. Write order
on the remote (RELIABILITY.md §2): loose file objects and every pack first, then the push's one
index, which makes the packed objects visible, and large tree objects last. Small trees ride in the
same packs, so nothing names a tree before the files it lists can be found. A tree whose files are
neither in the local cache nor on the remote is not sent at all.

Every object is hashed before it is sent (RELIABILITY.md §6): a corrupt cache object is not sent,
nor a tree that lists one, and the push reports it. An object the remote holds with another size
than the local one is damaged there, and is sent again.

The push holds the remote's lock shared: pushes run side by side (every name is a content digest),
and `gc --cloud` waits for them. Before it publishes the index (and again before the large trees),
it checks that its lock was not broken and that what it uploaded is still there: a `gc --cloud
--force` may have deleted it, and an index naming deleted packs would be a lie.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from mlxkit.errors import RemoteError
from mlxkit.fs.atomic import unlink_quietly
from mlxkit.parallel import MIN_ITEMS_FOR_PROCESSES, map_chunks
from mlxkit.progress import NULL_PROGRESS, Progress
from mlxkit.repo.repository import Repository
from mlxkit.store.digest import Digest
from mlxkit.store.hashing import hash_bytes, hash_path
from mlxkit.store.objects import ObjectStore
from mlxkit.store.remotes.fs import RemoteFS
from mlxkit.store.remotes.layout import PACKS, PackEntries, canonical_packs, encode_index, index_path, loose_path, pack_path
from mlxkit.store.remotes.locks import HeldLock, remote_lock
from mlxkit.store.remotes.packs import UNLIMITED, Pack, PackBuilder
from mlxkit.tracking.connect import Connection, connect
from mlxkit.tracking.history import WORKSPACE, Scope
from mlxkit.tracking.presence import cache_sizes, intact_on_remote, loose_sizes, vouched_sizes
from mlxkit.tracking.roots import Root
from mlxkit.tracking.trees import load_tree
from mlxkit.tracking.wanted import Wanted, wanted_objects


@dataclass(frozen=True)
class PushResult:
    remote: str
    objects: int  # objects referenced
    uploaded: int
    uploaded_bytes: int
    packs: int
    present: int  # already on the remote
    missing: list[str] = field(default_factory=list)  # tracked paths with objects in neither place
    run_cache_entries: int = 0  # with --run-cache: entries sent after their objects
    warnings: list[str] = field(default_factory=list)
    corrupt: list[str] = field(default_factory=list)  # one line each: a cache object that was not sent


def push(
    repo: Repository,
    remote: str | None = None,
    targets: list[str] | None = None,
    *,
    scope: Scope = WORKSPACE,
    jobs: int | None = None,
    cwd: Path | None = None,
    progress: Progress = NULL_PROGRESS,
    extra_roots: Iterable[Root] = (),
) -> PushResult:
    wanted = wanted_objects(repo, targets, scope=scope, cwd=cwd, extra=extra_roots, expand=False)
    connection = connect(repo, remote, jobs=jobs, create=True)
    with remote_lock(connection.fs, exclusive=False, command=repo.command) as lock:
        connection.catalog.sync()
        restored = connection.catalog.restore_damaged()  # indexes damaged on the remote, good here
        # A tree reaches the remote after every file it lists (the write order below), so the files
        # of a tree the remote has need no look: a push with nothing to send reads no tree.
        sizes = cache_sizes(repo.store, wanted.trees)
        trees_there = intact_on_remote(connection, sizes)
        wanted.skip(trees_there)
        wanted.expand(repo)
        sizes.update(vouched_sizes(repo, [tree for tree in wanted.trees if tree not in trees_there]))
        sizes.update(cache_sizes(repo.store, [digest for digest in wanted.files if digest not in sizes]))
        unasked = {digest: sizes[digest] for digest in (*wanted.files, *wanted.trees) if digest not in trees_there}
        present = trees_there | intact_on_remote(connection, unasked)
        plan = _plan(repo, wanted, present, sizes)
        sent = _send(repo, connection, lock, plan, progress)
    corrupt = [_corrupt_line(repo, digest, plan.path_of(digest)) for digest in sorted(sent.corrupt)]
    return PushResult(
        connection.name, wanted.count, len(plan.files) + len(plan.trees) - len(sent.unsent), sent.bytes, sent.packs,
        len(present) + wanted.skipped_files, sorted(set(plan.missing)), corrupt=corrupt,
        warnings=[
            *repo.warnings,
            *(f"index/{name} was damaged on '{connection.name}': wrote this clone's good copy back" for name in restored),
        ],
    )


def _corrupt_line(repo: Repository, digest: Digest, path: str) -> str:
    return f"'{path}': object {digest.short} in the cache ({repo.store.location(digest)}) does not match its hash: not pushed"


@dataclass
class _Plan:
    files: dict[Digest, int] = field(default_factory=dict)  # object -> size
    trees: dict[Digest, int] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    listed: dict[Digest, frozenset[Digest]] = field(default_factory=dict)  # each tree sent -> its files
    paths: dict[Digest, str] = field(default_factory=dict)  # object -> the tracked path naming it

    def path_of(self, digest: Digest) -> str:
        return self.paths.get(digest, digest.short)


def _plan(repo: Repository, wanted: Wanted, present: set[Digest], sizes: dict[Digest, int | None]) -> _Plan:
    plan = _Plan(paths={**wanted.files, **wanted.trees})
    absent: set[Digest] = set()
    for digest, path in wanted.files.items():
        if digest in present:
            continue
        size = sizes[digest]
        if size is None:
            absent.add(digest)
            plan.missing.append(path)
        else:
            plan.files[digest] = size
    for digest, path in wanted.trees.items():
        if digest in present:
            continue
        tree = load_tree(repo.store, digest, missing_ok=True)
        if tree is None:
            plan.missing.append(path)
        elif not any(entry.digest in absent for entry in tree.entries):
            size = sizes[digest]
            assert size is not None  # load_tree just read it
            plan.trees[digest] = size
            plan.listed[digest] = frozenset(entry.digest for entry in tree.entries)
    return plan


@dataclass
class _Sent:
    bytes: int = 0
    packs: int = 0
    corrupt: set[Digest] = field(default_factory=set)  # cache objects that do not match their name
    unsent: set[Digest] = field(default_factory=set)  # those, and the trees listing them


def _send(repo: Repository, connection: Connection, lock: HeldLock, plan: _Plan, progress: Progress) -> _Sent:
    """Upload the plan in write order, checking before each publication that the lock still holds
    and that what it names is there."""
    settings, fs, store = connection.settings, connection.fs, repo.store
    threshold = settings.pack_threshold
    total = sum(plan.files.values()) + sum(plan.trees.values())
    loose = [digest for digest, size in plan.files.items() if size >= threshold]
    packed = [(digest, size) for digest, size in (*plan.files.items(), *plan.trees.items()) if size < threshold]
    late = [digest for digest, size in plan.trees.items() if size >= threshold]
    packs: list[Pack] = []
    sent = _Sent()
    progress.start(f"pushing to '{connection.name}'", total, unit="bytes")
    try:
        with _Uploads(fs, progress) as uploads:
            for digest in loose:
                uploads.add(store.location(digest), loose_path(digest), plan.files[digest], digest)
            try:
                for built in _build_packs(repo, packed, settings.pack_size):
                    sent.corrupt.update(built.corrupt)
                    if built.pack is not None:
                        packs.append(built.pack)
                        uploads.add(built.pack.path, pack_path(built.pack.hex), built.pack.size)
                uploads.wait()
            finally:
                for pack in packs:
                    unlink_quietly(pack.path)
            sent.corrupt.update(uploads.corrupt)
        sent.unsent = sent.corrupt | {tree for tree, files in plan.listed.items() if files & sent.corrupt}
        _check_still_there(connection, lock, packs, [digest for digest in loose if digest not in sent.corrupt], "the push's index")
        published = _without(packs, sent.unsent)
        if published:
            indexed = canonical_packs(published)
            name, data = encode_index(indexed.values())
            fs.write(index_path(name), data)
            connection.catalog.remember(name, data, indexed)
        late = [digest for digest in late if digest not in sent.unsent]
        with _Uploads(fs, progress) as uploads:
            for digest in late:
                uploads.add(store.location(digest), loose_path(digest), plan.trees[digest], digest)
            uploads.wait()
            sent.corrupt.update(uploads.corrupt)
            sent.unsent.update(uploads.corrupt)
        if late:
            _check_still_there(connection, lock, [], [digest for digest in late if digest not in sent.corrupt], "its last step")
    finally:
        progress.finish()
    sizes = {**plan.files, **plan.trees}
    sent.bytes = total - sum(sizes[digest] for digest in sent.unsent)
    sent.packs = len(published)
    return sent


def _without(packs: list[Pack], unsent: set[Digest]) -> list[PackEntries]:
    """The packs as the index names them: without the objects that must not become visible (their
    bytes stay in the pack, dead, until `gc --cloud` rewrites it), and without a pack left with none
    (garbage, which `gc --cloud` removes)."""
    hexes = {digest.hex for digest in unsent}
    kept = [PackEntries(pack.hex, pack.size, tuple(entry for entry in pack.entries if entry.hex not in hexes)) for pack in packs]
    return [pack for pack in kept if pack.entries]


def _check_still_there(connection: Connection, lock: HeldLock, packs: list[Pack], loose: list[Digest], publication: str) -> None:
    """RemoteError (exit 22) when this push's lock was broken, or a file it uploaded is gone: a
    `gc --cloud --force` took it for garbage. Nothing more is published; a new push sends it again."""
    if not packs and not loose:
        return
    hint = "run the push again: it sends what is missing"
    lock.check(f"{publication} was not written", hint)
    listed = connection.fs.list(PACKS) if packs else {}
    gone = [pack_path(pack.hex) for pack in packs if listed.get(f"{pack.hex}.pack") != pack.size]
    there = loose_sizes(connection, loose)
    gone += [loose_path(digest) for digest in loose if digest not in there]
    if gone:
        raise RemoteError(
            f"{len(gone)} file(s) this push uploaded to remote '{connection.name}' are gone ({gone[0]}, ...), "
            f"so {publication} was not written",
            hint=hint,
        )


class _Built(NamedTuple):
    pack: Pack | None  # None when every object of the group was corrupt
    corrupt: list[Digest]


def _build_packs(repo: Repository, packed: list[tuple[Digest, int]], pack_size: int) -> Iterator[_Built]:
    """The packs of `packed`, each as soon as it is complete. Reading 10^5 small objects costs ~30 us
    each in Python, so many objects are packed by forked workers, one group each: groups of a CPU's
    share of the bytes (at most `pack_size`), so that every CPU has a pack to build."""
    jobs = repo.jobs if len(packed) >= MIN_ITEMS_FOR_PROCESSES else 1
    target = min(pack_size, -(-sum(size for _d, size in packed) // jobs))
    groups: list[list[tuple[Digest, int]]] = [[]]
    filled = 0
    for item in packed:
        if filled >= target:
            groups.append([])
            filled = 0
        groups[-1].append(item)
        filled += item[1]
    job = _PackGroups(repo.store, repo.tmp_dir)
    for built in map_chunks(job, groups if packed else [], jobs=jobs, chunk=1, min_items=2):
        yield from built


class _PackGroups:
    """Writes one pack per group of objects of the local cache, each object hashed as it is read
    (a job for parallel.map_chunks)."""

    def __init__(self, store: ObjectStore, directory: Path) -> None:
        self.store, self.directory = store, directory

    def __call__(self, groups: Sequence[list[tuple[Digest, int]]]) -> list[_Built]:
        return [self._pack(group) for group in groups]

    def _pack(self, group: list[tuple[Digest, int]]) -> _Built:
        corrupt = []
        with PackBuilder(self.directory, UNLIMITED) as builder:
            for digest, size in group:
                data = self.store.read_small(digest, size)
                if hash_bytes(data) == digest:
                    builder.add(digest, data)
                else:
                    corrupt.append(digest)
            return _Built(builder.finish(), corrupt)


class _Uploads:
    """Uploads on a pool of `fs.jobs` threads. The first failure stops the queue: later `add`s and
    `wait` raise it."""

    def __init__(self, fs: RemoteFS, progress: Progress) -> None:
        self._fs, self._progress = fs, progress
        self._pool = ThreadPoolExecutor(max(1, fs.jobs), thread_name_prefix="mlx-push")
        self._futures: list[Future[None]] = []
        self._failure: BaseException | None = None
        self.corrupt: list[Digest] = []

    def __enter__(self) -> _Uploads:
        return self

    def __exit__(self, *exc: object) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def add(self, local_path: str | Path, remote_path: str, size: int, digest: Digest | None = None) -> None:
        """Upload a file; with `digest`, only if the file's bytes hash to it (else it goes to `corrupt`)."""
        self._raise_failure()
        future = self._pool.submit(self._upload, local_path, remote_path, size, digest)
        future.add_done_callback(lambda done: self._finished(done, size))
        self._futures.append(future)

    def _upload(self, local_path: str | Path, remote_path: str, size: int, digest: Digest | None) -> None:
        # read, not mapped: a mapping of a 1 GiB object counted 1 GiB in the push's resident memory
        if digest is not None and hash_path(local_path, size, mapped=False) != digest:
            self.corrupt.append(digest)  # list.append is atomic: no lock needed between the threads
            return
        self._fs.upload(local_path, remote_path)

    def wait(self) -> None:
        for future in self._futures:
            failure = None if future.cancelled() else future.exception()  # waits for it
            if failure is not None and self._failure is None:
                self._failure = failure  # its callback may not have run yet
            self._raise_failure()  # at once: the queued uploads are cancelled, not tried in turn

    def _finished(self, future: Future[None], size: int) -> None:
        if future.cancelled():
            return
        if future.exception() is None:
            self._progress.advance(size)
        elif self._failure is None:
            self._failure = future.exception()

    def _raise_failure(self) -> None:
        if self._failure is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            raise self._failure
