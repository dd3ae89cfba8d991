"""mlx unprotect: give back editable copies of files checked out as hard or symbolic links.

A symbolic link is copied from the object path mlx builds from the digest its target spells, never
from the link's own text.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from mlxkit.errors import MissingObjectError, UsageError
from mlxkit.fs.atomic import current_umask
from mlxkit.fs.confine import RepoPath, check_no_symlinks
from mlxkit.fs.links import place
from mlxkit.fs.walk import walk
from mlxkit.repo.repository import Repository
from mlxkit.tracking.targets import tracking_ancestor
from mlxkit.tracking.pointer import pointer_file_for


@dataclass(frozen=True)
class UnprotectResult:
    copied: int
    already_editable: int


def unprotect(repo: Repository, given: list[str], *, cwd: Path | None = None) -> UnprotectResult:
    copied = editable = 0
    mask = current_umask()
    for text in given:
        target = RepoPath.from_user(repo.root, text, cwd)
        if not pointer_file_for(target).on_disk(repo.root).is_file() and tracking_ancestor(repo, target) is None:
            raise UsageError(f"'{text}' is not tracked by mlx")
        check_no_symlinks(repo.root, target.posix)
        path = target.on_disk(repo.root)
        files = [path / e.relpath for e in walk(repo.root, target.posix)] if path.is_dir() and not path.is_symlink() else [path]
        for file in files:
            st = os.lstat(file)
            if stat.S_ISLNK(st.st_mode):
                source, executable = _object_linked(repo, file)
            elif st.st_nlink > 1 or not st.st_mode & 0o200:
                source, executable = file, bool(st.st_mode & 0o100)
            else:
                editable += 1
                continue
            place(source, file, ("reflink", "copy"), mode=(0o777 if executable else 0o666) & ~mask)
            copied += 1
    return UnprotectResult(copied, editable)


def _object_linked(repo: Repository, file: Path) -> tuple[Path, bool]:
    """The object a link that mlx made points to, and whether it is executable."""
    digest = repo.store.digest_at(os.readlink(file))
    if digest is None:
        raise UsageError(f"'{file.relative_to(repo.root)}' is a symbolic link that mlx did not make")
    source = repo.store.path(digest)
    try:
        return source, bool(os.stat(source).st_mode & 0o100)
    except FileNotFoundError:
        raise MissingObjectError(
            f"'{file.relative_to(repo.root)}' links to object {digest.short}, which is not in the cache",
            hint="re-add the data with 'mlx add' where you still have it",
        ) from None
