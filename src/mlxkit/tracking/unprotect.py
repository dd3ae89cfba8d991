"""mlx unprotect: give back editable copies of files checked out as hard or symbolic links."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from mlxkit.errors import UsageError
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
    objects_prefix = str(repo.store.objects) + os.sep
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
                source = os.readlink(file)
                if not source.startswith(objects_prefix):
                    raise UsageError(f"'{file.relative_to(repo.root)}' is a symbolic link that mlx did not make")
            elif st.st_nlink > 1 or not st.st_mode & 0o200:
                source = str(file)
            else:
                editable += 1
                continue
            # A symbolic link's own mode says nothing (always 0o777): the executable bit is the target's.
            executable = os.stat(file).st_mode & 0o100 if stat.S_ISLNK(st.st_mode) else st.st_mode & 0o100
            mode = (0o777 if executable else 0o666) & ~mask
            place(Path(source), file, ("reflink", "copy"), mode=mode)
            copied += 1
    return UnprotectResult(copied, editable)
