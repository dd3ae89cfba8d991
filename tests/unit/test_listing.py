"""Listing: a tree as plain tuples, whose bytes are exactly the tree object store/tree.py defines;
changed_paths: what differs between a cached tree and a listing, from the bytes of both."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlxkit.errors import InvalidFileError
from mlxkit.store.digest import Digest
from mlxkit.store.objects import ObjectStore
from mlxkit.store.tree import Tree, TreeEntry
from mlxkit.tracking.trees import Listing, changed_paths

HEX = st.text(alphabet="0123456789abcdef", min_size=64, max_size=64)
# Names as a walk finds them: anything but '/', NUL and lone surrogates (a scan refuses those).
NAME = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="/\x00"), min_size=1, max_size=8)
PATH = st.lists(NAME, min_size=1, max_size=3).map("/".join)
ENTRY = st.tuples(PATH, HEX, st.integers(min_value=0, max_value=2**53), st.booleans())


def listing(*entries: tuple[str, str, int, bool]) -> Listing:
    return Listing(sorted(entries))


@settings(deadline=None)  # timings are not what these properties check
@given(st.dictionaries(PATH, st.tuples(HEX, st.integers(min_value=0, max_value=2**53), st.booleans()), max_size=20))
def test_listing_bytes_and_digest_are_the_tree_objects(entries):
    rows = sorted((path, h, size, x) for path, (h, size, x) in entries.items())
    tree = Tree(tuple(TreeEntry(path, Digest(h), size, x) for path, h, size, x in rows))
    assert Listing(rows).data == tree.data
    assert Listing(rows).digest == tree.digest
    assert (Listing(rows).size, Listing(rows).files) == (sum(size for _p, _h, size, _x in rows), len(rows))


def test_empty_listing_is_the_empty_tree():
    assert Listing([]).data == b'{"entries":[],"format":1}'


A, B, C = "a" * 64, "b" * 64, "c" * 64


@pytest.fixture
def store(tmp_path):
    store = ObjectStore(tmp_path / "cache")
    store.create()
    return store


def test_changed_paths_names_added_modified_and_deleted_entries(store):
    old = listing(("a.csv", A, 1, False), ("sub/b", B, 2, False), ("sub/c", C, 3, False), ("run.sh", A, 1, False))
    digest, _new = store.put_bytes(old.data)
    now = listing(("a.csv", A, 1, False), ("sub/b", C, 2, False), ("sub/d", C, 3, False), ("run.sh", A, 1, True))

    assert changed_paths(store, digest, now) == (["sub/d"], ["run.sh", "sub/b"], ["sub/c"])
    assert changed_paths(store, digest, old) == ([], [], [])


def test_changed_paths_handles_names_that_json_escapes(store):
    odd = 'quote" back\\slash ,{"hash":" été'
    old = listing((odd, A, 1, False), ("z", B, 1, False))
    digest, _new = store.put_bytes(old.data)
    now = listing((odd, B, 1, False), ("z", B, 1, False))

    assert changed_paths(store, digest, now) == ([], [odd], [])


def test_changed_paths_of_a_tree_not_in_the_cache_is_none(store):
    assert changed_paths(store, Digest(A), listing()) is None


def test_changed_paths_refuses_a_tree_that_is_not_canonical(store):
    digest, _new = store.put_bytes(b'{"entries": [], "format": 1}')

    with pytest.raises(InvalidFileError, match="not in canonical form"):
        changed_paths(store, digest, listing())


@pytest.mark.parametrize(
    "edit",
    ["first", "last", "middle", "add-first", "add-last", "delete-first", "delete-last", "all", "none-left"],
)
def test_changed_paths_finds_a_difference_wherever_it_is(store, edit):
    old_rows = [(f"d{n // 10}/f{n:03}", A, n, False) for n in range(60)]
    rows = {row[0]: row for row in old_rows}
    if edit == "first":
        rows["d0/f000"] = ("d0/f000", B, 0, False)
    elif edit == "last":
        rows["d5/f059"] = ("d5/f059", B, 59, False)
    elif edit == "middle":
        rows["d2/f025"] = ("d2/f025", A, 999, False)
    elif edit == "add-first":
        rows["a"] = ("a", A, 1, False)
    elif edit == "add-last":
        rows["z/new"] = ("z/new", A, 1, False)
    elif edit == "delete-first":
        del rows["d0/f000"]
    elif edit == "delete-last":
        del rows["d5/f059"]
    elif edit == "all":
        rows = {path: (path, C, size, True) for path, _h, size, _x in old_rows}
    else:
        rows = {}
    digest, _new = store.put_bytes(listing(*old_rows).data)

    added, modified, deleted = changed_paths(store, digest, listing(*rows.values()))

    before = {row[0]: row for row in old_rows}
    assert added == sorted(set(rows) - set(before))
    assert deleted == sorted(set(before) - set(rows))
    assert modified == sorted(path for path in set(rows) & set(before) if rows[path] != before[path])


@pytest.mark.parametrize(
    "body", [b'{"hash":"x"},garbage', b'{"hash":"x","path":1,"size":1}', b'["a"]'], ids=["not json", "number", "list"]
)
def test_changed_paths_refuses_a_tree_whose_differing_entry_is_not_an_entry(store, body):
    digest, _new = store.put_bytes(b'{"entries":[' + body + b'],"format":1}')

    with pytest.raises(InvalidFileError):
        changed_paths(store, digest, listing(("a", A, 1, False)))
