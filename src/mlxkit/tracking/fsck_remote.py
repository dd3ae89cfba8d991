"""mlx fsck --remote NAME [--read-data]: check a remote as `restic check` does.

Without --read-data it costs three listings: every index must match its name and be well formed
(an index this clone has read before is downloaded again when the remote's size differs from its
copy's), and every pack an index names must exist with the size the index says. With --read-data
every index is downloaded again and checked against its name, and every pack and loose object is
read back (packs as a few large ranges) and every object re-hashed, keeping the bytes of those
that begin like a tree (up to TREE_MEMORY; beyond it they are read again); then every tree is
parsed, and one that lists an object the remote holds no intact copy of is an "incomplete tree" (a
loose file deleted by hand is found this way). The listings are not one snapshot and a plain fsck
takes no lock, so a push running meanwhile can show a tree whose files were published after the
listing that should have shown them: before reporting a tree, the objects it lacks that no listing
showed are looked for again (`index/` and `packs/` listed again, only new indexes downloaded, and
the loose ones probed). A `gc --cloud` running meanwhile (it takes the lock exclusively, but a
plain fsck takes none, so that read-only credentials can run it) replaces the indexes and then
deletes packs and loose objects: fsck may then find a pack its listing of `index/` names missing
from that of `packs/`, or a pack or loose object gone when it reads it. So a pack or loose object
gone since its listing leaves the check (the objects in it are not there; a pack is a missing pack
unless this starts the check over), a tree the remote no longer holds is not reported, and a check
that found a problem lists `index/` again: if an index it used is gone, the indexes were replaced
and it starts over (at most CHECK_TRIES times, then RemoteError: the remote kept changing). A
missing pack that the indexes of the last check still name is damage, reported as such.

Without `repair` nothing is written on the remote. Packs no index names (left by an interrupted
push) are garbage, not errors: the next `gc --cloud` removes them. So are a directory remote's
temp files, which `gc --cloud` removes once they are a day old. A place without a marker is not an
mlx remote: it is refused, as a cache without one is.

With `repair` (which reads the data), the check runs holding the remote's lock exclusively (no
push or gc can run: nothing is looked for again, and the check is not started over). First every
index damaged on the remote of which this clone keeps a good copy (its bytes hash to its name) is
written back, so that the check counts its objects; then every problem found is repaired
(tracking/repair_remote.py), for a push to send again what was removed. A remote holding an index
in a newer format than this mlx reads is left alone.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace

from mlxkit.errors import RemoteError, UnsupportedFormatError
from mlxkit.progress import NULL_PROGRESS, Progress
from mlxkit.repo.repository import Repository
from mlxkit.store.digest import Digest
from mlxkit.store.hashing import hash_bytes
from mlxkit.store.remotes.fs import RemoteNotFoundError
from mlxkit.store.remotes.layout import INDEX, MARKER, OBJECTS, Entry, loose_path, pack_path, parse_loose_name
from mlxkit.store.remotes.locks import remote_lock
from mlxkit.store.tree import TREE_HEAD
from mlxkit.tracking.connect import Connection, connect
from mlxkit.tracking.fsck import FsckProblem
from mlxkit.tracking.presence import loose_sizes
from mlxkit.tracking.repair_remote import Copy, RemoteRepair, Scan, incomplete_trees, repair_remote

READ_LIMIT = 8 << 20  # bytes of one pack read at a time
TREE_MEMORY = 64 << 20  # bytes of trees kept from the read, for incomplete_trees not to read them again
CHECK_TRIES = 3  # checks made while a gc --cloud replaces the indexes, before saying the remote keeps changing


@dataclass(frozen=True)
class RemoteFsckResult:
    remote: str
    read_data: bool
    indexes: int  # index files, good or not
    packs: int
    loose: int
    objects_checked: int  # re-hashed (with read_data)
    bytes_checked: int
    problems: list[FsckProblem]
    garbage: list[str] = field(default_factory=list)  # packs no index names, stray names, temp files
    garbage_bytes: int = 0
    repaired: RemoteRepair | None = None  # with repair: what was removed
    invalid_indexes: int = 0  # index files that cannot be read (each is a problem)

    @property
    def is_clean(self) -> bool:
        return not self.problems

    @property
    def remaining(self) -> list[FsckProblem]:
        """The problems a repair did not remove (all of them without one: a repair removes every kind)."""
        return self.problems if self.repaired is None else []


def fsck_remote(
    repo: Repository, remote: str | None = None, *, read_data: bool = False, repair: bool = False, force: bool = False,
    progress: Progress = NULL_PROGRESS,
) -> RemoteFsckResult:
    """`repair` implies `read_data`; `force` (with `repair`) breaks a stale lock."""
    connection = connect(repo, remote)
    if connection.unmarked:
        raise UnsupportedFormatError(
            f"remote '{connection.name}' ({connection.fs.url}) has no {MARKER}: it holds nothing mlx knows of",
            hint="'mlx push' writes the marker (and makes readable again what was pushed there before it was deleted)",
        )
    catalog = connection.catalog
    if not repair:
        return _check_unlocked(connection, read_data, progress)
    with remote_lock(connection.fs, exclusive=True, command=repo.command, force=force) as lock:
        catalog.sync(reread=True)
        newer = catalog.newer_format()
        if newer:
            raise UnsupportedFormatError(
                f"remote '{connection.name}' has {len(newer)} index file(s) in a newer format than this mlx reads "
                f"(index/{newer[0]}), so nothing was repaired",
                hint="upgrade mlx, then run the repair again",
            )
        invalid = dict(catalog.problems)
        # First, so that the check sees the remote as the restore leaves it: the objects of a
        # restored index are there, and what is wrong in it (a missing pack) is repaired below.
        restored = catalog.restore_damaged(partial=True)
        result, scan = _check(connection, True, invalid, progress, recheck=False)
        return replace(result, repaired=repair_remote(connection, lock, scan, restored))


class _IndexesReplaced(Exception):
    """An index file the check used is no longer on the remote: its results may be stale."""


def _check_unlocked(connection: Connection, read_data: bool, progress: Progress) -> RemoteFsckResult:
    """The check without the lock, started over (at most CHECK_TRIES times) when it found a problem
    while an index it used was deleted: a gc --cloud (or a repair) replaced the indexes meanwhile."""
    catalog = connection.catalog
    for _ in range(CHECK_TRIES):
        catalog.sync(reread=read_data)
        try:
            return _check(connection, read_data, dict(catalog.problems), progress, recheck=True)[0]
        except _IndexesReplaced:
            continue
    raise RemoteError(
        f"remote '{connection.name}' kept changing while fsck checked it: its indexes were replaced {CHECK_TRIES} times "
        "(a 'gc --cloud' or 'fsck --repair' running), so nothing is reported",
        hint="run the check again once that command is done",
    )


def _check(
    connection: Connection, read_data: bool, invalid: dict[str, str], progress: Progress, *, recheck: bool
) -> tuple[RemoteFsckResult, Scan]:
    """Check the remote as the catalog's last sync listed it; `invalid`: the index files found bad
    then (name -> problem). `recheck` (no lock is held): look again for the objects an incomplete
    tree lacks (a push running meanwhile may have made them visible after the listings), and raise
    _IndexesReplaced when a problem was found and an index the check used is gone."""
    catalog = connection.catalog
    used = set(catalog.indexes()) | set(catalog.problems)
    problems = [FsckProblem("invalid index", None, f"index/{name}", problem) for name, problem in sorted(invalid.items())]
    listed = catalog.packs()
    named: dict[str, tuple[int, list[Entry]]] = {}
    for name, packs in sorted(catalog.indexes().items()):
        for pack in packs.values():
            size = listed.get(pack.hex)
            if size is None:
                problems.append(FsckProblem("missing pack", None, pack_path(pack.hex), f"named by index/{name}"))
            elif size != pack.size:
                problems.append(FsckProblem(
                    "truncated pack", None, pack_path(pack.hex), f"{size} bytes, index/{name} says {pack.size}"
                ))  # fmt: skip
            else:
                named.setdefault(pack.hex, (size, []))[1].extend(pack.entries)
    indexes = len(catalog.indexes()) + len(catalog.problems)
    restorable = {pack for packs in catalog.restorable().values() for pack in packs}  # not garbage: push writes their index back
    garbage = {pack_path(hex_): listed[hex_] for hex_ in sorted(set(listed) - set(named) - restorable)}
    loose = {}
    for name, size in connection.fs.list(OBJECTS).items():
        digest = parse_loose_name(name)
        if digest is None:
            garbage[f"{OBJECTS}/{name}"] = size
        else:
            loose[digest] = size
    # a directory remote's temp files: left by a killed push (or being written by one running now)
    garbage.update((name, size) for name, (size, _mtime) in sorted(connection.fs.temp_files().items()))
    checked = checked_bytes = 0
    scan = Scan(named, loose)
    if read_data:
        checked, checked_bytes = _read_data(connection, scan, problems, progress)
        lost = incomplete_trees(connection, scan)
        if recheck and lost:
            lost = _still_lost(connection, scan, lost)
        scan.incomplete = {tree: len(children) for tree, children in lost.items()}
        problems.extend(_incomplete_problems(scan))
        problems.sort(key=lambda problem: (problem.where, problem.detail))
    if recheck and problems and _gone(connection, used):
        raise _IndexesReplaced
    result = RemoteFsckResult(
        connection.name, read_data, indexes, len(named), len(loose), checked, checked_bytes, problems, list(garbage),
        sum(garbage.values()), invalid_indexes=len(invalid),
    )
    return result, scan


def _gone(connection: Connection, indexes: set[str]) -> bool:
    """Whether any of `indexes` is no longer listed in `index/` (one listing)."""
    return bool(indexes - set(connection.fs.list(INDEX)))


def _still_lost(connection: Connection, scan: Scan, lost: dict[str, list[str]]) -> dict[str, list[str]]:
    """`lost` (tree hex -> each object it lists that the remote holds no intact copy of) without
    the objects the check's listings did not show and the remote shows now. The listings are not
    one snapshot: a push running meanwhile writes a tree after the files it lists (a loose file
    listed after its tree was, an index listed before the push wrote it). Objects whose copies were
    found damaged stay lost; nothing that appeared since is re-hashed. A tree the remote no longer
    holds is left out: a gc --cloud running meanwhile deletes a dead tree and the files it lists."""
    seen = {entry.hex for _size, entries in scan.packs.values() for entry in entries} | {digest.hex for digest in scan.loose}
    unseen = sorted({hex_ for children in lost.values() for hex_ in children} - seen)
    if not unseen:
        return lost
    connection.catalog.sync()  # lists index/ and packs/ again, and downloads only the indexes it has not seen
    there = _on_remote(connection, unseen)
    trees = _on_remote(connection, sorted(lost))  # a gc --cloud deletes a dead tree with its files
    still = {tree: [hex_ for hex_ in children if hex_ not in there] for tree, children in lost.items() if tree in trees}
    return {tree: children for tree, children in still.items() if children}


def _on_remote(connection: Connection, hexes: list[str]) -> set[str]:
    """Those of `hexes` the remote holds now, as the catalog's last sync found its packs, or loose (probed)."""
    digests = [Digest(hex_) for hex_ in hexes]
    there = {digest.hex for digest in digests if connection.catalog.locate(digest) is not None}
    return there | {digest.hex for digest in loose_sizes(connection, [digest for digest in digests if digest.hex not in there])}


def _incomplete_problems(scan: Scan) -> list[FsckProblem]:
    """One problem for each tree listing a lost object, where its first copy is."""
    where = {copy.hex: copy.where for copy in reversed(scan.trees)}
    return [
        FsckProblem("incomplete tree", hex_, where[hex_], f"lists {lost} object(s) of which the remote has no intact copy")
        for hex_, lost in sorted(scan.incomplete.items())
    ]


def _read_data(connection: Connection, scan: Scan, problems: list[FsckProblem], progress: Progress) -> tuple[int, int]:
    """Re-hash every object of `scan`; a damaged copy is a problem and goes to `scan.damaged`, an
    intact one that begins like a tree to `scan.trees`, and its bytes to `scan.tree_data` while
    they fit in TREE_MEMORY (incomplete_trees reads the others again). A pack or loose object gone
    since it was listed leaves `scan` (its objects are not there): a missing pack is a problem."""
    packs, loose = scan.packs, scan.loose
    fs = connection.fs
    total = sum(size for size, _ in packs.values()) + sum(loose.values())
    progress.start(f"reading '{connection.name}'", total, unit="bytes")
    counts = [0, 0, 0]  # objects, bytes, bytes of trees kept
    gone_loose: list[Digest] = []  # deleted since they were listed
    lock = threading.Lock()  # the checks run in the pool's threads

    def keep_tree(copy: Copy, data: bytes | memoryview) -> None:
        with lock:
            scan.trees.append(copy)
            if copy.hex not in scan.tree_data and counts[2] + len(data) <= TREE_MEMORY:
                scan.tree_data[copy.hex] = bytes(data)
                counts[2] += len(data)

    def count(objects: int, size: int) -> None:
        with lock:
            counts[0] += objects
            counts[1] += size
        progress.advance(size)

    def check_pack(item: tuple[str, tuple[int, list[Entry]]]) -> None:
        pack, (size, entries) = item
        for start, end, group in _windows(sorted(set(entries), key=lambda entry: entry.offset)):
            try:
                data = memoryview(fs.read_ranges(pack_path(pack), [(start, end)])[0])
            except RemoteNotFoundError:
                problems.append(FsckProblem("missing pack", None, pack_path(pack), "deleted since it was listed"))
                scan.vanished.append(pack)
                return
            for entry in group:
                piece = data[entry.offset - start : entry.offset - start + entry.length]
                if len(piece) != entry.length or hash_bytes(piece).hex != entry.hex:
                    problems.append(FsckProblem("corrupt", entry.hex, pack_path(pack), f"at offset {entry.offset}"))
                    scan.damaged.append(Copy(entry.hex, pack, entry))
                elif piece[: len(TREE_HEAD)] == TREE_HEAD:
                    keep_tree(Copy(entry.hex, pack, entry), piece)
            count(len(group), end - start)

    def check_loose(digest: Digest) -> None:
        try:
            data = fs.read(loose_path(digest))
        except RemoteNotFoundError:
            gone_loose.append(digest)
            return
        if hash_bytes(data) != digest:
            problems.append(FsckProblem("corrupt", digest.hex, loose_path(digest)))
            scan.damaged.append(Copy(digest.hex))
        elif data.startswith(TREE_HEAD):
            keep_tree(Copy(digest.hex), data)
        count(1, len(data))

    try:
        with ThreadPoolExecutor(max(1, fs.jobs), thread_name_prefix="mlx-fsck") as pool:
            list(pool.map(check_pack, sorted(packs.items())))
            list(pool.map(check_loose, sorted(loose)))
    finally:
        progress.finish()
    for pack in scan.vanished:
        del packs[pack]
    for digest in gone_loose:
        del loose[digest]
    problems.sort(key=lambda problem: (problem.where, problem.detail))
    return counts[0], counts[1]


def _windows(entries: list[Entry]) -> list[tuple[int, int, list[Entry]]]:
    """Consecutive reads of at most READ_LIMIT bytes (or one object) covering `entries`."""
    windows: list[tuple[int, int, list[Entry]]] = []
    group: list[Entry] = []
    for entry in entries:
        if group and entry.offset + entry.length - group[0].offset > READ_LIMIT:
            windows.append((group[0].offset, max(e.offset + e.length for e in group), group))
            group = []
        group.append(entry)
    if group:
        windows.append((group[0].offset, max(e.offset + e.length for e in group), group))
    return windows
