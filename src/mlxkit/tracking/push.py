"""mlx push: send the objects that the workspace (or a part of history) references to a remote.

Small objects travel in pack files and large ones loose (docs/remotes.md), in parallel. Write order
on the remote (RELIABILITY.md §2): loose file objects and every pack first, then the push's one
index, which makes the packed objects visible, and large tree objects last. Small trees ride in the
same packs, so nothing names a tree before the files it lists can be found. A tree whose files are
neither in the local cache nor on the remote is not sent at all.

The push holds the remote's lock shared: pushes run side by side (every name is a content digest),
and `gc --cloud` waits for them.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from mlxkit.fs.atomic import unlink_quietly
from mlxkit.parallel import MIN_ITEMS_FOR_PROCESSES, map_chunks
from mlxkit.progress import NULL_PROGRESS, Progress
from mlxkit.repo.repository import Repository
from mlxkit.store.digest import Digest
from mlxkit.store.objects import ObjectStore
from mlxkit.store.remotes.fs import RemoteFS
from mlxkit.store.remotes.layout import encode_index, index_path, loose_path, pack_path
from mlxkit.store.remotes.locks import remote_lock
from mlxkit.store.remotes.packs import UNLIMITED, Pack, PackBuilder
from mlxkit.tracking.connect import Connection, connect
from mlxkit.tracking.history import WORKSPACE, Scope
from mlxkit.tracking.presence import on_remote
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
    with remote_lock(connection.fs, exclusive=False, command=repo.command):
        connection.catalog.sync()
        restored = connection.catalog.restore_damaged()  # indexes damaged on the remote, good here
        # A tree reaches the remote after every file it lists (the write order below), so the files
        # of a tree the remote has need no look: a push with nothing to send reads no tree.
        trees_there = on_remote(connection, wanted.trees)
        wanted.skip(trees_there)
        wanted.expand(repo)
        unasked = [digest for digest in (*wanted.files, *wanted.trees) if digest not in trees_there]
        present = trees_there | on_remote(connection, unasked)
        plan = _plan(repo, wanted, present)
        uploaded_bytes, packs = _send(repo, connection, plan, progress)
    return PushResult(
        connection.name, wanted.count, len(plan.files) + len(plan.trees), uploaded_bytes, packs,
        len(present) + wanted.skipped_files, sorted(set(plan.missing)),
        warnings=[f"index/{name} was damaged on '{connection.name}': wrote this clone's good copy back" for name in restored],
    )


@dataclass
class _Plan:
    files: dict[Digest, int] = field(default_factory=dict)  # object -> size
    trees: dict[Digest, int] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)


def _plan(repo: Repository, wanted: Wanted, present: set[Digest]) -> _Plan:
    plan = _Plan()
    absent: set[Digest] = set()
    for digest, path in wanted.files.items():
        if digest in present:
            continue
        size = _size(repo, digest)
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
            size = _size(repo, digest)
            assert size is not None  # load_tree just read it
            plan.trees[digest] = size
    return plan


def _size(repo: Repository, digest: Digest) -> int | None:
    try:
        return os.stat(repo.store.location(digest)).st_size
    except FileNotFoundError:
        return None


def _send(repo: Repository, connection: Connection, plan: _Plan, progress: Progress) -> tuple[int, int]:
    """Upload the plan in write order; returns the bytes sent and the number of packs."""
    settings, fs, store = connection.settings, connection.fs, repo.store
    threshold = settings.pack_threshold
    total = sum(plan.files.values()) + sum(plan.trees.values())
    loose = [digest for digest, size in plan.files.items() if size >= threshold]
    packed = [(digest, size) for digest, size in (*plan.files.items(), *plan.trees.items()) if size < threshold]
    late = [digest for digest, size in plan.trees.items() if size >= threshold]
    packs: list[Pack] = []
    progress.start(f"pushing to '{connection.name}'", total, unit="bytes")
    try:
        with _Uploads(fs, progress) as uploads:
            for digest in loose:
                uploads.add(store.location(digest), loose_path(digest), plan.files[digest])
            try:
                for pack in _build_packs(repo, packed, settings.pack_size):
                    packs.append(pack)
                    uploads.add(pack.path, pack_path(pack.hex), pack.size)
                uploads.wait()
            finally:
                for pack in packs:
                    unlink_quietly(pack.path)
        if packs:
            name, data = encode_index(packs)
            fs.write(index_path(name), data)
            connection.catalog.remember(name, data)
        with _Uploads(fs, progress) as uploads:
            for digest in late:
                uploads.add(store.location(digest), loose_path(digest), plan.trees[digest])
            uploads.wait()
    finally:
        progress.finish()
    return total, len(packs)


def _build_packs(repo: Repository, packed: list[tuple[Digest, int]], pack_size: int) -> Iterator[Pack]:
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
    """Writes one pack per group of objects of the local cache (a job for parallel.map_chunks)."""

    def __init__(self, store: ObjectStore, directory: Path) -> None:
        self.store, self.directory = store, directory

    def __call__(self, groups: Sequence[list[tuple[Digest, int]]]) -> list[Pack]:
        return [self._pack(group) for group in groups]

    def _pack(self, group: list[tuple[Digest, int]]) -> Pack:
        with PackBuilder(self.directory, UNLIMITED) as builder:
            for digest, size in group:
                builder.add(digest, self.store.read_small(digest, size))
            pack = builder.finish()
        assert pack is not None
        return pack


class _Uploads:
    """Uploads on a pool of `fs.jobs` threads. The first failure stops the queue: later `add`s and
    `wait` raise it."""

    def __init__(self, fs: RemoteFS, progress: Progress) -> None:
        self._fs, self._progress = fs, progress
        self._pool = ThreadPoolExecutor(max(1, fs.jobs), thread_name_prefix="mlx-push")
        self._futures: list[Future[None]] = []
        self._failure: BaseException | None = None

    def __enter__(self) -> _Uploads:
        return self

    def __exit__(self, *exc: object) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def add(self, local_path: str | Path, remote_path: str, size: int) -> None:
        self._raise_failure()
        future = self._pool.submit(self._fs.upload, local_path, remote_path)
        future.add_done_callback(lambda done: self._finished(done, size))
        self._futures.append(future)

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
