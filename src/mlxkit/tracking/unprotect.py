"""mlx unprotect: give back editable copies of files checked out as hard or symbolic links.

Every path named is checked before anything is copied, so a refusal (a path that is not in the
workspace, a symbolic link that mlx did not make, something that is not a regular file) changes
nothing. A symbolic link is copied from the object path mlx builds from the digest its target
spells, never from the link's own text; only regular files are opened (a FIFO would block forever).
A copy the system refuses is one line naming the file; the files copied before it stay copied.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from mlxkit.errors import MissingObjectError, MlxError, UsageError, problem_text
from mlxkit.fs.atomic import current_umask
from mlxkit.fs.confine import RepoPath, check_no_symlinks
from mlxkit.fs.links import place
from mlxkit.fs.walk import walk
from mlxkit.repo.repository import Repository
from mlxkit.tracking.pointer import pointer_file_for
from mlxkit.tracking.targets import check_target, tracking_ancestor


@dataclass(frozen=True)
class UnprotectResult:
    copied: int
    already_editable: int


def unprotect(repo: Repository, given: list[str], *, cwd: Path | None = None) -> UnprotectResult:
    # Each workspace file -> what to copy over it and whether it is executable, or None when it is
    # editable already (a dict: a file named twice, as 'data' and 'data/a', is counted once).
    plan: dict[Path, tuple[Path, bool] | None] = {}
    for text in given:
        for file in _files(repo, RepoPath.from_user(repo.root, text, cwd), text):
            plan[file] = _copy_source(repo, file)
    mask = current_umask()
    copies = [(file, copy) for file, copy in plan.items() if copy is not None]
    for file, (source, executable) in copies:
        try:
            place(source, file, ("reflink", "copy"), mode=(0o777 if executable else 0o666) & ~mask)
        except OSError as exc:
            raise MlxError(
                f"cannot make '{file.relative_to(repo.root)}' editable: {problem_text(exc)}",
                hint="the copy is written in the file's own directory, which must be writable" if isinstance(exc, PermissionError) else None,
            ) from exc
    return UnprotectResult(len(copies), len(plan) - len(copies))


def _files(repo: Repository, target: RepoPath, text: str) -> list[Path]:
    """The workspace files of a tracked path, or of a path inside a tracked directory."""
    check_target(repo, target)
    tracked = pointer_file_for(target).on_disk(repo.root).is_file()
    ancestor = None if tracked else tracking_ancestor(repo, target)
    if not tracked and ancestor is None:
        raise UsageError(f"'{text}' is not tracked by mlx")
    check_no_symlinks(repo.root, target.posix)
    path = target.on_disk(repo.root)
    if not os.path.lexists(path):  # also below a file: 'data/a.csv/x'
        hint = f"run 'mlx checkout {text}' to restore it" if tracked else f"check the name, or run 'mlx checkout {ancestor}'"
        raise UsageError(f"'{text}' is not in the workspace", hint=hint)
    if path.is_dir() and not path.is_symlink():
        return [path / entry.relpath for entry in walk(repo.root, target.posix)]
    return [path]


def _copy_source(repo: Repository, file: Path) -> tuple[Path, bool] | None:
    """What to copy over `file` and whether the copy is executable; None if it is editable already."""
    st = os.lstat(file)
    if stat.S_ISLNK(st.st_mode):
        return _object_linked(repo, file)
    if not stat.S_ISREG(st.st_mode):
        raise MlxError(f"'{file.relative_to(repo.root)}' is not a regular file or directory", hint="mlx tracks files and directories")
    if st.st_nlink > 1 or not st.st_mode & 0o200:
        return file, bool(st.st_mode & 0o100)
    return None


def _object_linked(repo: Repository, file: Path) -> tuple[Path, bool]:
    """The object a link that mlx made points to, and whether it is executable."""
    text = os.readlink(file)
    digest = repo.store.digest_at(text) or repo.store.digest_moved(text)  # moved: the repository moved since
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
