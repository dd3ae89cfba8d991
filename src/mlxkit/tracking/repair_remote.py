"""mlx fsck --remote NAME --repair: remove from a remote the object copies that `--read-data` found
damaged, and every tree listing an object of which no intact copy is left, so that a push from a
clone whose cache holds them sends them again (a push takes what the remote holds for present, and
never looks inside a tree the remote holds, which is what makes a push of nothing new fast).

The remote does not say which objects are trees: each intact object whose bytes begin as a tree's
does (fsck_remote reads them all), and those are read again and parsed when an object was lost.
Holding the remote's lock exclusively (taken by fsck_remote before its check):

1. The indexes naming a copy to remove are replaced by one index naming the same packs without
   those entries (gc_cloud.replace_indexes: written before the old ones are deleted, so no reader
   ever misses an intact object). The packs stay: their dead bytes go at the next `gc --cloud`.
2. The loose copies to remove are deleted.

Before each deletion the lock is checked to be still ours (gc_cloud.delete_locked).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mlxkit.errors import InvalidFileError, UnsupportedFormatError
from mlxkit.store.digest import Digest
from mlxkit.store.remotes.catalog import Location
from mlxkit.store.remotes.layout import Entry, PackEntries, loose_path
from mlxkit.store.remotes.locks import HeldLock
from mlxkit.store.tree import Tree
from mlxkit.tracking.connect import Connection
from mlxkit.tracking.gc_cloud import delete_locked, replace_indexes
from mlxkit.tracking.presence import read_copy


@dataclass(frozen=True)
class Copy:
    """One copy of an object on a remote: `entry` of pack `pack`, or loose (`pack` None)."""

    hex: str
    pack: str | None = None
    entry: Entry | None = None


@dataclass
class Scan:
    """What fsck --read-data saw: the packs the indexes name (hex -> size, entries) and the loose
    objects; the copies that did not match their hash, and the intact ones that look like trees."""

    packs: dict[str, tuple[int, list[Entry]]]
    loose: dict[Digest, int]
    damaged: list[Copy] = field(default_factory=list)
    trees: list[Copy] = field(default_factory=list)


@dataclass(frozen=True)
class RemoteRepair:
    objects: list[str]  # objects whose damaged copies were removed
    trees: list[str]  # trees removed because they list an object of which no intact copy is left
    loose_deleted: int  # loose files deleted (damaged objects and trees)
    entries_dropped: int  # packed copies no index names any more (their bytes stay until gc --cloud)
    indexes_rewritten: int  # old index files replaced by a new one

    @property
    def changed(self) -> bool:
        return bool(self.loose_deleted or self.entries_dropped)


def repair_remote(connection: Connection, lock: HeldLock, scan: Scan) -> RemoteRepair:
    damaged = set(scan.damaged)
    lost = {copy.hex for copy in damaged} - {copy.hex for copy in _copies(scan) if copy not in damaged}
    trees = _trees_listing(connection, scan.trees, lost)
    doomed = damaged | {copy for copy in _copies(scan) if copy.hex in trees}
    dropped = {(copy.pack, copy.entry) for copy in doomed if copy.pack is not None}
    rewritten = _drop_entries(connection, lock, dropped)
    loose = sorted({loose_path(Digest(copy.hex)) for copy in doomed if copy.pack is None})
    delete_locked(connection, lock, loose)
    return RemoteRepair(sorted({f"blake3:{copy.hex}" for copy in damaged}), sorted(f"blake3:{hex_}" for hex_ in trees),
                        len(loose), len(dropped), rewritten)  # fmt: skip


def _copies(scan: Scan) -> list[Copy]:
    """Every copy of every object on the remote (in a pack an index names, of the right size, or loose)."""
    packed = [Copy(entry.hex, pack, entry) for pack, (_size, entries) in scan.packs.items() for entry in entries]
    return packed + [Copy(digest.hex) for digest in scan.loose]


def _trees_listing(connection: Connection, candidates: list[Copy], lost: set[str]) -> set[str]:
    """The trees among `candidates` (intact copies that begin as a tree does) that list an object of `lost`."""
    if not lost:
        return set()
    first = {copy.hex: copy for copy in reversed(candidates)}  # one copy of each to read
    found = set()
    for copy in sorted(first.values(), key=lambda copy: (copy.pack or "", copy.hex)):
        location = None if copy.pack is None or copy.entry is None else Location(copy.pack, copy.entry.offset, copy.entry.length)
        data = read_copy(connection, Digest(copy.hex), location)
        try:
            tree = Tree.parse(bytes(data), f"blake3:{copy.hex}")
        except (InvalidFileError, UnsupportedFormatError):
            continue  # an ordinary file that begins like a tree
        if any(entry.digest.hex in lost for entry in tree.entries):
            found.add(copy.hex)
    return found


def _drop_entries(connection: Connection, lock: HeldLock, dropped: set[tuple[str | None, Entry | None]]) -> int:
    """Replace the indexes naming a (pack, entry) of `dropped` by one naming the same packs without
    them; the number of indexes replaced."""
    if not dropped:
        return 0
    indexes = connection.catalog.indexes()
    affected = sorted(
        name for name, packs in indexes.items()
        if any((pack.hex, entry) in dropped for pack in packs.values() for entry in pack.entries)
    )  # fmt: skip
    merged: dict[str, PackEntries] = {}
    for name in affected:
        for pack in indexes[name].values():
            kept = [entry for entry in pack.entries if (pack.hex, entry) not in dropped]
            before = merged[pack.hex].entries if pack.hex in merged else ()
            merged[pack.hex] = PackEntries(pack.hex, pack.size, tuple(dict.fromkeys([*before, *kept])))
    replace_indexes(connection, lock, affected, [pack for _hex, pack in sorted(merged.items()) if pack.entries])
    return len(affected)
