"""mlx gc --cloud --all-commits: delete from a remote what nothing in git's history references.

Marking is local and fails closed, as for the cache: every root of the workspace and of every
commit, each directory's tree read from the local cache (so a tree that is only on the remote makes
the run stop: `mlx fetch --all-commits` first). Then, holding the remote's lock exclusively:

1. Packs whose live share is below `REPACK_BELOW` have their live objects read, re-hashed and
   written into new packs, which are uploaded.
2. One new index is written for every live packed object (in kept packs and new ones).
3. The old indexes are deleted; nothing now names the packs about to go.
4. Old packs that are dead or were repacked, packs no index named (an interrupted push's), and dead
   loose objects are deleted last.

A crash at any step leaves the remote readable: before step 3 both old and new indexes name the
live objects; after it, only new ones, and an undeleted pack is garbage for the next run.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from mlxkit.errors import IntegrityError, RemoteError, UsageError
from mlxkit.fs.atomic import unlink_quietly
from mlxkit.progress import NULL_PROGRESS, Progress
from mlxkit.repo.repository import Repository
from mlxkit.store.digest import Digest
from mlxkit.store.hashing import hash_bytes
from mlxkit.store.remotes.layout import (
    OBJECTS, Entry, PackEntries, encode_index, index_path, loose_path, pack_path, parse_loose_name,
)  # fmt: skip
from mlxkit.store.remotes.locks import HeldLock, remote_lock
from mlxkit.store.remotes.packs import Pack, PackBuilder
from mlxkit.tracking.connect import Connection, connect
from mlxkit.tracking.history import Scope
from mlxkit.tracking.roots import live_objects

REPACK_BELOW = 0.5  # a pack less than half alive is rewritten
# A directory remote's temp file this old is a killed writer's: a live push's is younger (its writes
# touch it), and one writing a lock file (before it holds the lock) lasts a moment.
STALE_TEMP_SECONDS = 24 * 3600


@dataclass(frozen=True)
class CloudGcResult:
    remote: str
    dry_run: bool
    roots: int
    kept_objects: int
    kept_bytes: int
    removed_objects: int
    removed_bytes: int  # freed: dead loose objects, deleted packs, the dead part of rewritten packs
    packs_rewritten: int
    packs_deleted: int
    indexes_replaced: int
    removed: list[str] = field(default_factory=list)  # with dry_run: what would go
    temp_files: int = 0  # a directory remote's temp files over a day old (their bytes are in removed_bytes)


def gc_cloud(
    repo: Repository, remote: str | None, scope: Scope, *, dry_run: bool = False, force: bool = False,
    progress: Progress = NULL_PROGRESS,
) -> CloudGcResult:
    if not scope.all_commits:
        raise UsageError(
            "gc --cloud deletes from a remote that every clone shares: it needs --all-commits",
            hint="run 'mlx gc --cloud --all-commits' (objects referenced by any commit are kept)",
        )
    live, roots = live_objects(repo, scope, action="gc --cloud would delete from the remote")
    connection = connect(repo, remote)
    fs, catalog = connection.fs, connection.catalog
    if connection.unmarked:
        return CloudGcResult(connection.name, dry_run, roots, 0, 0, 0, 0, 0, 0, 0)
    with remote_lock(fs, exclusive=True, command=repo.command, force=force) as lock:
        catalog.sync()
        if catalog.problems:
            raise RemoteError(
                f"remote '{connection.name}' has {len(catalog.problems)} unreadable index file(s), so nothing was deleted",
                hint=f"run 'mlx fsck --remote {connection.name}' to see them",
            )
        indexes = catalog.indexes()
        listed = catalog.packs()
        plan = _plan(indexes, listed, live)
        loose = {digest: size for name, size in fs.list(OBJECTS).items() if (digest := parse_loose_name(name))}
        dead_loose = sorted(digest for digest in loose if digest.hex not in live)
        stale_temps = _stale_temp_files(connection)
        removed_bytes = sum(loose[d] for d in dead_loose) + plan.dead_bytes + sum(stale_temps.values())
        removed = [str(d) for d in dead_loose] + [f"blake3:{hex_}" for hex_ in sorted(plan.dead_objects)]
        kept_objects = len(loose) - len(dead_loose) + len(plan.live_entries)
        kept_bytes = sum(size for digest, size in loose.items() if digest.hex in live) + sum(e.length for e, _ in plan.live_entries)
        result = CloudGcResult(
            connection.name, dry_run, roots, kept_objects, kept_bytes, len(removed), removed_bytes,
            len(plan.repack), len(plan.drop) + len(plan.repack), len(indexes) if plan.changes else 0,
            [*removed, *sorted(stale_temps)] if dry_run else [], len(stale_temps),
        )
        if dry_run:
            return result
        new_packs = _repack(repo, connection, plan, progress) if plan.repack else []
        if plan.changes:
            kept = [PackEntries(hex_, listed[hex_], tuple(entries)) for hex_, entries in sorted(plan.keep.items())]
            replace_indexes(connection, lock, indexes, [*kept, *new_packs])
            delete_locked(connection, lock, [pack_path(hex_) for hex_ in sorted(plan.drop | set(plan.repack))])
        delete_locked(connection, lock, [loose_path(digest) for digest in dead_loose])
        delete_locked(connection, lock, sorted(stale_temps))
    return result


def _stale_temp_files(connection: Connection) -> dict[str, int]:
    """A directory remote's temp files over STALE_TEMP_SECONDS old (left by killed writers): path -> size."""
    cutoff = time.time() - STALE_TEMP_SECONDS
    return {name: size for name, (size, mtime) in connection.fs.temp_files().items() if mtime < cutoff}


def replace_indexes(connection: Connection, lock: HeldLock, old: Iterable[str], packs: list[PackEntries]) -> None:
    """Write one index naming `packs` (none when there are none), then delete the `old` indexes:
    readers find every object of `packs` at every moment."""
    name = ""
    if packs:
        name, data = encode_index(packs)
        connection.fs.write(index_path(name), data)
    delete_locked(connection, lock, [index_path(index) for index in sorted(old) if index != name])


def delete_locked(connection: Connection, lock: HeldLock, paths: list[str]) -> None:
    """Delete `paths`, if this command still holds its lock (whoever broke it may be writing what
    this one is about to delete)."""
    if paths:
        lock.check(
            "it deleted nothing more", hint=f"run 'mlx fsck --remote {connection.name}', then the command again"
        )
        connection.fs.delete(paths)


@dataclass
class _Plan:
    keep: dict[str, list[Entry]] = field(default_factory=dict)  # pack -> its live entries
    repack: dict[str, list[Entry]] = field(default_factory=dict)  # pack -> live entries to move
    drop: set[str] = field(default_factory=set)  # packs to delete: dead, or named by no index
    live_entries: list[tuple[Entry, str]] = field(default_factory=list)
    dead_objects: set[str] = field(default_factory=set)
    dead_bytes: int = 0

    @property
    def changes(self) -> bool:
        return bool(self.repack or self.drop or self.dead_objects)


def _plan(indexes: dict[str, dict[str, PackEntries]], listed: dict[str, int], live: set[str]) -> _Plan:
    plan = _Plan()
    where: dict[str, tuple[str, Entry]] = {}  # object -> the one pack copy to keep
    entries_of: dict[str, list[Entry]] = {}
    for packs in indexes.values():
        for pack in packs.values():
            if listed.get(pack.hex) == pack.size:
                entries_of.setdefault(pack.hex, []).extend(pack.entries)
    for pack_hex, entries in sorted(entries_of.items()):
        alive = []
        for entry in {entry.hex: entry for entry in entries}.values():
            if entry.hex in live and entry.hex not in where:
                where[entry.hex] = (pack_hex, entry)
                alive.append(entry)
            elif entry.hex not in live:
                plan.dead_objects.add(entry.hex)
        live_bytes = sum(entry.length for entry in alive)
        plan.live_entries.extend((entry, pack_hex) for entry in alive)
        if not alive:
            plan.drop.add(pack_hex)
        elif live_bytes < listed[pack_hex] * REPACK_BELOW:
            plan.repack[pack_hex] = alive
        else:
            plan.keep[pack_hex] = alive  # its dead objects leave the index; their bytes stay
            continue
        plan.dead_bytes += listed[pack_hex] - live_bytes
    orphans = {hex_ for hex_ in listed if hex_ not in entries_of}  # left by interrupted pushes
    plan.drop.update(orphans)
    plan.dead_bytes += sum(listed[hex_] for hex_ in orphans)
    return plan


def _repack(repo: Repository, connection: Connection, plan: _Plan, progress: Progress) -> list[Pack]:
    """Read the live objects of the packs to rewrite (each re-hashed), write and upload new packs."""
    fs = connection.fs
    done: list[Pack] = []
    progress.start(f"repacking on '{connection.name}'", sum(len(e) for e in plan.repack.values()), unit="objects")
    try:
        with PackBuilder(repo.tmp_dir, connection.settings.pack_size) as builder:
            for pack_hex, entries in sorted(plan.repack.items()):
                ranges = [(entry.offset, entry.offset + entry.length) for entry in entries]
                for entry, data in zip(entries, fs.read_ranges(pack_path(pack_hex), ranges)):
                    if hash_bytes(data).hex != entry.hex:
                        raise IntegrityError(
                            f"object {entry.hex[:12]} in {pack_path(pack_hex)} at offset {entry.offset} is corrupt, so nothing was deleted",
                            hint=f"run 'mlx fsck --remote {connection.name} --read-data', and push the object again",
                        )
                    pack = builder.add(Digest(entry.hex), data)
                    if pack is not None:
                        done.append(pack)
                    progress.advance()
            last = builder.finish()
            if last is not None:
                done.append(last)
        for pack in done:
            fs.upload(pack.path, pack_path(pack.hex))
    finally:
        for pack in done:
            unlink_quietly(pack.path)
        progress.finish()
    return done
