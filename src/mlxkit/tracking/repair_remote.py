"""mlx fsck --remote NAME --repair: remove from a remote whatever fsck --read-data found damaged,
and every tree listing an object the remote lost, so that a push from a clone whose cache holds
them sends them again (a push takes what the remote's indexes name for present, and never looks
inside a tree the remote holds, which is what makes a push of nothing new fast).

An object is *lost* when an intact tree on the remote lists it and the remote has no intact copy
of it: none loose, none in a pack of the right size that a good index names, and none that
re-hashed right (its copies were damaged, its pack is missing or truncated, its only index is
unreadable, or its loose file was deleted). mlx trees are flat listings of files, so one level is
enough. The remote does not say which objects are trees: each intact object whose bytes begin as a
tree's does (fsck_remote reads them all, and keeps their bytes up to a bound), and
`incomplete_trees` parses those (reading again those it did not keep).
Holding the remote's lock exclusively (taken by fsck_remote before its check, which first writes
back every damaged index of which this clone has a good copy: Catalog.restore_damaged):

1. The indexes naming a copy to remove, or a pack that is missing or has another size than they
   say, are replaced by one index naming their intact packs without those entries
   (gc_cloud.replace_indexes: written before the old ones are deleted, so no reader ever misses an
   intact object). Pack files stay: a truncated pack, now named by no index, and the dead bytes of
   the others go at the next `gc --cloud`, the one command that deletes packs.
2. Index files that cannot be read and were not written back (catalog.problems: this clone has no
   good copy of them) are deleted: their objects already count as absent, their packs become
   garbage for `gc --cloud`. Another clone keeping a good copy of one no longer writes it back (a
   push restores only an index the remote lists, damaged).
3. The loose copies to remove are deleted.

Before each deletion the lock is checked to be still ours (gc_cloud.delete_locked).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mlxkit.errors import InvalidFileError, UnsupportedFormatError
from mlxkit.store.digest import Digest
from mlxkit.store.remotes.catalog import Location
from mlxkit.store.remotes.fs import RemoteNotFoundError
from mlxkit.store.remotes.layout import Entry, PackEntries, index_path, loose_path, pack_path
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

    @property
    def where(self) -> str:
        return loose_path(Digest(self.hex)) if self.pack is None else pack_path(self.pack)


@dataclass
class Scan:
    """What fsck --read-data saw: the packs the indexes name (hex -> size, entries; without those
    that `vanished` between the listing and the read) and the loose objects; the copies that did
    not match their hash, the intact ones that look like trees (and the bytes of those it kept: hex
    -> bytes), and the trees listing a lost object (tree hex -> how many of its files are lost)."""

    packs: dict[str, tuple[int, list[Entry]]]
    loose: dict[Digest, int]
    damaged: list[Copy] = field(default_factory=list)
    vanished: list[str] = field(default_factory=list)  # packs listed, then found deleted when read
    trees: list[Copy] = field(default_factory=list)
    tree_data: dict[str, bytes] = field(default_factory=dict)
    incomplete: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class RemoteRepair:
    objects: list[str]  # objects whose damaged copies were removed
    trees: list[str]  # trees removed because they list a lost object
    loose_deleted: int  # loose files deleted (damaged objects and trees)
    entries_dropped: int  # packed copies no index names any more (their bytes stay until gc --cloud)
    indexes_rewritten: int  # old index files replaced by a new one
    packs: list[str] = field(default_factory=list)  # missing or truncated packs no index names any more
    indexes_deleted: list[str] = field(default_factory=list)  # index files that could not be read
    indexes_restored: list[str] = field(default_factory=list)  # bad index files replaced by this clone's good copy

    @property
    def changed(self) -> bool:
        return bool(self.loose_deleted or self.entries_dropped or self.packs or self.indexes_deleted or self.indexes_restored)

    @property
    def removed(self) -> bool:
        return bool(self.loose_deleted or self.entries_dropped or self.packs or self.indexes_deleted)


def incomplete_trees(connection: Connection, scan: Scan) -> dict[str, list[str]]:
    """The trees among `scan.trees` that list an object the remote lost: tree hex -> the hex of
    each entry naming one. A tree whose bytes the read kept is not read again."""
    damaged = set(scan.damaged)
    intact = {copy.hex for copy in _copies(scan) if copy not in damaged}
    first = {copy.hex: copy for copy in reversed(scan.trees)}  # one copy of each to read
    found = {}
    for copy in sorted(first.values(), key=lambda copy: (copy.pack or "", copy.hex)):
        data = scan.tree_data.get(copy.hex)
        if data is None:
            location = None if copy.pack is None or copy.entry is None else Location(copy.pack, copy.entry.offset, copy.entry.length)
            try:
                data = bytes(read_copy(connection, Digest(copy.hex), location))
            except RemoteNotFoundError:
                continue  # deleted since it was read (a gc --cloud during a plain fsck): no tree to report
        try:
            tree = Tree.parse(data, f"blake3:{copy.hex}")
        except (InvalidFileError, UnsupportedFormatError):
            continue  # an ordinary file that begins like a tree
        lost = [entry.digest.hex for entry in tree.entries if entry.digest.hex not in intact]
        if lost:
            found[copy.hex] = lost
    return found


def repair_remote(connection: Connection, lock: HeldLock, scan: Scan, restored: list[str]) -> RemoteRepair:
    """Repair what `scan` found; `restored`: the bad index files fsck_remote has already replaced
    by this clone's good copy (the others are deleted here)."""
    damaged = set(scan.damaged)
    doomed = damaged | {copy for copy in _copies(scan) if copy.hex in scan.incomplete}
    dropped = {(copy.pack, copy.entry) for copy in doomed if copy.pack is not None}
    rewritten, packs = _rewrite_indexes(connection, lock, dropped, set(scan.vanished))
    invalid = [index_path(name) for name in sorted(connection.catalog.problems)]
    delete_locked(connection, lock, invalid)
    loose = sorted({copy.where for copy in doomed if copy.pack is None})
    delete_locked(connection, lock, loose)
    return RemoteRepair(
        sorted({f"blake3:{copy.hex}" for copy in damaged}), sorted(f"blake3:{hex_}" for hex_ in scan.incomplete),
        len(loose), len(dropped), rewritten, packs, invalid, [index_path(name) for name in restored],
    )


def _copies(scan: Scan) -> list[Copy]:
    """Every copy of every object on the remote (in a pack a good index names, of the right size, or loose)."""
    packed = [Copy(entry.hex, pack, entry) for pack, (_size, entries) in scan.packs.items() for entry in entries]
    return packed + [Copy(digest.hex) for digest in scan.loose]


def _rewrite_indexes(
    connection: Connection, lock: HeldLock, dropped: set[tuple[str | None, Entry | None]], vanished: set[str]
) -> tuple[int, list[str]]:
    """Replace the indexes naming a (pack, entry) of `dropped`, or a pack that is missing (from the
    listing, or `vanished` since) or of another size than they say, by one naming their intact
    packs without those entries. Returns the number of indexes replaced and the paths of the packs
    they no longer name."""
    listed = connection.catalog.packs()
    indexes = connection.catalog.indexes()

    def unusable(pack: PackEntries) -> bool:
        return pack.hex in vanished or listed.get(pack.hex) != pack.size

    affected = sorted(
        name for name, packs in indexes.items()
        if any(unusable(pack) or any((pack.hex, entry) in dropped for entry in pack.entries) for pack in packs.values())
    )  # fmt: skip
    merged: dict[str, PackEntries] = {}
    gone = set()
    for name in affected:
        for pack in indexes[name].values():
            if unusable(pack):
                gone.add(pack.hex)
                continue
            kept = [entry for entry in pack.entries if (pack.hex, entry) not in dropped]
            before = merged[pack.hex].entries if pack.hex in merged else ()
            merged[pack.hex] = PackEntries(pack.hex, pack.size, tuple(dict.fromkeys([*before, *kept])))
    if affected:
        replace_indexes(connection, lock, affected, [pack for _hex, pack in sorted(merged.items()) if pack.entries])
    named = {pack.hex for packs in indexes.values() for pack in packs.values() if not unusable(pack)}
    return len(affected), [pack_path(hex_) for hex_ in sorted(gone - named)]
