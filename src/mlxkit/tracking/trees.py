"""Tree objects as the tracking verbs use them: read from the cache, checked for completeness, and
built from a scan as plain tuples.

A tree of 10^5 entries as TreeEntry objects costs about 0.3 s to build and 30 MiB to hold; as
tuples (a Listing) a tenth of that. So a Scanner returns a Listing, whose bytes come from the writer
of every tree object (store/tree.py's tree_data).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import cached_property
from typing import NoReturn

from mlxkit.errors import InvalidFileError, MissingObjectError
from mlxkit.repo.repository import Repository
from mlxkit.store.digest import Digest
from mlxkit.store.hashing import hash_bytes
from mlxkit.store.objects import ObjectStore
from mlxkit.store.tree import TREE_FORMAT, TREE_HEAD, Entry, Tree, tree_data
from mlxkit.tracking.pointer import Pointer

_recent: dict[tuple[str, Digest], Tree] = {}  # trees are immutable: one command reads each once


class Listing:
    """A directory's entries, sorted by path, with names a tree may hold (the scan checked them).
    (A plain class: a frozen dataclass costs 1.4 ms to define, which `mlx status` pays at start-up.)"""

    def __init__(self, entries: Sequence[Entry]) -> None:
        self.entries = entries

    @cached_property
    def data(self) -> bytes:
        return tree_data(self.entries)

    @cached_property
    def digest(self) -> Digest:
        return hash_bytes(self.data)

    @property
    def size(self) -> int:
        return sum(entry[2] for entry in self.entries)

    @property
    def files(self) -> int:
        return len(self.entries)


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


def changed_paths(store: ObjectStore, digest: Digest, now: Listing) -> tuple[list[str], list[str], list[str]] | None:
    """(added, modified, deleted) paths from tree `digest` to `now`, None when `digest` is not in
    the cache. For listing what changed, never for I/O.

    Both trees are canonical JSON: entries sorted by path, each between separators `,{"hash":"`
    (a `"` in a JSON string is escaped, so the separator cannot occur inside one). So what the two
    have in common at their start and at their end is the same entries, found by comparing bytes;
    only the entries between are parsed: a handful, where parsing 10^5 would cost 0.3 s and 60 MiB.
    The old tree's bytes are verified against `digest`; one that is not canonical is handed to
    Tree.parse, which says what is wrong with it.
    """
    try:
        data = store.read_verified(digest)
    except MissingObjectError:
        return None
    head, tail = TREE_HEAD, b'],"format":%d}' % TREE_FORMAT
    if not (data.startswith(head) and data.endswith(tail)):
        _malformed(data, digest)
    old, new = data[len(head) : -len(tail)], now.data[len(head) : -len(tail)]
    same = _common_prefix(old, new)
    start = max(old.rfind(_SEPARATOR, 0, same), 0)  # the entry boundary where the difference begins
    same_end = _common_suffix(old, new, limit=min(len(old), len(new)) - start)
    end = old.find(_SEPARATOR, len(old) - same_end)
    shift = len(new) - len(old)  # the same boundary in `new`, which differs only in the middle
    old_middle = old[start:] if end < 0 else old[start:end]
    new_middle = new[start:] if end < 0 else new[start : end + shift]
    before, after = _pieces(old_middle), _pieces(new_middle)
    try:
        removed = _parse_pieces(before - after)
    except (ValueError, TypeError, KeyError):
        _malformed(data, digest)
    put = _parse_pieces(after - before)
    return sorted(put - removed), sorted(put & removed), sorted(removed - put)


_OPENING = b'{"hash":"'
_SEPARATOR = b"," + _OPENING


def _common_prefix(a: bytes, b: bytes) -> int:
    """How many leading bytes `a` and `b` share, compared a block at a time (a slice of bytes is a
    copy, but memcmp on 64 KiB costs less than the loop around it)."""
    limit, same = min(len(a), len(b)), 0
    for step in (1 << 16, 1 << 10, 1 << 4, 1):
        while same + step <= limit and a[same : same + step] == b[same : same + step]:
            same += step
    return same


def _common_suffix(a: bytes, b: bytes, *, limit: int) -> int:
    """How many trailing bytes, up to `limit`, `a` and `b` share."""
    same = 0
    for step in (1 << 16, 1 << 10, 1 << 4, 1):
        while same + step <= limit and a[len(a) - same - step : len(a) - same] == b[len(b) - same - step : len(b) - same]:
            same += step
    return same


def _malformed(data: bytes, digest: Digest) -> NoReturn:
    source = f"tree {digest.short}"
    Tree.parse(data, source)  # says what is wrong
    raise InvalidFileError(source, "the tree object is not in canonical form (sorted, compact JSON)")


def _pieces(body: bytes) -> set[bytes]:
    """Entries cut at _SEPARATOR, each without its opening `{"hash":"` (the first one still has it)."""
    return {piece.removeprefix(_OPENING) for piece in body.split(_SEPARATOR) if piece}


def _parse_pieces(pieces: set[bytes]) -> set[str]:
    paths = {json.loads(_OPENING + piece)["path"] for piece in pieces}
    if not all(type(path) is str for path in paths):
        raise TypeError("a path that is not a string")
    return paths


def missing_objects(repo: Repository, pointer: Pointer, *, generation: int | None = None) -> int:
    """How many objects `pointer` names that the cache lacks (the tree object counts as one).
    `generation`: the cache's, when the caller has it (it costs 257 stats)."""
    store = repo.store
    if not pointer.is_dir:
        return 0 if store.has(pointer.digest) else 1
    if generation is None:
        generation = store.generation()
    if repo.state.is_complete(pointer.digest, generation):
        return 0
    try:
        tree = load_tree(store, pointer.digest, missing_ok=True)
    except InvalidFileError as exc:  # its bytes match its name: what calls it a directory is wrong
        raise InvalidFileError(
            exc.source, exc.problem,
            hint=f"'{pointer.target}' is recorded as a directory (a 'files:' line in its pointer or in mlx.lock), "
            "but its object is a file",
        ) from None
    if tree is None:
        return 1 + (pointer.files or 0)
    present = store.present(entry.digest for entry in tree.entries)
    missing = sum(1 for entry in tree.entries if entry.digest not in present)
    if missing == 0:
        repo.state.mark_complete([pointer.digest], generation)
    return missing
