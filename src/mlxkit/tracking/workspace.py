"""What a tracked path holds right now: its digest, and its entries for a directory.

The Scanner hashes only what the stat cache cannot vouch for, and in `store` mode copies each new
file into the object store as it goes (`mlx add`). A directory is scanned by groups (fs/walk.py: the
files of one directory, or one share of a large one), each fingerprinted where it was statted:

- when every group's fingerprint is the one recorded last time, the combined fingerprint finds the
  tree's digest in the stat cache: one scan and one lookup, whatever the size;
- otherwise only the groups whose fingerprint changed send their stats back; their files are looked
  up in the stat cache (and hashed where it cannot vouch for them), and the other groups' entries
  come from their records. A tree of 10^5 files with one changed file costs one scan, one group's
  stats and a hash of that one file.

In store mode a shortcut also needs every object to be in the cache: the tree's, or a group's,
completeness mark at the cache's current generation (see StatCache), checked file by file otherwise.

A Scanner given `on_pointer_files` hands it the pointer files the scan met inside a directory, before
anything of that directory is stored: `mlx add` refuses there, without walking the directory twice.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from mlxkit.cyclegc import collector_paused
from mlxkit.errors import MlxError, UnsafePathError
from mlxkit.fs.atomic import writeback_starter
from mlxkit.fs.confine import RepoPath, check_no_symlinks, unsafe_reason
from mlxkit.fs.readahead import opened_ahead
from mlxkit.fs.walk import FileStat, Group, as_file_stat, combined_fingerprint, scan, scan_with_pointer_files
from mlxkit.parallel import map_chunks
from mlxkit.progress import NULL_PROGRESS, Progress
from mlxkit.repo.repository import Repository
from mlxkit.store.digest import Digest
from mlxkit.store.hashing import MMAP_THRESHOLD, hash_paths
from mlxkit.store.objects import ObjectStore
from mlxkit.store.state import FileRow, GroupEntry, GroupRecord, TreeRecord, is_trusted, settled_ns
from mlxkit.tracking.trees import Listing


@dataclass
class Counters:
    files_hashed: int = 0
    files_from_state: int = 0
    objects_written: int = 0
    objects_skipped: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Snapshot:
    """A tracked path as it is in the workspace. `digest` is None when the path is missing, or when
    it holds something mlx cannot track (see `problem`). A directory's `listing` is there when its
    entries were read (anything changed, or `with_listing`); Scanner.listing_of gives it otherwise."""

    target: RepoPath
    digest: Digest | None
    size: int = 0
    files: int | None = None
    executable: bool = False
    listing: Listing | None = None
    problem: str | None = None

    @property
    def exists(self) -> bool:
        return self.digest is not None or self.problem is not None


# One file's outcome: repository path, its stat, digest hex, hashed?, written?, stable while read?
# FileStats cross process boundaries as plain tuples (half the pickling cost), see as_file_stat.
Outcome = tuple[str, FileStat, str, bool, bool, bool]
WorkItem = tuple[str, FileStat, FileRow | None]  # repository path, stat, stat-cache row


class Scanner:
    def __init__(
        self,
        repo: Repository,
        *,
        store: bool,
        counters: Counters | None = None,
        progress: Progress = NULL_PROGRESS,
        on_pointer_files: Callable[[RepoPath, list[RepoPath]], None] | None = None,
    ) -> None:
        """`on_pointer_files(directory, pointer_files)`: called after a directory's scan when it holds
        pointer files (as find_pointer_files finds them, sorted), before anything of it is stored."""
        self.repo = repo
        self.root = repo.root
        self.store_mode = store
        self.counters = counters or Counters()
        self.progress = progress
        self.on_pointer_files = on_pointer_files
        self._generation: int | None = None  # read when first needed, again after storing
        self.has_written_objects = False  # whether the cache needs a durability barrier (store mode)
        # The last directory whose digest came from its fingerprints alone, and its scan: see listing_of.
        self._last: tuple[Snapshot, list[Group], dict[str, GroupRecord]] | None = None

    # -- entry point --------------------------------------------------------------------------

    @collector_paused()
    def snapshot(self, target: RepoPath, *, with_listing: bool = False) -> Snapshot:
        """`with_listing`: a directory's Snapshot carries its entries even when the fingerprints
        alone would have given the digest (to list what changed inside it)."""
        check_no_symlinks(self.root, target.posix)
        path = target.on_disk(self.root)
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            return Snapshot(target, None)
        if stat.S_ISDIR(st.st_mode):
            return self._directory(target, with_listing)
        if stat.S_ISLNK(st.st_mode):
            linked = self._cache_link(str(path))
            if linked is None:
                return self._refuse_links(target, [target.posix])
            self.counters.files_from_state += 1
            return Snapshot(target, linked[0], linked[1])
        if not stat.S_ISREG(st.st_mode):
            raise MlxError(f"'{target}' is not a regular file or directory", hint="mlx tracks files and directories")
        file_stat = FileStat.of(target.posix, st)
        row = self.repo.state.file_rows_for([target.posix]).get(target.posix)
        (outcome,) = list(self._hash_all(target.posix, [(target.posix, file_stat, row)]))
        return Snapshot(target, Digest(outcome[2]), st.st_size, executable=file_stat.is_executable)

    def listing_of(self, snapshot: Snapshot) -> Listing | None:
        """A directory snapshot's entries. For the snapshot this Scanner took last, they come from
        the records of the scan that gave its digest (no second scan, and the entries are those of
        the digest); for any other, the directory is scanned again."""
        last, self._last = self._last, None
        if snapshot.listing is not None or snapshot.problem is not None:
            return snapshot.listing
        if last is None or last[0] is not snapshot:
            return self.snapshot(snapshot.target, with_listing=True).listing
        counters, self.counters = self.counters, Counters()  # its files were counted when it was taken
        try:
            return self._entries(snapshot.target, last[1], last[2]).listing
        finally:
            self.counters = counters

    def generation(self) -> int:
        """The cache's generation (ObjectStore.generation), read once, and again after storing."""
        if self._generation is None:
            self._generation = self.repo.store.generation()
        return self._generation

    # -- directories --------------------------------------------------------------------------

    def _directory(self, target: RepoPath, with_listing: bool) -> Snapshot:
        state = self.repo.state
        records = state.group_records(target.posix)
        known = {key: r.fingerprint for key, r in records.items()}
        if self.on_pointer_files is None:
            groups = scan(self.root, target.posix, known, jobs=self.repo.jobs)
        else:
            groups, pointer_files = scan_with_pointer_files(self.root, target.posix, known, jobs=self.repo.jobs)
            parsed = _repo_paths(pointer_files)
            if parsed:
                self.on_pointer_files(target, parsed)
        if not with_listing:
            tree = state.tree_record(target.posix, combined_fingerprint(groups))
            if tree is not None and (not self.store_mode or state.is_complete(tree.digest, self.generation())):
                self.counters.files_from_state += tree.files
                if self.store_mode:
                    self.counters.objects_skipped += tree.files
                snapshot = Snapshot(target, tree.digest, tree.size, files=tree.files)
                self._last = (snapshot, groups, records)
                return snapshot
        return self._entries(target, groups, records)

    def _entries(self, target: RepoPath, groups: list[Group], records: dict[str, GroupRecord]) -> Snapshot:
        stored = self._recorded_entries(target, groups, records)
        if any(group.stats is None and group.key not in stored for group in groups):
            # A record changed or was damaged since the scan, or names an object the cache lacks:
            # scan again, with only the records that can be used.
            kept = {group.key: group.fingerprint for group in groups if group.key in stored}
            groups = scan(self.root, target.posix, kept, jobs=self.repo.jobs)
        return self._assemble(target, groups, records, stored)

    def _recorded_entries(self, target: RepoPath, groups: list[Group], records: dict[str, GroupRecord]) -> dict[str, list[GroupEntry]]:
        """The recorded entries of the groups the scan found unchanged. In store mode, a group whose
        objects were not all seen at the cache's current generation is checked object by object,
        and left out when one is missing (its files are then stored again from the workspace)."""
        matched = {group.key: group.fingerprint for group in groups if group.stats is None}
        stored = self.repo.state.group_entries(target.posix, matched) if matched else {}
        if self.store_mode:
            store, generation = self.repo.store, self.generation()
            for key in [k for k in stored if records[k].generation != generation]:
                if not all(store.has(Digest(entry[1])) for entry in stored[key]):
                    del stored[key]
        return stored

    def _assemble(
        self, target: RepoPath, groups: list[Group], records: dict[str, GroupRecord], stored: dict[str, list[GroupEntry]]
    ) -> Snapshot:
        """Entries of every group: recorded ones for unchanged groups, the stat cache's or a hash's
        for the files of changed ones; then the tree, and the records for next time."""
        changed = [group for group in groups if group.stats is not None]
        links = {
            st.relpath: self._cache_link(f"{self.root}/{target}/{st.relpath}")
            for group in changed
            for st in group.stats or ()
            if st.is_link
        }
        # Before anything is stored: links that are not mlx's own are refused (in status, reported),
        # and so are names a tree cannot hold.
        foreign = sorted(f"{target}/{relpath}" for relpath, linked in links.items() if linked is None)
        if foreign:
            return self._refuse_links(target, foreign)
        for group in changed:
            _check_names(target, group.stats or [])
        entries: dict[str, list[GroupEntry]] = {}
        for group in groups:
            if group.stats is None:
                entries[group.key] = stored.pop(group.key)
                self._count_recorded(len(entries[group.key]))
        unstable = self._changed_entries(target, changed, links, entries)
        listing = Listing(sorted(
            (prefix + name, hex_digest, size, x)
            for group in groups
            for prefix in (group.prefix_in(target.posix),)
            for name, hex_digest, size, x in entries[group.key]
        ))
        for group in groups:
            if group.stats is None:
                del entries[group.key]  # recorded already (10^5 of them: make room for the tree's bytes)
        self._record(target, groups, records, entries, listing, unstable)
        return Snapshot(target, listing.digest, listing.size, files=listing.files, listing=listing)

    def _changed_entries(
        self,
        target: RepoPath,
        changed: list[Group],
        links: dict[str, tuple[Digest, int] | None],
        entries: dict[str, list[GroupEntry]],
    ) -> set[str]:
        """Fill in the entries of the changed groups: a cache link's object, the stat cache's digest,
        or a hash (and, in store mode, the object). Returns the groups with a file that changed while
        it was hashed: they are reported, not recorded."""
        rows = self.repo.state.file_rows_for([f"{target}/{st.relpath}" for group in changed for st in group.stats or ()])
        work: list[WorkItem] = []
        owner: dict[str, tuple[str, str]] = {}  # repository path being hashed -> its group, its name
        for group in changed:
            found = entries[group.key] = []
            cut = len(group.prefix_in(target.posix))
            for st in group.stats or ():
                repo_path, linked = f"{target}/{st.relpath}", links.get(st.relpath)
                row = rows.get(repo_path)
                if linked is not None:
                    found.append((st.relpath[cut:], linked[0].hex, linked[1], False))
                    self.counters.files_from_state += 1
                elif not self.store_mode and row is not None and is_trusted(row, st):
                    found.append((st.relpath[cut:], row.hex, st.size, st.is_executable))
                    self.counters.files_from_state += 1
                else:
                    work.append((repo_path, st, row))
                    owner[repo_path] = (group.key, st.relpath[cut:])
        unstable = set()
        for repo_path, file_stat, hex_digest, _hashed, _written, stable in self._hash_all(target.posix, work):
            key, name = owner[repo_path]
            entries[key].append((name, hex_digest, file_stat.size, file_stat.is_executable))
            if not stable:
                unstable.add(key)
        return unstable

    def _count_recorded(self, files: int) -> None:
        self.counters.files_from_state += files
        if self.store_mode:
            self.counters.objects_skipped += files

    def _record(
        self,
        target: RepoPath,
        groups: list[Group],
        records: dict[str, GroupRecord],
        entries: dict[str, list[GroupEntry]],
        listing: Listing,
        unstable: set[str],
    ) -> None:
        """Store the tree (store mode), then record the changed groups and the tree for next time;
        in store mode every group is marked complete at the generation the cache has now."""
        state = self.repo.state
        generation = 0
        if self.store_mode:
            if self.repo.store.put_bytes(listing.data)[1]:
                self._generation = None
                self.has_written_objects = True
            generation = self.generation()  # every object was just seen or written
            state.mark_complete([listing.digest], generation)
        matched = [group.key for group in groups if group.stats is None]
        settled = {key: records[key].settled_ns for key in matched}
        fresh = []
        for group in groups:
            if group.stats is not None and group.key not in unstable:
                settled[group.key] = settled_ns(st.mtime_ns for st in group.stats)
                fresh.append((group.key, group.fingerprint, settled[group.key], generation, entries[group.key]))
        state.record_groups(fresh)
        if self.store_mode:
            state.mark_groups_complete([key for key in matched if records[key].generation != generation], generation)
        if not unstable:
            record = TreeRecord(listing.digest, listing.size, listing.files)
            state.record_tree(target.posix, combined_fingerprint(groups), record, max(settled.values(), default=0))

    # -- hashing and storing --------------------------------------------------------------------

    def _hash_all(self, label: str, work: list[WorkItem]) -> Iterator[Outcome]:
        """Digest every work item (from the stat cache where it vouches, else by hashing, storing
        the bytes in `store` mode) and record what was learnt. Outcomes are yielded chunk by chunk
        as workers finish them, so that 10^5 of them are never held at once."""
        if not work:
            return
        if self.store_mode or any(not is_trusted(row, st) for _p, st, row in work):
            self.progress.start(f"{'adding' if self.store_mode else 'hashing'} {label}", total=len(work))
        job = _HashChunk(self.repo.store, self.root, self.store_mode)
        if self.store_mode and self.repo.store.durable and any(st.size >= MMAP_THRESHOLD for _p, st, _r in work):
            writeback_starter()  # loaded before map_chunks forks its workers, which copy large files with it
        try:
            plain = [(path, tuple(st), row) for path, st, row in work]
            for done in map_chunks(job, plain, jobs=self.repo.jobs):
                done = [(path, as_file_stat(st), *rest) for path, st, *rest in done]
                self.counters.files_hashed += sum(1 for o in done if o[3])
                self.counters.files_from_state += sum(1 for o in done if not o[3])
                if self.store_mode:
                    written = sum(1 for o in done if o[4])
                    self.counters.objects_written += written
                    self.counters.objects_skipped += len(done) - written
                    if written:
                        self._generation = None
                        self.has_written_objects = True
                self.repo.state.record_files(
                    (path, st, Digest(hex_digest)) for path, st, hex_digest, hashed, _w, stable in done if hashed and stable
                )
                self.progress.advance(len(done))
                yield from done
        finally:
            self.progress.finish()

    # -- links --------------------------------------------------------------------------------

    def _cache_link(self, path: str) -> tuple[Digest, int] | None:
        """A symbolic link that mlx made to one of its own objects (cache.type symlink)."""
        try:
            destination = os.readlink(path)
        except OSError:
            return None
        digest = self.repo.store.digest_at(destination)
        if digest is None:
            return None
        try:
            return digest, os.stat(self.repo.store.location(digest)).st_size
        except OSError:
            return None

    def _refuse_links(self, target: RepoPath, links: list[str]) -> Snapshot:
        listed = ", ".join(f"'{link}'" for link in links[:5]) + (f" and {len(links) - 5} more" if len(links) > 5 else "")
        if all(moved_cache_link(self.repo, f"{self.root}/{link}") for link in links):
            what, refused = "links into the cache's old location", "links into the cache's old location"
            hint = "the repository moved: run 'mlx checkout' to link them again"
        else:
            what, refused = "symbolic links", "symbolic links, which mlx does not follow"
            hint = "replace them with the files they point to, or list them in .mlxignore"
        if self.store_mode:
            raise UnsafePathError(f"'{target}' contains {refused}: {listed}", hint=hint)
        return Snapshot(target, None, problem=f"{what}: {listed}")


def moved_cache_link(repo: Repository, path: str | Path) -> Digest | None:
    """The object a symbolic link names when it points into the objects of an mlx cache that this
    one holds too: a link `cache.type symlink` made before the repository (or its cache) moved.
    Replacing it loses nothing."""
    try:
        return repo.store.digest_moved(os.readlink(path))
    except OSError:
        return None


class _HashChunk:
    """Digest a chunk of work items; runs in worker processes for large directories."""

    def __init__(self, store: ObjectStore, root: Path, store_mode: bool) -> None:
        self.store = store
        self.root = f"{root}{os.sep}"
        self.store_mode = store_mode

    def __call__(self, items: Sequence[WorkItem]) -> list[Outcome]:
        return self._store(items) if self.store_mode else self._hash(items)

    def _store(self, items: Sequence[WorkItem]) -> list[Outcome]:
        """Every file is opened (a known one for its stat, and to keep its object); those the
        stat cache does not vouch for are read, and their reading starts a window ahead."""
        stats = [as_file_stat(values) for _p, values, _r in items]
        known = [_vouched(row, st) for (_p, _v, row), st in zip(items, stats)]
        paths = [self.root + path for path, _v, _r in items]
        advise = [digest is None and st.size < MMAP_THRESHOLD for st, digest in zip(stats, known)]
        out: list[Outcome] = []
        with closing(opened_ahead(paths, advise)) as opened:
            for (repo_path, _values, _row), path, digest, fd in zip(items, paths, known, opened):
                if isinstance(fd, OSError):
                    raise fd
                stored = self.store.put_opened(fd, path, repo_path, digest)
                out.append((repo_path, tuple(FileStat.of(repo_path, stored.stat)), stored.digest.hex, digest is None, stored.written, True))
        return out

    def _hash(self, items: Sequence[WorkItem]) -> list[Outcome]:
        """Files the stat cache vouches for are not opened; the rest are hashed (hash_paths)."""
        stats = [as_file_stat(values) for _p, values, _r in items]
        known = [_vouched(row, st) for (_p, _v, row), st in zip(items, stats)]
        unknown = [(self.root + path, st.size) for (path, _v, _r), st, digest in zip(items, stats, known) if digest is None]
        out: list[Outcome] = []
        with closing(hash_paths([path for path, _s in unknown], [size for _p, size in unknown])) as hashed:
            for (repo_path, values, _row), st, digest in zip(items, stats, known):
                if digest is None:
                    digest = next(hashed)
                    if isinstance(digest, OSError):
                        raise digest
                    stable = st.same_as(os.lstat(self.root + repo_path))  # changed while hashed: not recorded
                    out.append((repo_path, values, digest.hex, True, False, stable))
                else:
                    out.append((repo_path, values, digest.hex, False, False, True))
        return out


def _vouched(row: FileRow | None, file_stat: FileStat) -> Digest | None:
    """The digest the stat cache remembers for a file whose stat it vouches for, else None."""
    return Digest(row.hex) if row is not None and is_trusted(row, file_stat) else None


def _repo_paths(paths: list[str]) -> list[RepoPath]:
    """The paths RepoPath accepts (find_pointer_files skips the others: mlx could not name them)."""
    parsed = []
    for path in paths:
        try:
            parsed.append(RepoPath.parse(path))
        except UnsafePathError:
            continue
    return parsed


def _check_names(target: RepoPath, stats: list[FileStat]) -> None:
    """Names a tree cannot hold (not UTF-8, a backslash, ...) are refused here, naming the file."""
    for entry in stats:
        reason = unsafe_reason(entry.relpath)
        if reason:
            shown = entry.relpath.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
            raise UnsafePathError(f"cannot track '{target}/{shown}': {reason}", hint="rename it, or list it in .mlxignore")
