"""mlx move: rename a tracked path together with its pointer file and .gitignore line.

Order: the data is renamed first, then the new pointer is written, then the old one removed, so an
interruption leaves at worst two pointers to the same content, and running the command again
finishes the move. Such a re-run finds the source's data missing and the destination holding it
(and perhaps the new pointer): that, and only that, is a destination that may exist already.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

from mlxkit.errors import MlxError, UsageError
from mlxkit.fs.confine import RepoPath, check_no_symlinks
from mlxkit.repo.repository import Repository
from mlxkit.tracking.gitignore import add_ignore, ignore_line, remove_ignore
from mlxkit.tracking.pointer import SUFFIX, Pointer, pointer_file_for, read_pointer, target_of, write_pointer
from mlxkit.tracking.targets import resolve_pointer_files, tracking_ancestor
from mlxkit.tracking.workspace import Scanner


@dataclass(frozen=True)
class MoveResult:
    source: str
    destination: str
    pointer: str


def move(repo: Repository, source: str, destination: str, *, cwd: Path | None = None) -> MoveResult:
    pointer = _source_pointer(repo, source, cwd)
    src_path = pointer.target.on_disk(repo.root)
    has_data = os.path.lexists(src_path)
    dest = RepoPath.from_user(repo.root, destination, cwd)
    if dest.posix.endswith(SUFFIX):
        dest = RepoPath.parse(dest.posix[: -len(SUFFIX)])
    if dest == pointer.target:
        raise UsageError("source and destination are the same")
    dest_path = dest.on_disk(repo.root)
    holds = functools.cache(lambda path: _holds(repo, path, pointer))  # a re-run asks twice of one path
    if dest_path.is_dir() and not dest_path.is_symlink() and (has_data or not holds(dest)):
        dest = dest.join(pointer.target.name)  # like mv: into an existing directory
        dest_path = dest.on_disk(repo.root)
    if dest.name.endswith(SUFFIX):
        raise UsageError(
            f"cannot move '{pointer.target}' to '{dest}': mlx reads every '*{SUFFIX}' file as a pointer",
            hint=f"choose a name that does not end in '{SUFFIX}'",
        )
    if dest.is_within(pointer.target):
        raise UsageError(f"cannot move '{pointer.target}' into itself")
    ancestor = tracking_ancestor(repo, dest)
    if ancestor is not None:
        raise UsageError(f"'{dest}' is inside the tracked directory '{ancestor}'")
    check_no_symlinks(repo.root, dest.posix)
    _check_parent(repo, pointer.target, dest)
    if repo.is_git:
        ignore_line(dest.name)  # refuses a name .gitignore cannot hold, before anything moves
    moved = Pointer(dest, pointer.digest, pointer.size, pointer.files, pointer.executable)
    # A re-run of an interrupted move (the data gone from the source) may find its own work done.
    if os.path.lexists(dest_path) and (has_data or not holds(dest)):
        raise UsageError(f"'{dest}' already exists", hint="move or remove it first")
    if os.path.lexists(pointer_file_for(dest).on_disk(repo.root)) and (has_data or not _is_pointer(repo, moved)):
        raise UsageError(f"'{dest}' is already tracked by mlx", hint=f"move it first, or stop tracking it: 'mlx remove {dest}'")
    if has_data:
        dest_path.parent.mkdir(parents=True, exist_ok=True)
        os.rename(src_path, dest_path)
    write_pointer(repo.root, moved)
    os.unlink(pointer.file.on_disk(repo.root))
    if repo.is_git:
        remove_ignore(repo.root, pointer.target)
        add_ignore(repo.root, dest)
    repo.state.forget(pointer.target.posix)
    return MoveResult(str(pointer.target), str(dest), str(pointer_file_for(dest)))


def _source_pointer(repo: Repository, source: str, cwd: Path | None) -> Pointer:
    """The pointer of a tracked path or pointer file; a directory holding tracked paths is refused,
    however many it holds (moving one of them to the directory's new name is not what was asked)."""
    files = resolve_pointer_files(repo, [source], cwd)
    given = RepoPath.from_user(repo.root, source, cwd)
    if files != [given] and files != [pointer_file_for(given)]:
        count = "1 tracked path" if len(files) == 1 else f"{len(files)} tracked paths"
        raise UsageError(
            f"'{source}' is not a tracked path but holds {count}; mlx move moves one",
            hint=f"name a tracked path itself, such as '{target_of(files[0])}', or use git mv",
        )
    return read_pointer(repo.root, files[0])


def _check_parent(repo: Repository, source: RepoPath, dest: RepoPath) -> None:
    """Refuse a destination below something that is not a directory (like mv)."""
    parent = dest.on_disk(repo.root).parent
    while not os.path.lexists(parent):
        parent = parent.parent
    if not parent.is_dir():
        shown = parent.relative_to(repo.root).as_posix()
        raise UsageError(f"cannot move '{source}' to '{dest}': '{shown}' is not a directory")


def _holds(repo: Repository, path: RepoPath, pointer: Pointer) -> bool:
    """Whether the workspace's `path` holds exactly the content `pointer` names."""
    try:
        return Scanner(repo, store=False).snapshot(path).digest == pointer.digest
    except MlxError:  # something mlx cannot read as data (a FIFO, a link of someone else's)
        return False


def _is_pointer(repo: Repository, expected: Pointer) -> bool:
    """Whether `expected`'s pointer file already says exactly what it would."""
    try:
        return read_pointer(repo.root, expected.file) == expected
    except MlxError:
        return False
