"""Reading tree objects from the cache, and asking whether everything a pointer names is there."""

from __future__ import annotations

from mlxkit.errors import MissingObjectError
from mlxkit.repo.repository import Repository
from mlxkit.store.digest import Digest
from mlxkit.store.objects import ObjectStore
from mlxkit.store.tree import Tree
from mlxkit.tracking.pointer import Pointer


_recent: dict[tuple[str, Digest], Tree] = {}  # trees are immutable: one command reads each once


def load_tree(store: ObjectStore, digest: Digest, *, missing_ok: bool = False) -> Tree | None:
    """The tree object `digest`, verified against its name before it is parsed."""
    key = (str(store.root), digest)
    if key in _recent and store.has(digest):  # a long-lived API user may have run gc since
        return _recent[key]
    try:
        data = store.read_verified(digest)
    except MissingObjectError:
        if missing_ok:
            return None
        raise MissingObjectError(
            f"the tree object {digest.short} is not in the cache", hint="re-add the directory with 'mlx add' where you still have it"
        ) from None
    tree = Tree.parse(data, f"tree {digest.short}")
    if len(_recent) >= 8:
        _recent.pop(next(iter(_recent)))
    _recent[key] = tree
    return tree


def missing_objects(repo: Repository, pointer: Pointer) -> int:
    """How many objects `pointer` names that the cache lacks (the tree object counts as one)."""
    store = repo.store
    if not pointer.is_dir:
        return 0 if store.has(pointer.digest) else 1
    generation = store.generation()
    if repo.state.is_complete(pointer.digest, generation):
        return 0
    tree = load_tree(store, pointer.digest, missing_ok=True)
    if tree is None:
        return 1 + (pointer.files or 0)
    missing = sum(1 for entry in tree.entries if not store.has(entry.digest))
    if missing == 0:
        repo.state.mark_complete(pointer.digest, generation)
    return missing
