"""mlx move: rename a tracked path together with its pointer file and .gitignore line.

Order: the data is renamed first, then the new pointer is written, then the old one removed, so an
interruption leaves at worst two pointers to the same content, and running the command again
finishes the move.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from mlxkit.errors import UsageError
from mlxkit.fs.confine import RepoPath, check_no_symlinks
from mlxkit.repo.repository import Repository
from mlxkit.tracking.gitignore import add_ignore, ignore_line, remove_ignore
from mlxkit.tracking.pointer import SUFFIX, Pointer, pointer_file_for, write_pointer
from mlxkit.tracking.targets import read_pointers, tracking_ancestor


@dataclass(frozen=True)
class MoveResult:
    source: str
    destination: str
    pointer: str


def move(repo: Repository, source: str, destination: str, *, cwd: Path | None = None) -> MoveResult:
    pointers = read_pointers(repo, [source], cwd)
    if len(pointers) != 1:
        raise UsageError(
            f"'{source}' holds {len(pointers)} tracked paths; mlx move moves one", hint="name one of them, or use git mv"
        )
    (pointer,) = pointers
    dest = RepoPath.from_user(repo.root, destination, cwd)
    if dest.posix.endswith(SUFFIX):
        dest = RepoPath.parse(dest.posix[: -len(SUFFIX)])
    if dest == pointer.target:
        raise UsageError("source and destination are the same")
    dest_path = dest.on_disk(repo.root)
    src_path = pointer.target.on_disk(repo.root)
    if os.path.lexists(src_path) and dest_path.is_dir() and not dest_path.is_symlink():
        dest = dest.join(pointer.target.name)  # like mv: into an existing directory
        dest_path = dest.on_disk(repo.root)
    if dest.is_within(pointer.target):
        raise UsageError(f"cannot move '{pointer.target}' into itself")
    ancestor = tracking_ancestor(repo, dest)
    if ancestor is not None:
        raise UsageError(f"'{dest}' is inside the tracked directory '{ancestor}'")
    check_no_symlinks(repo.root, dest.posix)
    if repo.is_git:
        ignore_line(dest.name)  # refuses a name .gitignore cannot hold, before anything moves
    if os.path.lexists(src_path):
        if os.path.lexists(dest_path):
            raise UsageError(f"'{dest}' already exists", hint="move or remove it first")
        dest_path.parent.mkdir(parents=True, exist_ok=True)
        os.rename(src_path, dest_path)
    moved = Pointer(dest, pointer.digest, pointer.size, pointer.files, pointer.executable)
    write_pointer(repo.root, moved)
    os.unlink(pointer.file.on_disk(repo.root))
    if repo.is_git:
        remove_ignore(repo.root, pointer.target)
        add_ignore(repo.root, dest)
    repo.state.forget(pointer.target.posix)
    return MoveResult(str(pointer.target), str(dest), str(pointer_file_for(dest)))
