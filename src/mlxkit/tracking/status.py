"""mlx status: tracked paths whose workspace content differs from the pointer, is missing, or whose
objects are missing from the cache. Unchanged files cost a stat, not a hash (the stat cache), and
an unchanged directory one lookup after its scan (tracking/workspace.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from mlxkit.progress import NULL_PROGRESS, Progress
from mlxkit.repo.repository import Repository
from mlxkit.tracking.pointer import Pointer
from mlxkit.tracking.targets import read_pointers
from mlxkit.tracking.trees import changed_paths, missing_objects
from mlxkit.tracking.workspace import Counters, Scanner, Snapshot

DETAIL_LIMIT = 1000


@dataclass(frozen=True)
class PathStatus:
    path: str
    pointer: str
    changes: list[str]  # "modified", "missing", "not in cache"; empty when clean
    added: list[str] = field(default_factory=list)  # files inside a directory
    modified: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    missing_objects: int = 0
    problem: str | None = None


@dataclass(frozen=True)
class StatusReport:
    paths: list[PathStatus]
    tracked: int
    counters: dict[str, int]
    warnings: list[str] = field(default_factory=list)

    @property
    def is_clean(self) -> bool:
        return not self.paths


def status(
    repo: Repository, given: list[str] | None = None, *, cwd: Path | None = None, progress: Progress = NULL_PROGRESS
) -> StatusReport:
    pointers = read_pointers(repo, given, cwd)
    counters = Counters()
    scanner = Scanner(repo, store=False, counters=counters, progress=progress)
    dirty = []
    for pointer in pointers:
        entry = _path_status(repo, scanner, pointer, scanner.snapshot(pointer.target))
        if entry.changes:
            dirty.append(entry)
    return StatusReport(dirty, len(pointers), counters.as_dict(), [*repo.warnings, *repo.state.warnings])


def _path_status(repo: Repository, scanner: Scanner, pointer: Pointer, snapshot: Snapshot) -> PathStatus:
    changes = []
    added: list[str] = []
    modified: list[str] = []
    deleted: list[str] = []
    if not snapshot.exists:
        changes.append("missing")
    elif snapshot.digest != pointer.digest or (not pointer.is_dir and snapshot.executable != pointer.executable):
        changes.append("modified")
        listing = scanner.listing_of(snapshot) if pointer.is_dir else None
        if listing is not None:
            changed = changed_paths(repo.store, pointer.digest, listing)
            if changed is not None:
                added, modified, deleted = (paths[:DETAIL_LIMIT] for paths in changed)
    missing = missing_objects(repo, pointer, generation=scanner.generation() if pointer.is_dir else None)
    if missing:
        changes.append("not in cache")
    return PathStatus(
        str(pointer.target), str(pointer.file), changes, added, modified, deleted, missing, snapshot.problem
    )
