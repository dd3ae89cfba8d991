"""The remote's layout: the marker, paths built only from checked names, and indexes that encode
deterministically and are read as hostile (docs/formats.md, "The remote")."""

from __future__ import annotations

import gzip
import json

import pytest
from blake3 import blake3
from hypothesis import given, settings
from hypothesis import strategies as st

from mlxkit.errors import InvalidFileError, UnsupportedFormatError
from mlxkit.store.digest import Digest, InvalidDigest
from mlxkit.store.remotes.layout import (
    MARKER,
    Entry,
    PackEntries,
    canonical_packs,
    create_marker,
    decode_index,
    encode_index,
    index_path,
    loose_path,
    pack_path,
    parse_index_name,
    parse_loose_name,
    parse_pack_name,
    read_marker,
)
from tests.remote_fixtures import RemoteSpec, named_index as named

A, B, C = "a" * 64, "b" * 64, "c" * 64
P, Q = "1" * 64, "2" * 64


def problem(document: object, *, compressed: bool = False) -> str:
    name, data = named(document, compressed=compressed)
    with pytest.raises(InvalidFileError) as caught:
        decode_index(name, data)
    assert caught.value.source == f"index/{name}"
    return caught.value.problem


# -- the marker ----------------------------------------------------------------------------------


def test_create_marker_writes_the_documented_bytes_and_read_marker_accepts_them(remote_url: RemoteSpec):
    fs = remote_url.open()

    create_marker(fs)

    assert fs.read(MARKER) == b'{"format": 1, "hash": "blake3", "kind": "remote"}\n'
    assert read_marker(fs) == 1
    create_marker(fs)  # a second push finds it and leaves it
    assert fs.list("") == {MARKER: 50}


def test_a_place_without_a_marker_has_no_format_and_is_left_alone(remote_url: RemoteSpec):
    fs = remote_url.open()

    assert read_marker(fs) is None
    assert fs.list("") == {}


def test_a_newer_format_is_refused_with_a_hint_to_upgrade(remote_url: RemoteSpec):
    fs = remote_url.open()
    fs.write(MARKER, b'{"format": 2, "hash": "blake3", "kind": "remote"}')

    for call in (read_marker, create_marker):
        with pytest.raises(UnsupportedFormatError) as caught:
            call(fs)
        assert caught.value.message == f"remote 'origin' ({fs.url}) uses format 2, this mlx reads 1"
        assert caught.value.hint == "upgrade mlx"
        assert caught.value.exit_code == 13


def test_a_cache_is_not_a_remote(tmp_path):
    from mlxkit.store.remotes.location import open_remote

    fs = open_remote("origin", str(tmp_path), {}, None)
    fs.write(MARKER, b'{"format": 1, "hash": "blake3"}\n')  # what `mlx init` writes in .mlx/cache

    with pytest.raises(UnsupportedFormatError) as caught:
        create_marker(fs)

    assert caught.value.message == f"remote 'origin' ({tmp_path}) is not an mlx remote: its mlx-store.json describes an mlx cache"
    assert caught.value.hint == "give the remote a place of its own"


@pytest.mark.parametrize(
    ("content", "problem_text"),
    [
        (b"{not json", "not valid JSON: Expecting property name enclosed in double quotes"),
        (b'{"format": "1", "hash": "blake3", "kind": "remote"}', 'expected {"format": 1, "hash": "blake3", "kind": "remote"}'),
        (b'{"format": true, "hash": "blake3", "kind": "remote"}', 'expected {"format": 1, "hash": "blake3", "kind": "remote"}'),
        (b"[1]", 'expected {"format": 1, "hash": "blake3", "kind": "remote"}'),
    ],
)
def test_a_malformed_marker_is_an_invalid_file(tmp_path, content, problem_text):
    from mlxkit.store.remotes.location import open_remote

    fs = open_remote("origin", str(tmp_path), {}, None)
    fs.write(MARKER, content)

    with pytest.raises(InvalidFileError) as caught:
        read_marker(fs)

    assert (caught.value.source, caught.value.problem) == (f"{tmp_path}/mlx-store.json", problem_text)


# -- paths and names -----------------------------------------------------------------------------


def test_paths_are_built_from_checked_names():
    assert loose_path(Digest(A)) == f"objects/aa/{A[2:]}"
    assert pack_path(P) == f"packs/{P}.pack"
    assert index_path(f"{Q}.json.gz") == f"index/{Q}.json.gz"
    assert index_path(f"{Q}.json") == f"index/{Q}.json"


@pytest.mark.parametrize("bad", ["../../etc/passwd", "A" * 64, "a" * 63, f"{'a' * 64}/x", ""])
def test_pack_path_refuses_anything_but_64_lowercase_hex(bad):
    with pytest.raises(InvalidDigest):
        pack_path(bad)


@pytest.mark.parametrize("bad", ["../x.json", f"{A}.json.bz2", f"{A}.JSON", f"{A[:63]}.json", f"x/{A}.json"])
def test_index_path_refuses_anything_but_an_index_name(bad):
    with pytest.raises(ValueError, match="not an index name"):
        index_path(bad)


def test_listed_names_parse_only_when_well_formed():
    assert parse_loose_name(f"ab/{A[2:]}") == Digest("ab" + A[2:])
    assert parse_loose_name(f"ab/{A[2:]}x") is None
    assert parse_loose_name(f".mlx-tmp-{A[:16]}") is None
    assert parse_pack_name(f"{P}.pack") == P
    assert parse_pack_name(f"{P}.pack.part") is None
    assert parse_index_name(f"{Q}.json.gz") == Q
    assert parse_index_name(f"{Q}.json") == Q
    assert parse_index_name(f"{Q}.gz") is None


# -- encoding --------------------------------------------------------------------------------------


def test_an_index_is_compact_sorted_json_named_by_the_hash_of_its_bytes():
    name, data = encode_index([PackEntries(P, 10, (Entry(B, 4, 6), Entry(A, 0, 4)))])

    raw = gzip.decompress(data) if name.endswith(".gz") else data
    assert raw == (
        b'{"format":1,"packs":{"' + P.encode() + b'":{"objects":[["' + A.encode() + b'",0,4],["'
        + B.encode() + b'",4,6]],"size":10}}}'
    )
    assert name == f"{blake3(data).hexdigest()}.json" + (".gz" if name.endswith(".gz") else "")


def test_the_same_packs_in_any_order_give_the_same_index():
    one = encode_index([PackEntries(P, 10, (Entry(A, 0, 4), Entry(B, 4, 6))), PackEntries(Q, 3, (Entry(C, 0, 3),))])
    two = encode_index([PackEntries(Q, 3, (Entry(C, 0, 3),)), PackEntries(P, 10, (Entry(B, 4, 6), Entry(A, 0, 4)))])

    assert one == two


def test_canonical_packs_are_what_the_index_decodes_to():
    packs = [
        PackEntries(Q, 3, (Entry(C, 0, 3),)),
        PackEntries(P, 1000, tuple(Entry(f"{i:064x}", (99 - i) * 10, 10) for i in range(100))),  # entries out of order
    ]

    decoded = decode_index(*encode_index(packs))

    assert canonical_packs(packs) == decoded
    assert list(canonical_packs(packs)) == list(decoded)


def test_gzip_is_used_only_when_it_pays():
    small_name, small = encode_index([])
    big_name, big = encode_index([PackEntries(P, 1000, tuple(Entry(f"{i:064x}", i * 10, 10) for i in range(100)))])

    assert small_name.endswith(".json") and small == b'{"format":1,"packs":{}}'
    assert big_name.endswith(".json.gz") and gzip.decompress(big).startswith(b'{"format":1,')
    assert big[4:8] == b"\0\0\0\0"  # gzip's time stamp: zero, so the name depends on content only


@st.composite
def _packs(draw: st.DrawFn) -> list[PackEntries]:
    packs = []
    for pack_hex in draw(st.lists(st.text("0123456789abcdef", min_size=64, max_size=64), unique=True, max_size=3)):
        lengths = draw(st.lists(st.integers(0, 50), max_size=6))
        names = draw(st.lists(st.text("0123456789abcdef", min_size=64, max_size=64), min_size=len(lengths),
                              max_size=len(lengths), unique=True))
        entries, offset = [], 0
        for name, length in zip(names, lengths):
            offset += draw(st.integers(0, 5))  # gaps are allowed, overlaps are not
            entries.append(Entry(name, offset, length))
            offset += length
        packs.append(PackEntries(pack_hex, offset + draw(st.integers(0, 5)), tuple(entries)))
    return packs


@settings(deadline=None)
@given(_packs())
def test_indexes_round_trip(packs):
    name, data = encode_index(packs)

    decoded = decode_index(name, data)

    assert decoded == {pack.hex: PackEntries(pack.hex, pack.size, tuple(sorted(pack.entries, key=lambda e: (e.offset, e.length)))) for pack in packs}


# -- decoding hostile indexes ----------------------------------------------------------------------


def test_an_index_whose_bytes_do_not_match_its_name_is_refused():
    name, data = encode_index([PackEntries(P, 4, (Entry(A, 0, 4),))])

    with pytest.raises(InvalidFileError) as caught:
        decode_index(name, data + b" ")

    assert caught.value.message == f"invalid file 'index/{name}': its bytes do not match its name"


@pytest.mark.parametrize("name", ["x.json", f"{A}.json.zip", f"../{A}.json", f"{A.upper()}.json"])
def test_an_index_with_a_bad_name_is_refused(name):
    with pytest.raises(InvalidFileError) as caught:
        decode_index(name, b"{}")

    assert caught.value.problem == "not an index name (<64 hex digits>.json.gz or .json)"


def _doc(objects: object, size: object = 100, pack: str = P) -> dict[str, object]:
    return {"format": 1, "packs": {pack: {"size": size, "objects": objects}}}


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        (_doc([[A, 0, 10], [B, 5, 10]]), f"pack {P[:12]}: object {B[:12]} overlaps the one before it"),
        (_doc([[A, 0, 10], [A, 10, 10]]), f"pack {P[:12]}: object {A[:12]} is listed twice"),
        (_doc([[A, 95, 10]]), f"pack {P[:12]}, entry 0: ends at byte 105, past the pack's size 100"),
        (_doc([[A, -1, 1]]), f"pack {P[:12]}, entry 0: offset and length must be non-negative integers"),
        (_doc([[A, 0, True]]), f"pack {P[:12]}, entry 0: offset and length must be non-negative integers"),
        (_doc([[A, 0.0, 1]]), f"pack {P[:12]}, entry 0: offset and length must be non-negative integers"),
        (_doc([[A.upper(), 0, 1]]), f"pack {P[:12]}, entry 0: the object name is not 64 lowercase hex digits"),
        (_doc([["../../x", 0, 1]]), f"pack {P[:12]}, entry 0: the object name is not 64 lowercase hex digits"),
        (_doc([[A, 0]]), f'pack {P[:12]}, entry 0: expected ["<object hex>", offset, length]'),
        (_doc({"a": 1}), f'pack {P[:12]}: expected {{"objects": [...], "size": N}}'),
        (_doc([], size=-5), f"pack {P[:12]}: the size must be a non-negative integer"),
        (_doc([], pack="../packs/x"), "pack name '../packs/x' is not 64 lowercase hex digits"),
        ({"format": 1, "packs": {}, "extra": 1}, 'expected {"format": 1, "packs": {...}}'),
        ({"format": 1, "packs": []}, 'expected {"format": 1, "packs": {...}}'),
        ({"format": True, "packs": {}}, 'expected {"format": 1, "packs": {...}}'),
        ([1, 2], 'expected {"format": 1, "packs": {...}}'),
        (b'{"format": 1, "format": 1, "packs": {}}', "duplicate key 'format'"),
    ],
)
def test_hostile_indexes_are_refused_with_what_is_wrong(document, expected):
    assert problem(document) == expected
    assert problem(document, compressed=True) == expected


def test_entries_that_touch_do_not_overlap():
    name, data = named(_doc([[B, 4, 6], [A, 0, 4], [C, 10, 0]], size=10))

    assert [tuple(entry) for entry in decode_index(name, data)[P].entries] == [(A, 0, 4), (B, 4, 6), (C, 10, 0)]


def test_a_newer_index_format_is_unsupported():
    name, data = named({"format": 2, "packs": {}, "whatever": []})

    with pytest.raises(UnsupportedFormatError) as caught:
        decode_index(name, data)

    assert caught.value.message == f"'index/{name}' uses index format 2, this mlx reads 1"
    assert caught.value.hint == "upgrade mlx"


def test_a_gz_index_that_is_not_gzip_or_has_trailing_bytes_is_refused():
    raw = json.dumps({"format": 1, "packs": {}}).encode()
    for data, expected in [
        (raw, "not valid gzip (Error -3 while decompressing data: incorrect header check)"),
        (gzip.compress(raw, mtime=0) + b"junk", "not valid gzip (truncated, or followed by other data)"),
        (gzip.compress(raw, mtime=0)[:-6], "not valid gzip (truncated, or followed by other data)"),
    ]:
        name = f"{blake3(data).hexdigest()}.json.gz"
        with pytest.raises(InvalidFileError) as caught:
            decode_index(name, data)
        assert caught.value.problem == expected


@settings(deadline=None)
@given(st.binary(max_size=200), st.booleans())
def test_arbitrary_bytes_under_a_matching_name_raise_only_invalid_file(data, compressed):
    name = f"{blake3(data).hexdigest()}.json{'.gz' if compressed else ''}"
    try:
        decode_index(name, data)
    except InvalidFileError:
        pass


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 200) | st.sampled_from([A, B, P, "x"]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(["format", "packs", "size", "objects", P, Q]), inner, max_size=3),
    max_leaves=20,
)


@settings(deadline=None)
@given(_JSON)
def test_arbitrary_json_raises_only_invalid_file_or_unsupported_format(document):
    name, data = named(document)
    try:
        packs = decode_index(name, data)
    except (InvalidFileError, UnsupportedFormatError):
        return
    for pack in packs.values():  # whatever is accepted keeps the promises
        end = 0
        for entry in pack.entries:
            assert end <= entry.offset and entry.offset + entry.length <= pack.size
            end = entry.offset + entry.length
