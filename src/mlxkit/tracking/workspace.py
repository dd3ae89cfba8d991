"""What a tracked path holds right now: its digest, and its tree for a directory.

The Scanner hashes only what the stat cache cannot vouch for, and in `store` mode copies each new
file into the object store as it goes (`mlx add`). A directory whose files' stats all match the
fingerprint recorded last time costs one walk and one lookup. Large directories are walked, hashed
and stored by forked workers (mlxkit.parallel).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from blake3 import blake3

from mlxkit.errors import MlxError, UnsafePathError
from mlxkit.fs.confine import RepoPath, check_no_symlinks, unsafe_reason
from mlxkit.fs.walk import FileStat, as_file_stat, walk
from mlxkit.parallel import map_chunks
from mlxkit.progress import NULL_PROGRESS, Progress
from mlxkit.repo.repository import Repository
from mlxkit.store.digest import Digest
from mlxkit.store.hashing import hash_path
from mlxkit.store.objects import ObjectStore
from mlxkit.store.state import FileRow, is_trusted
from mlxkit.store.tree import Tree, TreeEntry


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
    it holds something mlx cannot track (see `problem`)."""

    target: RepoPath
    digest: Digest | None
    size: int = 0
    files: int | None = None
    executable: bool = False
    tree: Tree | None = None
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
    ) -> None:
        self.repo = repo
        self.root = repo.root
        self.store_mode = store
        self.counters = counters or Counters()
        self.progress = progress
        self._objects_prefix = str(repo.store.objects) + os.sep

    # -- entry point --------------------------------------------------------------------------

    def snapshot(self, target: RepoPath, *, with_tree: bool = False) -> Snapshot:
        """`with_tree`: a directory's Snapshot carries its Tree even when the fingerprint alone
        would have given the digest (to list what changed inside it)."""
        check_no_symlinks(self.root, target.posix)
        path = target.on_disk(self.root)
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            return Snapshot(target, None)
        if stat.S_ISDIR(st.st_mode):
            return self._directory(target, with_tree)
        if stat.S_ISLNK(st.st_mode):
            linked = self._cache_link(str(path))
            if linked is None:
                return self._refuse_links(target, [target.posix])
            self.counters.files_from_state += 1
            return Snapshot(target, linked[0], linked[1])
        if not stat.S_ISREG(st.st_mode):
            raise MlxError(f"'{target}' is not a regular file or directory", hint="mlx tracks files and directories")
        file_stat = FileStat.of(target.posix, st)
        (outcome,) = self._hash_all(target.posix, [(target.posix, file_stat, self._row(target))])
        return Snapshot(target, Digest(outcome[2]), st.st_size, executable=file_stat.is_executable)

    def _row(self, target: RepoPath) -> FileRow | None:
        return self.repo.state.file_rows(target.posix).get(target.posix)

    # -- directories --------------------------------------------------------------------------

    def _directory(self, target: RepoPath, with_tree: bool = False) -> Snapshot:
        base = f"{target.on_disk(self.root)}{os.sep}"
        stats = walk(self.root, target.posix, jobs=self.repo.jobs)
        cache_links: dict[str, tuple[Digest, int]] = {}
        foreign_links = []
        for entry in stats:
            if entry.is_link:
                linked = self._cache_link(base + entry.relpath)
                if linked is None:
                    foreign_links.append(f"{target}/{entry.relpath}")
                else:
                    cache_links[entry.relpath] = linked
        if foreign_links:
            return self._refuse_links(target, sorted(foreign_links))

        fingerprint, newest = _fingerprint(stats)
        known = self.repo.state.tree_digest(target.posix, fingerprint)
        store = self.repo.store
        if known is not None and not with_tree and (not self.store_mode or self.repo.state.is_complete(known, store.generation())):
            self.counters.files_from_state += len(stats)
            if self.store_mode:
                self.counters.objects_skipped += len(stats)
            size = sum(e.size for e in stats if not e.is_link) + sum(s for _d, s in cache_links.values())
            return Snapshot(target, known, size, files=len(stats))

        _check_names(target, stats)  # before anything is stored
        rows = self.repo.state.file_rows(target.posix)
        entries: list[TreeEntry] = []
        work: list[WorkItem] = []
        for entry in stats:
            repo_path = f"{target}/{entry.relpath}"
            row = rows.get(repo_path)
            if entry.relpath in cache_links:
                digest, size = cache_links[entry.relpath]
                entries.append(TreeEntry(entry.relpath, digest, size))
                self.counters.files_from_state += 1
            elif not self.store_mode and row is not None and is_trusted(row, entry):
                entries.append(TreeEntry(entry.relpath, Digest(row[3]), entry.size, entry.is_executable))
                self.counters.files_from_state += 1
            else:
                work.append((repo_path, entry, row))
        prefix_length = len(target.posix) + 1
        for repo_path, file_stat, hex_digest, *_ in self._hash_all(target.posix, work):
            entries.append(TreeEntry(repo_path[prefix_length:], Digest(hex_digest), file_stat.size, file_stat.is_executable))

        tree = Tree.build(entries)
        if self.store_mode:
            store.put_bytes(tree.data)
            self.repo.state.mark_complete(tree.digest, store.generation())  # every object was just seen
        self.repo.state.record_tree(target.posix, fingerprint, tree.digest, newest)
        return Snapshot(target, tree.digest, tree.size, files=tree.files, tree=tree)

    # -- hashing and storing --------------------------------------------------------------------

    def _hash_all(self, label: str, work: list[WorkItem]) -> list[Outcome]:
        """Digest every work item (from the stat cache where it vouches, else by hashing, storing
        the bytes in `store` mode) and record what was learnt."""
        outcomes: list[Outcome] = []
        if self.store_mode or any(not is_trusted(row, st) for _p, st, row in work):
            self.progress.start(f"{'adding' if self.store_mode else 'hashing'} {label}", total=len(work))
        job = _HashChunk(self.repo.store, self.root, self.store_mode)
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
                self.repo.state.record_files(
                    (path, st, Digest(hex_digest)) for path, st, hex_digest, hashed, _w, stable in done if hashed and stable
                )
                outcomes.extend(done)
                self.progress.advance(len(done))
        finally:
            self.progress.finish()
        return outcomes

    # -- links --------------------------------------------------------------------------------

    def _cache_link(self, path: str) -> tuple[Digest, int] | None:
        """A symbolic link that mlx made to one of its own objects (cache.type symlink)."""
        try:
            destination = os.readlink(path)
        except OSError:
            return None
        if not destination.startswith(self._objects_prefix):
            return None
        parts = destination[len(self._objects_prefix) :].split(os.sep)
        if len(parts) != 2:
            return None
        try:
            digest = Digest.from_hex(parts[0] + parts[1])
            return digest, os.stat(self.repo.store.path(digest)).st_size
        except (ValueError, OSError):
            return None

    def _refuse_links(self, target: RepoPath, links: list[str]) -> Snapshot:
        listed = ", ".join(f"'{link}'" for link in links[:5]) + (f" and {len(links) - 5} more" if len(links) > 5 else "")
        if self.store_mode:
            raise UnsafePathError(
                f"'{target}' contains symbolic links, which mlx does not follow: {listed}",
                hint="replace them with the files they point to, or list them in .mlxignore",
            )
        return Snapshot(target, None, problem=f"symbolic links: {listed}")


class _HashChunk:
    """Digest a chunk of work items; runs in worker processes for large directories."""

    def __init__(self, store: ObjectStore, root: Path, store_mode: bool) -> None:
        self.store = store
        self.root = f"{root}{os.sep}"
        self.store_mode = store_mode

    def __call__(self, items: Sequence[WorkItem]) -> list[Outcome]:
        out: list[Outcome] = []
        for repo_path, values, row in items:
            file_stat = as_file_stat(values)
            trusted = is_trusted(row, file_stat)
            path = self.root + repo_path
            if self.store_mode:
                known = Digest(row[3]) if trusted and row is not None else None
                stored = self.store.put_file(path, repo_path, known)
                out.append((repo_path, tuple(FileStat.of(repo_path, stored.stat)), stored.digest.hex, known is None, stored.written, True))
            elif trusted and row is not None:
                out.append((repo_path, values, row[3], False, False, True))
            else:
                digest = hash_path(path, file_stat.size)
                stable = file_stat.same_as(os.lstat(path))  # changed while hashed: reported, not recorded
                out.append((repo_path, values, digest.hex, True, False, stable))
        return out


def _check_names(target: RepoPath, stats: list[FileStat]) -> None:
    """Names a tree cannot hold (not UTF-8, a backslash, ...) are refused here, naming the file."""
    for entry in stats:
        reason = unsafe_reason(entry.relpath)
        if reason:
            shown = entry.relpath.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
            raise UnsafePathError(f"cannot track '{target}/{shown}': {reason}", hint="rename it, or list it in .mlxignore")


def _fingerprint(stats: list[FileStat]) -> tuple[str, int]:
    """A digest of every entry's name and stat, and the newest mtime among them."""
    rows = sorted(f"{e.relpath}\0{e.ino}\0{e.mtime_ns}\0{e.size}\0{e.mode}\n" for e in stats)
    newest = max((e.mtime_ns for e in stats), default=0)
    return blake3("".join(rows).encode("utf-8", "surrogateescape")).hexdigest(), newest
