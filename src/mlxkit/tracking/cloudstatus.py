"""mlx status --cloud: for each tracked path and stage output, how many of its objects are missing
from the local cache and how many from the remote. Nothing is written, here or there.

A directory whose tree is not in the local cache (a fresh clone) is read from the remote (one
request per tree, in parallel), so that its files are counted too; only a tree in neither place (or
damaged on the remote) leaves its files uncounted. A place without a marker holds nothing mlx knows
of: every object is missing there.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from mlxkit.errors import InvalidFileError, UnsupportedFormatError
from mlxkit.repo.repository import Repository
from mlxkit.store.digest import Digest
from mlxkit.store.hashing import hash_bytes
from mlxkit.store.remotes.fs import RemoteNotFoundError
from mlxkit.store.tree import Tree
from mlxkit.tracking.connect import Connection, connect
from mlxkit.tracking.history import WORKSPACE, Scope
from mlxkit.tracking.presence import cache_sizes, intact_on_remote, read_copy
from mlxkit.tracking.trees import load_tree
from mlxkit.tracking.wanted import Selection, selected_roots, target_paths


@dataclass(frozen=True)
class CloudPath:
    path: str
    objects: int  # the tree (for a directory) and its files, as far as they are known
    missing_locally: int
    missing_remotely: int
    tree_unknown: bool = False  # a directory whose tree is in neither place (or damaged there): its files are not counted


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
    groups, unknown_trees = _groups(repo, Selection(target_paths(repo, targets, cwd)), scope)
    connection = connect(repo, remote)
    warnings: list[str] = []
    remote_has: set[Digest] = set()
    if not connection.unmarked:
        connection.catalog.sync()
        trees_there = intact_on_remote(connection, dict.fromkeys(unknown_trees.values()))  # few: probed, not listed
        listed = _read_remote_trees(connection, groups, unknown_trees, trees_there, warnings)  # adds to groups
    everything = {digest for digests in groups.values() for digest in digests}
    sizes = cache_sizes(repo.store, everything)  # one stat an object: what the cache lacks, and the sizes to compare
    local_missing = {digest for digest, size in sizes.items() if size is None}
    if not connection.unmarked:
        sizes.update((digest, size) for digest, size in listed.items() if sizes[digest] is None)
        # a copy of another size is missing there, and so is a tree still unknown: absent, or unreadable
        remote_has = intact_on_remote(connection, sizes) - set(unknown_trees.values())
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
        [*repo.warnings, *connection.reader_warnings(), *warnings],
    )


def _groups(repo: Repository, selection: Selection, scope: Scope) -> tuple[dict[str, list[Digest]], dict[str, Digest]]:
    """Each tracked path's (or stage output's) objects, as far as the local cache knows them, and
    the directories whose tree is not in the cache (label -> tree). Refuses a target that matches
    nothing, as every other command does."""
    groups: dict[str, list[Digest]] = {}
    unknown_trees: dict[str, Digest] = {}
    for root in selected_roots(repo, selection, scope):
        label = root.path or root.source
        if root.optional or not selection.admits(root):
            continue
        if label in groups and root.digest in groups[label]:
            continue
        digests = groups.setdefault(label, [])
        digests.append(root.digest)
        if root.is_dir:
            tree = load_tree(repo.store, root.digest, missing_ok=True)
            if tree is None:
                unknown_trees[label] = root.digest
            else:
                digests.extend(entry.digest for entry in tree.entries)
    selection.refuse_unmatched()
    return groups, unknown_trees


def _read_remote_trees(
    connection: Connection, groups: dict[str, list[Digest]], unknown_trees: dict[str, Digest], there: set[Digest],
    warnings: list[str],
) -> dict[Digest, int]:
    """Read each unknown tree the remote has (`there`) and add its files to its group: it is no
    longer unknown. Returns the sizes the trees give their files. A tree that cannot be read stays
    unknown, with a warning."""
    readable = sorted((label, digest) for label, digest in unknown_trees.items() if digest in there)
    with ThreadPoolExecutor(max(1, connection.fs.jobs), thread_name_prefix="mlx-tree") as pool:
        trees = list(pool.map(lambda item: _remote_tree(connection, item[1]), readable))
    sizes: dict[Digest, int] = {}
    for (label, digest), tree in zip(readable, trees):
        if tree is None:
            warnings.append(
                f"the listing of '{label}' on '{connection.name}' (tree {digest.short}) is damaged: its files are not counted"
            )
            continue
        del unknown_trees[label]
        groups[label].extend(entry.digest for entry in tree.entries)
        sizes.update((entry.digest, entry.size) for entry in tree.entries)
    return sizes


def _remote_tree(connection: Connection, digest: Digest) -> Tree | None:
    """The tree object `digest` read from the remote (nothing is stored): its first copy that hashes
    to its name, parsed; None when there is none, or it is not a tree."""
    for location in [*connection.catalog.locations(digest), None]:  # the packed copies, then a loose one
        try:
            data = read_copy(connection, digest, location)
        except RemoteNotFoundError:
            continue
        if hash_bytes(data) == digest:
            try:
                return Tree.parse(data, f"tree {digest.short}")
            except (InvalidFileError, UnsupportedFormatError):
                return None
    return None
