"""mlx add: copy files and directories into the cache and write their pointer files.

Order of publication (RELIABILITY.md §2): every file object, then tree objects, then one barrier that
makes them durable, then the pointer files and .gitignore lines. The workspace is only read.

A directory that holds pointer files is refused by its own scan (Scanner's `on_pointer_files`),
before any of its objects is stored, and so before any pointer or .gitignore line is written: a
second walk of 10^5 names beforehand cost ~80 ms. When several paths are added, the objects of
those scanned before the refused one may already be in the cache, named by nothing (gc's to take).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from mlxkit.errors import MlxError, UnreadableError, UsageError
from mlxkit.fs.confine import RepoPath, check_no_symlinks
from mlxkit.fs.walk import UNREADABLE_HINT
from mlxkit.progress import NULL_PROGRESS, Progress
from mlxkit.repo.repository import Repository
from mlxkit.tracking.gitignore import add_ignore, check_gitignore
from mlxkit.tracking.pointer import SUFFIX, Pointer, pointer_file_for, read_pointer, write_pointer
from mlxkit.tracking.targets import check_target, tracking_ancestor
from mlxkit.tracking.workspace import Counters, Scanner


@dataclass(frozen=True)
class AddedPath:
    path: str
    pointer: str
    hash: str
    size: int
    files: int | None
    change: str  # "added", "updated" or "unchanged"


@dataclass(frozen=True)
class AddResult:
    paths: list[AddedPath]
    counters: dict[str, int]
    gitignores_changed: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def add(repo: Repository, given: list[str], *, cwd: Path | None = None, progress: Progress = NULL_PROGRESS) -> AddResult:
    targets = [_check_target(repo, RepoPath.from_user(repo.root, text, cwd), text) for text in given]
    named: set[RepoPath] = set()
    for target in targets:
        if target in named:
            raise UsageError(f"'{target}' is named twice")
        named.add(target)
    shown = dict(zip(targets, given))
    for inner in targets:  # the pointers on disk do not show it yet: nothing is written so far
        parts = inner.posix.split("/")
        outer = next((above for depth in range(1, len(parts)) if (above := RepoPath("/".join(parts[:depth]))) in named), None)
        if outer is not None:
            raise UsageError(
                f"'{shown[inner]}' is inside '{shown[outer]}', which is also being added",
                hint=f"add the whole directory alone: 'mlx add {shown[outer]}'",
            )

    def refuse_pointer_files(directory: RepoPath, pointer_files: list[RepoPath]) -> None:
        inner = pointer_files[0]
        raise UsageError(
            f"'{shown[directory]}' contains tracked paths ('{inner}')", hint=f"stop tracking them first: 'mlx remove {inner}'"
        )

    repo.store.create()
    counters = Counters()
    scanner = Scanner(repo, store=True, counters=counters, progress=progress, on_pointer_files=refuse_pointer_files)
    try:
        with repo.flushing_objects():
            snapshots = [scanner.snapshot(target) for target in targets]
    except PermissionError as exc:  # a file the walk listed but this user cannot open
        if exc.filename and os.path.abspath(exc.filename).startswith(f"{repo.store.root}{os.sep}"):
            raise  # writing the cache, not reading the data: the CLI names the cache's file
        where = os.path.relpath(exc.filename, repo.root) if exc.filename else "a file"
        raise UnreadableError(where, exc, hint=UNREADABLE_HINT) from None
    if scanner.has_written_objects:  # objects found in the cache were made durable by whoever wrote them
        repo.make_objects_durable()

    results, gitignores = [], []
    seen_parents: set[str] = set()
    for snapshot in snapshots:
        assert snapshot.digest is not None
        pointer = Pointer(snapshot.target, snapshot.digest, snapshot.size, snapshot.files, snapshot.executable)
        change = _change(repo, pointer)
        if change != "unchanged":
            write_pointer(repo.root, pointer)
        if repo.is_git and add_ignore(repo.root, snapshot.target) and snapshot.target.parent not in seen_parents:
            seen_parents.add(snapshot.target.parent)
            parent = snapshot.target.parent
            gitignores.append(f"{parent}/.gitignore" if parent else ".gitignore")
        results.append(
            AddedPath(str(snapshot.target), str(pointer.file), str(pointer.digest), pointer.size, pointer.files, change)
        )
    return AddResult(results, counters.as_dict(), gitignores, list(repo.state.warnings))


def _check_target(repo: Repository, target: RepoPath, given: str) -> RepoPath:
    if target.posix.endswith(SUFFIX):
        raise UsageError(f"'{given}' is a pointer file", hint=f"add the data it tracks: 'mlx add {given[: -len(SUFFIX)]}'")
    check_target(repo, target)  # a link to a directory of pointer files: exit 12, as every command says
    check_no_symlinks(repo.root, target.posix)  # and a directory on the way that cannot be searched: exit 3
    if not os.path.lexists(target.on_disk(repo.root)):
        raise UsageError(f"'{given}' does not exist")
    if repo.is_git:
        if target.name == ".gitignore":  # mlx would append a line to what it just hashed
            raise UsageError(f"'{given}' is git's own ignore file", hint="commit it to git; mlx tracks data")
        check_gitignore(repo.root, target)
    ancestor = tracking_ancestor(repo, target)
    if ancestor is not None:
        raise UsageError(
            f"'{given}' is inside the tracked directory '{ancestor}'", hint=f"add the whole directory: 'mlx add {ancestor}'"
        )
    return target  # a directory holding pointer files is refused by its scan (refuse_pointer_files)


def _change(repo: Repository, pointer: Pointer) -> str:
    if not pointer_file_for(pointer.target).on_disk(repo.root).is_file():
        return "added"
    try:
        old = read_pointer(repo.root, pointer.file)
    except MlxError:
        return "updated"
    return "unchanged" if old == pointer else "updated"
