"""Turn what the user typed (a tracked path, its pointer file, or a folder) into pointer files."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from pathlib import Path

from mlxkit.errors import UsageError
from mlxkit.fs.confine import RepoPath, check_no_symlinks, is_repository_root
from mlxkit.repo.repository import Repository
from mlxkit.tracking.pointer import (
    SUFFIX, Pointer, Unreadable, find_pointer_files, linked_directory, pointer_file_for, read_pointer, target_of,
)


def resolve_pointer_files(repo: Repository, given: list[str] | None, cwd: Path | None = None) -> list[RepoPath]:
    """Pointer files named by `given` (all of them when it is empty), sorted, without duplicates.
    A directory mlx cannot list, or a symbolic link to a directory of pointer files, is left out of
    "all of them", with a warning, but is an error for a target at, inside or above it
    (skip_unlisted, check_target); not for a target whose own pointer file is read without listing it."""
    everything = not given
    found: set[RepoPath] = set()
    searched: dict[RepoPath, str] = {}  # targets whose pointer file is not found at once: left to the walk, as typed
    for text in given or []:
        if is_repository_root(repo.root, text, cwd):  # `mlx status .` at the top: every tracked path
            everything = True
            continue
        path = RepoPath.from_user(repo.root, text, cwd)
        check_target(repo, path)
        if path.posix.endswith(SUFFIX) and _is_file(repo, path):
            found.add(path)
        elif _is_file(repo, pointer := pointer_file_for(path)):
            found.add(pointer)
        else:
            searched.setdefault(path, text)
    if not everything and not searched:
        return sorted(found)
    leave_out = skip_unlisted(repo, list(searched), everything=everything)
    every = sorted(find_pointer_files(repo.root, through_links=True, on_unreadable=leave_out))
    if everything:
        found.update(every)
    for path, text in searched.items():
        below = [file for file in every if file == pointer_file_for(path) or file.is_within(path)]
        if not below:
            ancestor = tracking_ancestor(repo, path)
            if ancestor is not None:
                raise inside_directory(text, ancestor.posix)
            raise UsageError(f"'{text}' is not tracked by mlx", hint=f"run 'mlx add {text}' to track it")
        found.update(below)
    return sorted(found)


def every_pointer_file(repo: Repository) -> Iterator[RepoPath]:
    """find_pointer_files, leaving out a directory mlx cannot list, or a symbolic link to a directory
    of pointer files, with a warning (skip_unlisted)."""
    return find_pointer_files(repo.root, through_links=True, on_unreadable=skip_unlisted(repo))


def pointer_files_within(repo: Repository, targets: Sequence[RepoPath]) -> list[RepoPath]:
    """Every pointer file whose tracked path is at, inside or above one of `targets` (every one
    without targets), sorted; what cannot be read is left out or refused as skip_unlisted says, and
    the targets' own pointer files are read directly (direct_pointer_files)."""
    direct = direct_pointer_files(repo, targets)
    leave_out = skip_unlisted(repo, targets, answered=direct)
    walk = find_pointer_files(repo.root, through_links=True, on_unreadable=leave_out, named=direct)
    return sorted(
        file for file in walk
        if not targets or any(target_of(file).is_within(target) or target.is_within(target_of(file)) for target in targets)
    )  # fmt: skip


def check_target(repo: Repository, path: RepoPath) -> None:
    """Refuse a target at or through a symbolic link as the walks do: a link to a directory of
    pointer files raises LinkedDirectory (exit 12, as push says for it), any other link on the way
    is an unsafe path (exit 14). A directory on the way that cannot be searched is left to the walk
    (skip_unlisted: exit 12)."""
    linked = linked_directory(repo.root, path)
    if linked is not None:
        raise linked
    try:
        check_no_symlinks(repo.root, path.posix)
    except OSError:
        pass  # a directory on the way that cannot be searched: the walk refuses it (exit 12)


def direct_pointer_files(repo: Repository, targets: Iterable[RepoPath]) -> list[RepoPath]:
    """The pointer files of those `targets` that are tracked paths, found without listing any
    directory: a directory mlx can enter but not list does not keep a command from answering for
    a tracked path the user named in it (docs/design.md), as `git status` answers for a file there."""
    return [file for target in targets if _is_file(repo, file := pointer_file_for(target))]


def skip_unlisted(
    repo: Repository, targets: Sequence[RepoPath] = (), *, everything: bool = False, answered: Collection[RepoPath] = ()
) -> Callable[[Unreadable], None]:
    """find_pointer_files' `on_unreadable` for the commands that only read, or write only what they
    see (status, checkout, diff, fsck, push, fetch, pull, `status --cloud`): a directory mlx cannot
    list, or a symbolic link to a directory that holds pointer files, is an error when one of
    `targets` is at, inside or above it (the user asked for what it may hold), unless that target's
    pointer file is in `answered` (direct_pointer_files: read without listing, and handed to the
    walk as its `named`); else it is left out, with a warning in the command's report
    (repo.warnings) when every pointer file was asked for (no `targets`, or `everything` too), as
    `git status` does, and silently when only `targets` were (it holds none of theirs). gc walks
    strictly (tracking/roots.py): nothing is deleted because a directory could not be read."""
    asked = [target for target in targets if pointer_file_for(target) not in answered]

    def leave_out(error: Unreadable) -> None:
        directory = RepoPath(error.path)
        if any(directory.is_within(target) or target.is_within(directory) for target in asked):
            raise error
        if everything or not targets:
            repo.warn(error.left_out())

    return leave_out


def inside_directory(text: str, directory: str) -> UsageError:
    """A target that names a file inside a tracked directory: commands take such a directory whole
    (its pointer records one tree), so the target is refused with the directory to name instead."""
    return UsageError(
        f"'{text}' is inside the tracked directory '{directory}', which mlx handles whole",
        hint=f"name the directory instead: '{directory}'",
    )


def read_pointers(repo: Repository, given: list[str] | None, cwd: Path | None = None) -> list[Pointer]:
    return [read_pointer(repo.root, file) for file in resolve_pointer_files(repo, given, cwd)]


def tracking_ancestor(repo: Repository, path: RepoPath) -> RepoPath | None:
    """The tracked directory that contains `path`, if any."""
    parts = path.posix.split("/")
    for depth in range(1, len(parts)):
        candidate = RepoPath("/".join(parts[:depth]))
        if _is_file(repo, pointer_file_for(candidate)):
            return candidate
    return None


def _is_file(repo: Repository, path: RepoPath) -> bool:
    """Whether `path` is a file; False when a directory on the way cannot be searched: the walk then
    meets that directory and refuses the target with exit 12 (skip_unlisted), as push and fetch do,
    instead of a bare permission error (exit 3)."""
    try:
        return path.on_disk(repo.root).is_file()
    except OSError:
        return False
