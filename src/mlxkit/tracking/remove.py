"""mlx remove: stop tracking a path (its pointer and .gitignore line go); `outs` deletes the data
too, but only when its content is in the cache, unless forced."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from mlxkit.errors import WouldOverwriteError
from mlxkit.repo.repository import Repository
from mlxkit.tracking.gitignore import remove_ignore
from mlxkit.tracking.targets import read_pointers
from mlxkit.tracking.trees import missing_objects
from mlxkit.tracking.workspace import Scanner


@dataclass(frozen=True)
class RemoveResult:
    removed: list[str]
    outs_deleted: list[str]


def remove(repo: Repository, given: list[str], *, outs: bool = False, force: bool = False, cwd: Path | None = None) -> RemoveResult:
    pointers = read_pointers(repo, given, cwd)
    if outs and not force:
        scanner = Scanner(repo, store=False)
        unsafe = []
        for pointer in pointers:
            snapshot = scanner.snapshot(pointer.target)
            # Deleting is safe only when the data matches the pointer and all its objects are cached.
            generation = scanner.generation() if pointer.is_dir else None
            changed = snapshot.digest != pointer.digest
            if snapshot.exists and (changed or missing_objects(repo, pointer, generation=generation)):
                unsafe.append(str(pointer.target))
        if unsafe:
            raise WouldOverwriteError(unsafe, verb="delete")
    removed, deleted = [], []
    for pointer in pointers:
        os.unlink(pointer.file.on_disk(repo.root))
        if repo.is_git:
            remove_ignore(repo.root, pointer.target)
        repo.state.forget(pointer.target.posix)
        removed.append(str(pointer.target))
        if outs:
            path = pointer.target.on_disk(repo.root)
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
                deleted.append(str(pointer.target))
            elif os.path.lexists(path):
                os.unlink(path)
                deleted.append(str(pointer.target))
    return RemoveResult(removed, deleted)
