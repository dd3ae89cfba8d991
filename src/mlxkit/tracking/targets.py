"""Turn what the user typed (a tracked path, its pointer file, or a folder) into pointer files."""

from __future__ import annotations

from pathlib import Path

from mlxkit.errors import UsageError
from mlxkit.fs.confine import RepoPath, is_repository_root
from mlxkit.repo.repository import Repository
from mlxkit.tracking.pointer import SUFFIX, Pointer, find_pointer_files, pointer_file_for, read_pointer


def resolve_pointer_files(repo: Repository, given: list[str] | None, cwd: Path | None = None) -> list[RepoPath]:
    """Pointer files named by `given` (all of them when it is empty), sorted, without duplicates."""
    if not given:
        return sorted(find_pointer_files(repo.root))
    found: set[RepoPath] = set()
    every: list[RepoPath] | None = None
    for text in given:
        if is_repository_root(repo.root, text, cwd):  # `mlx status .` at the top: every tracked path
            every = every if every is not None else sorted(find_pointer_files(repo.root))
            found.update(every)
            continue
        path = RepoPath.from_user(repo.root, text, cwd)
        if path.posix.endswith(SUFFIX) and path.on_disk(repo.root).is_file():
            found.add(path)
            continue
        pointer = pointer_file_for(path)
        if pointer.on_disk(repo.root).is_file():
            found.add(pointer)
            continue
        if every is None:
            every = sorted(find_pointer_files(repo.root))
        below = [p for p in every if p.is_within(path)]
        if not below:
            ancestor = tracking_ancestor(repo, path)
            if ancestor is not None:
                raise inside_directory(text, ancestor.posix)
            raise UsageError(f"'{text}' is not tracked by mlx", hint=f"run 'mlx add {text}' to track it")
        found.update(below)
    return sorted(found)


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
        if pointer_file_for(candidate).on_disk(repo.root).is_file():
            return candidate
    return None
