"""What a tracked path holds right now: its digest, and its tree for a directory.

The Scanner hashes only what the stat cache cannot vouch for, in a pool of threads, and in `store`
mode copies each new file into the object store as it goes (`mlx add`). A directory whose files'
stats all match the fingerprint recorded last time costs one walk and one lookup.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from blake3 import blake3

from mlxkit.errors import MlxError, UnsafePathError
from mlxkit.fs.confine import RepoPath, check_no_symlinks
from mlxkit.fs.walk import WalkEntry, walk
from mlxkit.progress import NULL_PROGRESS, Progress
from mlxkit.repo.repository import Repository
from mlxkit.store.digest import Digest
from mlxkit.store.hashing import hash_path
from mlxkit.store.objects import same_file_state
from mlxkit.store.state import FileRow, is_trusted
from mlxkit.store.tree import Tree, TreeEntry

CHUNK = 256


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


@dataclass
class _Done:
    rows: list[tuple[str, os.stat_result, Digest]] = field(default_factory=list)
    unstable: set[str] = field(default_factory=set)  # changed while hashed: reported, not recorded
    hashed: int = 0
    written: int = 0
    skipped: int = 0


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

    def snapshot(self, target: RepoPath) -> Snapshot:
        check_no_symlinks(self.root, target.posix)
        path = target.on_disk(self.root)
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            return Snapshot(target, None)
        if stat.S_ISDIR(st.st_mode):
            return self._directory(target)
        if stat.S_ISLNK(st.st_mode):
            linked = self._cache_link(path)
            if linked is None:
                return self._refuse_links(target, [target.posix])
            self.counters.files_from_state += 1
            return Snapshot(target, linked[0], linked[1])
        if not stat.S_ISREG(st.st_mode):
            raise MlxError(f"'{target}' is not a regular file or directory", hint="mlx tracks files and directories")
        row = self.repo.state.file_rows(target.posix).get(target.posix)
        if not self.store_mode and is_trusted(row, st):
            self.counters.files_from_state += 1
            digest = self._trusted_digest(row)
        else:
            done = self._process([(target.posix, str(path), st, row)])
            self._absorb(done)
            digest = done.rows[0][2]
        return Snapshot(target, digest, st.st_size, executable=bool(st.st_mode & 0o100))

    # -- directories --------------------------------------------------------------------------

    def _directory(self, target: RepoPath) -> Snapshot:
        entries = list(walk(self.root, target.posix))
        cache_links: dict[str, tuple[Digest, int]] = {}
        foreign_links = []
        for entry in entries:
            if entry.is_link:
                linked = self._cache_link(target.on_disk(self.root) / entry.relpath)
                if linked is None:
                    foreign_links.append(f"{target}/{entry.relpath}")
                else:
                    cache_links[entry.relpath] = linked
        if foreign_links:
            return self._refuse_links(target, sorted(foreign_links))

        fingerprint, newest = _fingerprint(entries)
        known = self.repo.state.tree_digest(target.posix, fingerprint)
        if known is not None and (not self.store_mode or self.repo.store.has(known)):
            self.counters.files_from_state += len(entries)
            if self.store_mode:
                self.counters.objects_skipped += len(entries)
            size = sum(e.stat.st_size for e in entries if not e.is_link) + sum(s for _d, s in cache_links.values())
            return Snapshot(target, known, size, files=len(entries))

        rows = self.repo.state.file_rows(target.posix)
        base = f"{target.on_disk(self.root)}{os.sep}"
        tree_entries: list[TreeEntry] = []
        work = []
        for entry in entries:
            repo_path = f"{target}/{entry.relpath}"
            if entry.relpath in cache_links:
                digest, size = cache_links[entry.relpath]
                tree_entries.append(TreeEntry(entry.relpath, digest, size))
                self.counters.files_from_state += 1
                continue
            row = rows.get(repo_path)
            if not self.store_mode and is_trusted(row, entry.stat):
                tree_entries.append(_entry(entry, self._trusted_digest(row)))
                self.counters.files_from_state += 1
            else:
                work.append((repo_path, base + entry.relpath, entry.stat, row))

        by_path = {f"{target}/{e.relpath}": e for e in entries}
        self.progress.start(f"{'adding' if self.store_mode else 'hashing'} {target}", total=len(work))
        try:
            for done in self._run_chunks(work):
                self._absorb(done)
                for repo_path, st, digest in done.rows:
                    entry = by_path[repo_path]
                    tree_entries.append(TreeEntry(entry.relpath, digest, st.st_size, bool(st.st_mode & 0o100)))
                self.progress.advance(len(done.rows))
        finally:
            self.progress.finish()

        tree = Tree.build(tree_entries)
        if self.store_mode:
            self.repo.store.put_bytes(tree.data)
        self.repo.state.record_tree(target.posix, fingerprint, tree.digest, newest)
        return Snapshot(target, tree.digest, tree.size, files=tree.files, tree=tree)

    # -- hashing and storing --------------------------------------------------------------------

    def _run_chunks(self, work: list[tuple[str, str, os.stat_result, FileRow | None]]) -> Iterable[_Done]:
        chunks = [work[i : i + CHUNK] for i in range(0, len(work), CHUNK)]
        if len(chunks) <= 1:
            yield from map(self._process, chunks)
            return
        with ThreadPoolExecutor(max_workers=self.repo.jobs) as pool:
            yield from pool.map(self._process, chunks)

    def _process(self, items: list[tuple[str, str, os.stat_result, FileRow | None]]) -> _Done:
        done = _Done()
        store = self.repo.store
        for repo_path, path, st, row in items:
            if self.store_mode:
                known = self._trusted_digest(row) if is_trusted(row, st) else None
                stored = store.put_file(path, repo_path, known)
                if known is None:
                    done.hashed += 1
                done.written += stored.written
                done.skipped += not stored.written
                done.rows.append((repo_path, stored.stat, stored.digest))
            else:
                digest = hash_path(path, st.st_size)
                done.hashed += 1
                done.rows.append((repo_path, st, digest))
                if not same_file_state(st, os.lstat(path)):
                    done.unstable.add(repo_path)
        return done

    def _absorb(self, done: _Done) -> None:
        self.counters.files_hashed += done.hashed
        self.counters.files_from_state += len(done.rows) - done.hashed
        self.counters.objects_written += done.written
        self.counters.objects_skipped += done.skipped
        self.repo.state.record_files(row for row in done.rows if row[0] not in done.unstable)

    @staticmethod
    def _trusted_digest(row: FileRow | None) -> Digest:
        assert row is not None
        return Digest(row[3])

    # -- links --------------------------------------------------------------------------------

    def _cache_link(self, path: Path) -> tuple[Digest, int] | None:
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


def _entry(entry: WalkEntry, digest: Digest) -> TreeEntry:
    return TreeEntry(entry.relpath, digest, entry.stat.st_size, bool(entry.stat.st_mode & 0o100))


def _fingerprint(entries: list[WalkEntry]) -> tuple[str, int]:
    """A digest of every entry's name and stat, and the newest mtime among them."""
    rows = sorted(
        f"{e.relpath}\0{e.stat.st_ino}\0{e.stat.st_mtime_ns}\0{e.stat.st_size}\0{e.stat.st_mode}\n" for e in entries
    )
    newest = max((e.stat.st_mtime_ns for e in entries), default=0)
    return blake3("".join(rows).encode("utf-8", "surrogateescape")).hexdigest(), newest

