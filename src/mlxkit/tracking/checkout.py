"""mlx checkout: make the workspace match the pointer files.

Two phases. The plan reads everything and decides, per file, to keep, place or delete it; it refuses
(before touching anything) when a file would be overwritten or deleted whose content is not in the
cache. The apply phase places files through temp names and renames (fs/links.py), so each workspace
file is replaced whole, and records the result in the stat cache.
"""

from __future__ import annotations

import os
import shutil
import stat
from collections import defaultdict
from collections.abc import Sequence
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

from mlxkit.cyclegc import collector_paused
from mlxkit.errors import MissingObjectError, WouldOverwriteError
from mlxkit.fs.atomic import current_umask
from mlxkit.fs.confine import RepoPath, check_no_symlinks
from mlxkit.fs.links import copies, place
from mlxkit.fs.readahead import opened_ahead
from mlxkit.fs.walk import FileStat
from mlxkit.parallel import map_chunks
from mlxkit.progress import NULL_PROGRESS, Progress
from mlxkit.repo.repository import Repository
from mlxkit.store.digest import Digest
from mlxkit.store.objects import OBJECT_MODE, ObjectStore
from mlxkit.tracking.pointer import Pointer
from mlxkit.tracking.targets import read_pointers
from mlxkit.tracking.trees import load_tree, missing_objects
from mlxkit.tracking.workspace import Counters, Scanner, Snapshot, moved_cache_link


@dataclass(frozen=True)
class CheckoutResult:
    placed: int
    unchanged: int
    deleted: int
    paths: list[str]  # tracked paths that changed
    missing: list[str]  # tracked paths whose objects are not in the cache (left as they were)
    link_types: dict[str, int]
    counters: dict[str, int]
    warnings: list[str] = field(default_factory=list)


@dataclass
class _Plan:
    place: list[tuple[str, Digest, bool]] = field(default_factory=list)  # repo path, digest, executable
    delete: list[str] = field(default_factory=list)  # repo paths (files or links)
    delete_dirs: list[str] = field(default_factory=list)  # a directory where a file goes
    clear_dirs: list[str] = field(default_factory=list)  # inside a tracked directory: emptied by `delete` first
    refused: list[str] = field(default_factory=list)
    unchanged: int = 0
    changed_paths: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    make_dirs: list[str] = field(default_factory=list)  # empty tracked directories
    deleted_with_dirs: int = 0  # the files of `delete_dirs`

    def size(self) -> int:
        return len(self.place) + len(self.delete) + len(self.delete_dirs) + len(self.make_dirs)


def checkout(
    repo: Repository,
    given: list[str] | None = None,
    *,
    force: bool = False,
    relink: bool = False,
    cwd: Path | None = None,
    progress: Progress = NULL_PROGRESS,
) -> CheckoutResult:
    return checkout_pointers(repo, read_pointers(repo, given, cwd), force=force, relink=relink, progress=progress)


@collector_paused()
def checkout_pointers(
    repo: Repository, pointers: list[Pointer], *, force: bool = False, relink: bool = False, progress: Progress = NULL_PROGRESS
) -> CheckoutResult:
    """Make each pointer's target match it (the pointers need not exist as files: the pipeline
    restores stage outputs this way)."""
    counters = Counters()
    scanner = Scanner(repo, store=False, counters=counters)
    plan = _Plan()
    for pointer in pointers:
        _plan_pointer(repo, scanner, pointer, plan, relink=relink)
    if plan.refused and not force:
        refused = sorted(plan.refused)
        # A file inside a tracked directory is kept by adding the directory, not the file.
        holder = next((p.target.posix for p in pointers if RepoPath(refused[0]).is_within(p.target)), None)
        placed = {path for path, *_ in plan.place}
        verb = "delete" if refused[0] in plan.delete and refused[0] not in placed else "overwrite"
        raise WouldOverwriteError(refused, tracked=holder, verb=verb)
    for directory in plan.delete_dirs:
        shutil.rmtree(repo.root / directory)
    for path in plan.delete:
        os.unlink(repo.root / path)
    for directory in plan.clear_dirs:  # what was in them was deleted (or refused) just above
        shutil.rmtree(repo.root / directory)
    for directory in plan.make_dirs:
        os.makedirs(repo.root / directory, exist_ok=True)
    used = _apply(repo, plan.place, progress)
    return CheckoutResult(
        placed=len(plan.place),
        unchanged=plan.unchanged,
        deleted=len(plan.delete) + plan.deleted_with_dirs,
        paths=plan.changed_paths,
        missing=plan.missing,
        link_types=used,
        counters=counters.as_dict(),
        warnings=[*repo.warnings, *repo.state.warnings],
    )


# -- planning --------------------------------------------------------------------------------------


def _plan_pointer(repo: Repository, scanner: Scanner, pointer: Pointer, plan: _Plan, *, relink: bool) -> None:
    target = pointer.target
    check_no_symlinks(repo.root, target.posix)
    store = repo.store
    if missing_objects(repo, pointer, generation=scanner.generation() if pointer.is_dir else None):
        plan.missing.append(str(target))
        return

    path = target.on_disk(repo.root)
    is_dir_on_disk = path.is_dir() and not path.is_symlink()
    if is_dir_on_disk != pointer.is_dir and os.path.lexists(path):
        # A file where a directory goes, or the other way round: it must all be in the cache.
        _plan_replace_kind(repo, scanner, target, is_dir_on_disk, plan)
        current = Snapshot(target, None)
    else:
        current = scanner.snapshot(target)
    same_mode = pointer.is_dir or current.executable == pointer.executable
    if current.digest == pointer.digest and same_mode and not relink and current.problem is None:
        plan.unchanged += pointer.files if pointer.is_dir else 1
        return
    before = plan.size()
    if pointer.is_dir:
        _plan_directory(repo, scanner, pointer, current, plan, relink=relink)
    else:
        if current.exists and current.digest != pointer.digest and (current.digest is None or not store.has(current.digest)):
            if moved_cache_link(repo, repo.root / target.posix) is None:
                plan.refused.append(str(target))
        plan.place.append((target.posix, pointer.digest, pointer.executable))
    if plan.size() > before:
        plan.changed_paths.append(str(target))


def _plan_replace_kind(repo: Repository, scanner: Scanner, target: RepoPath, is_dir: bool, plan: _Plan) -> None:
    current = scanner.snapshot(target)
    if is_dir:
        listing = scanner.listing_of(current)  # None: it holds symbolic links, which are not in the cache
        files = len(_files_below(repo.root, target.posix, target.posix))
        if (
            listing is None
            or any(not repo.store.has(Digest(hex_digest)) for _p, hex_digest, _s, _x in listing.entries)
            or files != listing.files  # it holds files the walk skipped (.mlxignore): not in the cache
        ):
            plan.refused.append(str(target))
        plan.delete_dirs.append(target.posix)
        plan.deleted_with_dirs += files
    else:
        if current.digest is None or not repo.store.has(current.digest):
            plan.refused.append(str(target))
        plan.delete.append(target.posix)


def _plan_directory(
    repo: Repository, scanner: Scanner, pointer: Pointer, current: Snapshot, plan: _Plan, *, relink: bool
) -> None:
    target = pointer.target
    tree = load_tree(repo.store, pointer.digest)
    assert tree is not None
    have = _workspace_entries(repo, scanner, current) if current.exists else {}
    wanted = {e.path: e for e in tree.entries}
    have_paths = {f"{target}/{p}" for p in have}
    for path, (digest, _x) in have.items():
        if path not in wanted:  # also a file where the tree wants a directory: no tree path is both
            if digest is None or not repo.store.has(digest):
                plan.refused.append(f"{target}/{path}")
            plan.delete.append(f"{target}/{path}")
    for path, entry in wanted.items():
        old = have.get(path)
        if old is None and current.exists:
            old = _unseen(repo, target.posix, path, have_paths, plan)
        if old == (entry.digest, entry.executable) and not relink:
            plan.unchanged += 1
            continue
        if old is not None and (old[0] is None or not repo.store.has(old[0])):
            plan.refused.append(f"{target}/{path}")
        plan.place.append((f"{target}/{path}", entry.digest, entry.executable))
    if current.exists:
        _plan_parents(repo, target.posix, wanted, have_paths, plan)
    if not tree.entries and not current.exists:
        plan.make_dirs.append(target.posix)


def _unseen(repo: Repository, top: str, name: str, have_paths: set[str], plan: _Plan) -> tuple[Digest | None, bool] | None:
    """What is at `name` in the directory `top`, where the tree has a file and the scan saw none:
    nothing (None); a file the walk leaves out (.mlxignore), hashed, then kept, replaced or refused
    like any other; something else it skips (a FIFO), which is not in the cache; or a directory,
    emptied first (its tracked files are deleted or refused by the caller, and anything else in it
    is not in the cache)."""
    from mlxkit.store.hashing import hash_path

    path = f"{top}/{name}"
    try:
        st = os.lstat(repo.root / path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    if stat.S_ISDIR(st.st_mode):
        if any(f"{top}/{inner}" not in have_paths for inner in _files_below(repo.root, path, top)):
            plan.refused.append(path)
        plan.clear_dirs.append(path)
        return None
    if not stat.S_ISREG(st.st_mode):
        return (None, False)
    return hash_path(repo.root / path, st.st_size), bool(st.st_mode & 0o100)


def _plan_parents(repo: Repository, top: str, wanted: dict[str, object], have_paths: set[str], plan: _Plan) -> None:
    """Where the tree needs a directory, something the scan skipped (a FIFO, a file .mlxignore
    leaves out) is deleted first, or refused: it is not in the cache."""
    deleting, checked = set(plan.delete), set()
    for parent in {path.rpartition("/")[0] for path in wanted} - {""}:
        parts = parent.split("/")
        for depth in range(1, len(parts) + 1):
            directory = f"{top}/{'/'.join(parts[:depth])}"
            if directory in checked:
                continue
            checked.add(directory)
            if directory in have_paths or directory in deleting:
                continue  # a tracked file there: deleted, or refused, with the others
            try:
                st = os.lstat(repo.root / directory)
            except (FileNotFoundError, NotADirectoryError):
                continue
            if not stat.S_ISDIR(st.st_mode):
                plan.refused.append(directory)
                plan.delete.append(directory)


def _workspace_entries(repo: Repository, scanner: Scanner, current: Snapshot) -> dict[str, tuple[Digest | None, bool | None]]:
    """(digest, executable) of each file of the directory `current`, by its path in the tree: from
    the scan that took the snapshot (Scanner.listing_of), so nothing is hashed again."""
    listing = scanner.listing_of(current)
    if listing is None:  # the scanner refused it: it holds symbolic links
        return _scan_entries(repo, scanner, current.target)
    return {path: (Digest(hex_digest), executable) for path, hex_digest, _size, executable in listing.entries}


def _files_below(root: Path, directory: str, relative_to: str) -> list[str]:
    """Every non-directory entry below `directory` (walk rules ignored), relative to `relative_to`."""
    found, stack = [], [directory]
    while stack:
        current = stack.pop()
        with os.scandir(root / current) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(f"{current}/{entry.name}")
                else:
                    found.append(f"{current}/{entry.name}"[len(relative_to) + 1 :])
    return found


def _scan_entries(repo: Repository, scanner: Scanner, target: RepoPath) -> dict[str, tuple[Digest | None, bool | None]]:
    """The files of a directory that holds symbolic links, hashed: links count as content not in
    the cache (digest None), so replacing or deleting them needs --force, unless they point to an
    object of this cache where a cache used to be (the repository moved)."""
    from mlxkit.fs.walk import walk
    from mlxkit.store.hashing import hash_path

    entries: dict[str, tuple[Digest | None, bool | None]] = {}
    base = target.on_disk(repo.root)
    for item in walk(repo.root, target.posix):
        if item.is_link:  # None: never "unchanged", so a link of a moved repository is placed again
            entries[item.relpath] = (moved_cache_link(repo, base / item.relpath), None)
        else:
            entries[item.relpath] = (hash_path(base / item.relpath, item.size), item.is_executable)
            scanner.counters.files_hashed += 1
    return entries


# -- applying --------------------------------------------------------------------------------------


def _apply(repo: Repository, items: list[tuple[str, Digest, bool]], progress: Progress) -> dict[str, int]:
    used: dict[str, int] = {}
    hardlinked: dict[str, list[FileStat]] = defaultdict(list)  # object -> the paths linked to it, as placed
    progress.start("checking out", total=len(items))
    job = _PlaceChunk(repo.root, repo.store, repo.config.link_types, current_umask())
    try:
        for done in map_chunks(job, items, jobs=repo.jobs):
            rows = []
            for repo_path, file_stat, digest_hex, kind in done:
                used[kind] = used.get(kind, 0) + 1
                if file_stat is not None:
                    rows.append((repo_path, file_stat, Digest(digest_hex)))
                    if kind == "hardlink":
                        hardlinked[digest_hex].append(file_stat)
            repo.state.record_files(rows)
            progress.advance(len(done))
    finally:
        progress.finish()
    _record_shared_inodes(repo, hardlinked)
    return used


def _record_shared_inodes(repo: Repository, hardlinked: dict[str, list[FileStat]]) -> None:
    """Each link to an object changes the ctime of every path linked to it, so the paths of an
    object placed more than once (identical files) are recorded again with the last ctime: else
    the next `status` would re-hash all but one of them. Only the ctime may have moved since."""
    rows = []
    for digest_hex, placed in hardlinked.items():
        if len(placed) > 1:
            st = os.lstat(repo.root / placed[0].relpath)
            for was in placed:
                if (was.ino, was.mtime_ns, was.size) == (st.st_ino, st.st_mtime_ns, st.st_size):
                    rows.append((was.relpath, FileStat.of(was.relpath, st), Digest(digest_hex)))
    repo.state.record_files(rows)


class _PlaceChunk:
    """Place a chunk of files from the cache; runs in worker processes for large checkouts."""

    def __init__(self, root: Path, store: ObjectStore, link_types: tuple[str, ...], umask: int) -> None:
        self.root = root
        self.prefix = f"{root}{os.sep}"  # root + "/": paths below it, as str
        self.store = store
        self.link_types = link_types
        self.umask = umask
        self.made_dirs: set[str] = set()

    def __call__(self, chunk: Sequence[tuple[str, Digest, bool]]) -> list[tuple[str, FileStat | None, str, str]]:
        """The first file is placed as it comes (a reflink's first try finds out whether this file
        system copies); the objects of the others that will be copied are opened, and their
        reading started, a window ahead (fs/readahead.py)."""
        if not chunk:
            return []
        done = [self._place(*chunk[0], None)]
        rest = chunk[1:]
        will_copy = {executable: copies(self._types(executable), self.prefix) for executable in (False, True)}
        copied = [will_copy[bool(executable)] for _p, _d, executable in rest]
        sources = [self.store.location(digest) for (_p, digest, _x), copy in zip(rest, copied) if copy]
        with closing(opened_ahead(sources)) as opened:
            for item, copy in zip(rest, copied):
                fd = next(opened) if copy else None
                if isinstance(fd, OSError):  # place() opens it again, and says what is wrong as it always did
                    fd = None
                try:
                    done.append(self._place(*item, fd))
                finally:
                    if fd is not None:
                        os.close(fd)
        return done

    def _types(self, executable: bool) -> tuple[str, ...]:
        if executable:  # a shared read-only inode cannot carry the x bit
            return tuple(t for t in self.link_types if t in ("reflink", "copy")) or ("copy",)
        return self.link_types

    def _place(self, repo_path: str, digest: Digest, executable: bool, opened: int | None) -> tuple[str, FileStat | None, str, str]:
        root = self.prefix
        parent = repo_path.rsplit("/", 1)[0] if "/" in repo_path else ""
        if parent and parent not in self.made_dirs:
            check_no_symlinks(self.root, repo_path)
            os.makedirs(root + parent, exist_ok=True)
            self.made_dirs.add(parent)
        mode = (0o777 if executable else 0o666) & ~self.umask
        kind = place(self.store.location(digest), root + repo_path, self._types(executable), mode=mode, opened=opened)
        st = os.lstat(root + repo_path)
        if kind == "hardlink" and stat.S_IMODE(st.st_mode) != OBJECT_MODE:
            # A chmod of an earlier link changed the object itself (one inode): mlx owns the cache.
            os.chmod(root + repo_path, OBJECT_MODE)
            st = os.lstat(root + repo_path)
        return (repo_path, None if stat.S_ISLNK(st.st_mode) else FileStat.of(repo_path, st), digest.hex, kind)


def missing_error(missing: list[str], *, fetched: bool = False) -> MissingObjectError:
    """`fetched`: a pull looked for them on the remote already."""
    return MissingObjectError(
        f"'{missing[0]}'{f' (and {len(missing) - 1} more)' if len(missing) > 1 else ''}: objects are not in the cache",
        hint="re-add the data with 'mlx add' where you still have it" if fetched
        else "get them from a remote with 'mlx pull', or re-add the data with 'mlx add' where you still have it",
    )
