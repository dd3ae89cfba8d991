"""mlx status --cloud: for each tracked path and stage output, how many of its objects are missing
from the local cache and how many from the remote. Nothing is written, here or there."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from mlxkit.repo.repository import Repository
from mlxkit.store.digest import Digest
from mlxkit.tracking.connect import connect
from mlxkit.tracking.history import WORKSPACE, Scope
from mlxkit.tracking.presence import cache_sizes, intact_on_remote
from mlxkit.tracking.roots import all_roots
from mlxkit.tracking.trees import load_tree
from mlxkit.tracking.wanted import target_path


@dataclass(frozen=True)
class CloudPath:
    path: str
    objects: int  # the tree (for a directory) and its files, as far as they are known
    missing_locally: int
    missing_remotely: int
    tree_unknown: bool = False  # a directory whose tree is in neither place: its files are not counted


@dataclass(frozen=True)
class CloudStatusReport:
    remote: str
    paths: list[CloudPath]  # only those not in both places
    tracked: int
    objects: int
    missing_locally: int
    missing_remotely: int
    warnings: list[str] = field(default_factory=list)

    @property
    def is_clean(self) -> bool:
        return not self.paths


def cloud_status(
    repo: Repository, remote: str | None = None, targets: list[str] | None = None, *, scope: Scope = WORKSPACE,
    cwd: Path | None = None,
) -> CloudStatusReport:
    filters = [target_path(repo, text, cwd) for text in targets or []]
    groups: dict[str, list[Digest]] = {}
    unknown_trees: set[str] = set()
    for root in all_roots(repo, scope):
        label = root.path or root.source
        if root.optional or (filters and not any(root.path and _within(root.path, f.posix) for f in filters)):
            continue
        if label in groups and root.digest in groups[label]:
            continue
        digests = groups.setdefault(label, [])
        digests.append(root.digest)
        if root.is_dir:
            tree = load_tree(repo.store, root.digest, missing_ok=True)
            if tree is None:
                unknown_trees.add(label)
            else:
                digests.extend(entry.digest for entry in tree.entries)
    connection = connect(repo, remote)
    connection.catalog.sync()
    everything = {digest for digests in groups.values() for digest in digests}
    local_sizes = cache_sizes(repo.store, everything)
    remote_has = intact_on_remote(connection, local_sizes)  # a copy of another size is damaged: missing
    local_missing = {digest for digest, size in local_sizes.items() if size is None}
    paths = []
    for label, digests in sorted(groups.items()):
        unique = set(digests)
        entry = CloudPath(
            label, len(unique), len(unique & local_missing), len(unique - remote_has), label in unknown_trees
        )
        if entry.missing_locally or entry.missing_remotely or entry.tree_unknown:
            paths.append(entry)
    return CloudStatusReport(
        connection.name, paths, len(groups), len(everything), len(local_missing), len(everything - remote_has),
        [f"bad index on the remote, ignored: {name}" for name in connection.catalog.bad_indexes],
    )


def _within(path: str, target: str) -> bool:
    return path == target or path.startswith(f"{target}/")
