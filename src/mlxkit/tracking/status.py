"""mlx status: tracked paths whose workspace content differs from the pointer, is missing, or whose
objects are missing from the cache. Unchanged files cost a stat, not a hash (the stat cache)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from mlxkit.progress import NULL_PROGRESS, Progress
from mlxkit.repo.repository import Repository
from mlxkit.store.tree import Tree
from mlxkit.tracking.pointer import Pointer
from mlxkit.tracking.targets import read_pointers
from mlxkit.tracking.trees import load_tree, missing_objects
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
    return StatusReport(dirty, len(pointers), counters.as_dict(), list(repo.state.warnings))


def _path_status(repo: Repository, scanner: Scanner, pointer: Pointer, snapshot: Snapshot) -> PathStatus:
    changes = []
    added: list[str] = []
    modified: list[str] = []
    deleted: list[str] = []
    if not snapshot.exists:
        changes.append("missing")
    elif snapshot.digest != pointer.digest or (not pointer.is_dir and snapshot.executable != pointer.executable):
        changes.append("modified")
        if pointer.is_dir and snapshot.tree is None and snapshot.problem is None:
            snapshot = scanner.snapshot(pointer.target, with_tree=True)
        if pointer.is_dir and snapshot.tree is not None:
            old = load_tree(repo.store, pointer.digest, missing_ok=True)
            if old is not None:
                added, modified, deleted = _tree_changes(old, snapshot.tree)
    missing = missing_objects(repo, pointer)
    if missing:
        changes.append("not in cache")
    return PathStatus(
        str(pointer.target), str(pointer.file), changes, added, modified, deleted, missing, snapshot.problem
    )


def _tree_changes(old: Tree, new: Tree) -> tuple[list[str], list[str], list[str]]:
    before = {e.path: e for e in old.entries}
    after = {e.path: e for e in new.entries}
    added = sorted(set(after) - set(before))[:DETAIL_LIMIT]
    deleted = sorted(set(before) - set(after))[:DETAIL_LIMIT]
    modified = sorted(p for p in set(before) & set(after) if before[p] != after[p])[:DETAIL_LIMIT]
    return added, modified, deleted
