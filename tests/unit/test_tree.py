"""Tree objects: one canonical byte string per directory content, and hostile trees refused whole."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlxkit.errors import InvalidFileError, UnsupportedFormatError
from mlxkit.store.digest import Digest
from mlxkit.store.hashing import hash_bytes
from mlxkit.store.tree import Tree, TreeEntry

H1 = "blake3:" + "1" * 64
H2 = "blake3:" + "2" * 64
# Computed once from b'{"entries":[],"format":1}'; docs/formats.md quotes the same value.
EMPTY_TREE = "blake3:2e5bc5ed8d9b07cfaeb3fd79299d3dfa67875d803416e2eedcc36c52334f2d54"


def tree_bytes(entries: list[dict[str, object]], fmt: object = 1) -> bytes:
    """What a canonical writer would produce for these entries (in the order given)."""
    return json.dumps({"entries": entries, "format": fmt}, separators=(",", ":"), sort_keys=True).encode()


def entry(path: str, digest: str = H1, size: int = 1, **extra: object) -> dict[str, object]:
    return {"hash": digest, "path": path, "size": size, **extra}


def sorted_tree(entries: list[TreeEntry]) -> Tree:
    return Tree(tuple(sorted(entries, key=lambda item: item.path)))


def test_empty_tree_has_the_documented_bytes_and_digest():
    tree = Tree(())
    assert tree.data == b'{"entries":[],"format":1}'
    assert str(tree.digest) == EMPTY_TREE


def test_tree_data_is_compact_json_with_x_only_when_executable():
    tree = Tree((TreeEntry("a/c", Digest.parse(H1), 1), TreeEntry("b", Digest.parse(H2), 2, executable=True)))
    assert tree.data == (
        b'{"entries":[{"hash":"' + H1.encode() + b'","path":"a/c","size":1},'
        b'{"hash":"' + H2.encode() + b'","path":"b","size":2,"x":true}],"format":1}'
    )
    assert tree.digest == hash_bytes(tree.data)


def test_tree_parse_reads_back_what_data_wrote():
    tree = Tree((TreeEntry("d/é.txt", Digest.parse(H1), 5), TreeEntry("run.sh", Digest.parse(H2), 9, True)))
    again = Tree.parse(tree.data, "t")
    assert again == tree
    assert again.digest == tree.digest


_NAME = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="/\\\x00"), min_size=1, max_size=8
).filter(lambda name: name not in (".", "..") and not name.startswith("~"))
_PATH = st.lists(_NAME, min_size=1, max_size=3).map("/".join)
_ENTRY = st.builds(
    TreeEntry,
    path=_PATH,
    digest=st.binary(min_size=1, max_size=8).map(hash_bytes),
    size=st.integers(min_value=0, max_value=2**63),
    executable=st.booleans(),
)


def _safe_entries(entries: list[TreeEntry]) -> list[TreeEntry]:
    """Drop entries Tree.parse refuses: unsafe names, duplicates, files that are also directories."""
    from mlxkit.fs.confine import unsafe_reason

    kept: dict[str, TreeEntry] = {}
    for item in entries:
        if unsafe_reason(item.path) is None:
            kept.setdefault(item.path, item)
    paths = set(kept)
    return [
        item
        for path, item in kept.items()
        if not any("/".join(path.split("/")[:depth]) in paths for depth in range(1, path.count("/") + 1))
    ]


@settings(deadline=None)  # timings are not what these properties check
@given(st.lists(_ENTRY, max_size=12).map(_safe_entries))
def test_tree_data_parse_round_trip_keeps_tree_and_digest(entries):
    tree = sorted_tree(entries)
    parsed = Tree.parse(tree.data, "t")
    assert parsed == tree
    assert parsed.digest == tree.digest == hash_bytes(tree.data)
    assert [item.path for item in parsed.entries] == sorted(item.path for item in entries)


@settings(deadline=None)  # timings are not what these properties check
@given(st.lists(_ENTRY, max_size=12).map(_safe_entries))
def test_tree_data_is_the_compact_sorted_json_of_the_documented_shape(entries):
    tree = sorted_tree(entries)
    body = [
        {"hash": str(item.digest), "path": item.path, "size": item.size, **({"x": True} if item.executable else {})}
        for item in tree.entries
    ]
    expected = json.dumps({"entries": body, "format": 1}, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    assert tree.data == expected.encode("utf-8")


@pytest.mark.parametrize(
    "path",
    ["../x", "/x", "a/../../b", "a/..", ".git/hooks/x", "a/.GIT/config", ".mlx/x", "x/.mlx/cache", "a//b", "a/./b",
     "a/", "", "C:/x", "~/x", "a\\b", "a\x00b"],
)
def test_tree_parse_rejects_unsafe_paths(path):
    with pytest.raises(InvalidFileError, match="unsafe path"):
        Tree.parse(tree_bytes([entry(path)]), "t")


def test_tree_parse_rejects_duplicate_entries():
    with pytest.raises(InvalidFileError, match="duplicate entry 'a' in tree"):
        Tree.parse(tree_bytes([entry("a"), entry("a", H2)]), "t")


def test_tree_parse_rejects_file_that_is_also_a_directory():
    with pytest.raises(InvalidFileError, match="'a' is both a file and a directory"):
        Tree.parse(tree_bytes([entry("a"), entry("a/b")]), "t")


def test_tree_parse_rejects_deep_file_and_directory_conflict():
    with pytest.raises(InvalidFileError, match="'a/b' is both a file and a directory"):
        Tree.parse(tree_bytes([entry("a-"), entry("a/b"), entry("a/b/c/d")]), "t")


def test_tree_parse_rejects_unsorted_entries():
    with pytest.raises(InvalidFileError, match="unsorted entry 'a' in tree"):
        Tree.parse(tree_bytes([entry("b"), entry("a")]), "t")


@pytest.mark.parametrize(
    "data",
    [
        b'{"entries": [], "format": 1}',
        b'{"entries":[],"format":1}\n',
        b' {"entries":[],"format":1}',
        b'{"format":1,"entries":[]}',
        b'{"entries":[],"format":1.0}',
        b'{"entries":[],"format":true}',
        b'{"entries":[],"format":1,"format":1}',
        ('{"entries":[{"hash":"%s","path":"\\u00e9","size":1}],"format":1}' % H1).encode(),
        ('{"entries":[{"path":"a","hash":"%s","size":1}],"format":1}' % H1).encode(),
    ],
)
def test_tree_parse_rejects_non_canonical_bytes(data):
    with pytest.raises(InvalidFileError, match="not in canonical form"):
        Tree.parse(data, "t")


@pytest.mark.parametrize("fmt", [2, 99])
def test_tree_parse_refuses_newer_format_as_unsupported(fmt):
    with pytest.raises(UnsupportedFormatError, match=f"tree object 't' uses format {fmt}, this mlx reads 1") as info:
        Tree.parse(tree_bytes([], fmt), "t")
    assert info.value.hint == "upgrade mlx"


@pytest.mark.parametrize(
    "raw",
    [
        entry("a", "blake3:" + "A" * 64),
        entry("a", "blake3:../../x"),
        entry("a", "sha256:" + "1" * 64),
        entry("a", 7),
    ],
)
def test_tree_parse_rejects_bad_hash(raw):
    with pytest.raises(InvalidFileError, match="^invalid file 't entry 0': "):
        Tree.parse(tree_bytes([raw]), "t")


@pytest.mark.parametrize(
    "raw",
    [
        entry("a", size=-1),
        entry("a", size=True),
        entry("a", size=1.5),
        entry("a", size="1"),
        entry(7),
        entry("a", x=False),
        entry("a", x=1),
        entry("a", mode=420),
        {"hash": H1, "path": "a"},
        "a",
    ],
)
def test_tree_parse_rejects_malformed_entries(raw):
    with pytest.raises(InvalidFileError, match="^invalid file 't entry 0': "):
        Tree.parse(tree_bytes([raw]), "t")


@pytest.mark.parametrize(
    "data",
    [b"", b"null", b"[]", b'{"entries":[]}', b'{"entries":{},"format":1}', b'{"entries":[],"format":1,"x":1}',
     b"\xff\xfe", b"[" * 100_000, b'{"entries":[],"format":1' + b"0" * 5000 + b"}"],
)
def test_tree_parse_rejects_documents_that_are_not_tree_objects(data):
    with pytest.raises(InvalidFileError):
        Tree.parse(data, "t")


@settings(deadline=None)  # timings are not what these properties check
@given(st.binary(max_size=200))
def test_tree_parse_of_arbitrary_bytes_raises_only_invalid_file_or_unsupported(data):
    try:
        Tree.parse(data, "t")
    except (InvalidFileError, UnsupportedFormatError):
        pass


_SCALAR = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=6)
_JSON = st.recursive(
    _SCALAR | st.sampled_from([H1, ".git/x"]),
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(st.sampled_from(["path", "hash", "size", "x", "k"]), children, max_size=4),
    max_leaves=12,
)
_ENTRY_JSON = _JSON | st.builds(entry, st.sampled_from(["a", "a/b", "../x", "b"]))


@settings(deadline=None)  # timings are not what these properties check
@given(st.fixed_dictionaries({"entries": st.lists(_ENTRY_JSON, max_size=4), "format": _JSON | st.just(1)}))
def test_tree_parse_of_json_shaped_documents_raises_only_invalid_file_or_unsupported(doc):
    data = json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()
    try:
        tree = Tree.parse(data, "t")
    except (InvalidFileError, UnsupportedFormatError):
        return
    assert tree.data == data
