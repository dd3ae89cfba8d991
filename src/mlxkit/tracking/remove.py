"""mlx remove: stop tracking a path (its pointer and .gitignore line go); `outs` deletes the data
too, but only what mlx tracks and has in the cache, unless forced.

With `outs`, the data goes first and the pointer last, so that a rerun after a kill or an error
finds the pointer and finishes the job. What a tracked directory holds that mlx does not track
(files .mlxignore leaves out, a nested .git, FIFOs) is kept, as `git rm` keeps untracked files;
`force` deletes the whole path.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from mlxkit.errors import WouldOverwriteError
from mlxkit.repo.repository import Repository
from mlxkit.store.digest import Digest
from mlxkit.tracking.gitignore import remove_ignore
from mlxkit.tracking.pointer import Pointer
from mlxkit.tracking.targets import read_pointers
from mlxkit.tracking.trees import missing_objects
from mlxkit.tracking.workspace import Scanner


@dataclass(frozen=True)
class RemoveResult:
    removed: list[str]
    outs_deleted: list[str]
    kept: dict[str, int] = field(default_factory=dict)  # tracked directory -> entries left in it, not tracked


def remove(repo: Repository, given: list[str], *, outs: bool = False, force: bool = False, cwd: Path | None = None) -> RemoveResult:
    pointers = read_pointers(repo, given, cwd)
    doomed: dict[str, list[str] | None] = {}  # what --outs deletes below each target; None: the whole path
    if outs and not force:  # with --force the whole path goes: nothing to plan, nothing to hash
        scanner, unsafe, holder = Scanner(repo, store=False), [], None
        for pointer in pointers:
            doomed[pointer.target.posix], refused = _tracked_files(repo, scanner, pointer)
            holder = holder or (str(pointer.target) if refused else None)
            unsafe += refused
        if unsafe:
            raise WouldOverwriteError(unsafe, tracked=holder, verb="delete")
    removed, deleted, kept = [], [], {}
    for pointer in pointers:
        target = pointer.target
        if outs and os.path.lexists(target.on_disk(repo.root)):
            left = _delete(repo.root / target.posix, doomed.get(target.posix))
            deleted.append(str(target))
            if left:
                kept[str(target)] = left
        os.unlink(pointer.file.on_disk(repo.root))
        if repo.is_git:
            remove_ignore(repo.root, target)
        repo.state.forget(target.posix)
        removed.append(str(target))
    return RemoveResult(removed, deleted, kept)


def _tracked_files(repo: Repository, scanner: Scanner, pointer: Pointer) -> tuple[list[str] | None, list[str]]:
    """The files below a tracked directory that mlx may delete (relative to it; None for a file or
    a missing path), and the paths it must not: content that is not in the cache. The content need
    not be the pointer's: any version the cache holds can be checked out again."""
    snapshot = scanner.snapshot(pointer.target)
    if not snapshot.exists:
        return None, []
    if snapshot.problem is not None:  # it holds symbolic links mlx did not make
        return None, [str(pointer.target)]
    listing = scanner.listing_of(snapshot) if snapshot.files is not None else None
    if listing is None:  # a file
        return None, [] if repo.store.has(snapshot.digest) else [str(pointer.target)]
    names = [path for path, *_ in listing.entries]
    generation = scanner.generation()
    if snapshot.digest == pointer.digest and pointer.is_dir and not missing_objects(repo, pointer, generation=generation):
        return names, []
    store = repo.store
    return names, [f"{pointer.target}/{path}" for path, hex_digest, *_ in listing.entries if not store.has(Digest(hex_digest))]


def _delete(path: Path, files: list[str] | None) -> int:
    """Delete `files` below the directory `path` and then the directories they leave empty, or the
    whole of `path` when `files` is None; returns how many entries are left below it."""
    if files is None:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            os.unlink(path)
        return 0
    for name in files:
        try:
            os.unlink(path / name)
        except FileNotFoundError:  # deleted by an interrupted run
            pass
    left = 0
    for directory, subdirectories, names in os.walk(path, topdown=False):
        left += len(names) + sum(1 for name in subdirectories if os.path.islink(os.path.join(directory, name)))
        with contextlib.suppress(OSError):  # not empty: it holds what mlx does not track
            os.rmdir(directory)
    return left
