"""Packs: the builder writes exactly the objects' bytes and names the pack by their hash; reads of
a pack are coalesced into few ranges, or one whole-pack read when most of it is wanted."""

from __future__ import annotations

import os

from blake3 import blake3
from hypothesis import given, settings
from hypothesis import strategies as st

from mlxkit.store.digest import Digest
from mlxkit.store.hashing import hash_bytes
from mlxkit.store.remotes.layout import Entry
from mlxkit.store.remotes.packs import GAP, Pack, PackBuilder, plan_reads

KIB = 1024


def test_a_pack_holds_the_objects_back_to_back_and_is_named_by_its_hash(tmp_path):
    objects = [b"first object", b"", b"third"]
    with PackBuilder(tmp_path, 1 << 20) as builder:
        assert [builder.add(hash_bytes(data), data) for data in objects] == [None, None, None]
        pack = builder.finish()

    assert isinstance(pack, Pack)
    content = pack.path.read_bytes()
    assert content == b"first object" + b"third"
    assert (pack.hex, pack.size) == (blake3(content).hexdigest(), len(content))
    assert pack.entries == (
        Entry(hash_bytes(b"first object").hex, 0, 12),
        Entry(hash_bytes(b"").hex, 12, 0),
        Entry(hash_bytes(b"third").hex, 12, 5),
    )
    assert pack.path.parent == tmp_path


def test_a_pack_is_complete_once_it_reaches_the_target_size(tmp_path):
    with PackBuilder(tmp_path, 10) as builder:
        assert builder.add(hash_bytes(b"123456"), b"123456") is None
        full = builder.add(hash_bytes(b"7890ab"), b"7890ab")
        assert builder.add(hash_bytes(b"next"), b"next") is None
        last = builder.finish()

    assert full is not None and last is not None
    assert (full.path.read_bytes(), full.size, len(full.entries)) == (b"1234567890ab", 12, 2)
    assert (last.path.read_bytes(), last.entries) == (b"next", (Entry(hash_bytes(b"next").hex, 0, 4),))
    assert full.path != last.path


def test_an_object_added_twice_is_packed_once(tmp_path):
    with PackBuilder(tmp_path, 100) as builder:
        builder.add(hash_bytes(b"same"), b"same")
        builder.add(hash_bytes(b"same"), b"same")
        pack = builder.finish()

    assert pack is not None and pack.path.read_bytes() == b"same"


def test_finish_without_objects_gives_nothing(tmp_path):
    with PackBuilder(tmp_path, 100) as builder:
        assert builder.finish() is None
        builder.add(hash_bytes(b"x"), b"x")
        assert builder.finish() is not None
        assert builder.finish() is None


def test_leaving_the_builder_removes_the_unfinished_pack_and_keeps_complete_ones(tmp_path):
    with PackBuilder(tmp_path, 4) as builder:
        complete = builder.add(hash_bytes(b"four"), b"four")
        builder.add(hash_bytes(b"ha"), b"ha")
        assert len(os.listdir(tmp_path)) == 2

    assert complete is not None
    assert os.listdir(tmp_path) == [complete.path.name]


# -- planning reads --------------------------------------------------------------------------------


def _entries(*spans: tuple[int, int]) -> list[tuple[str, int, int]]:
    return [(f"object-{i}", offset, length) for i, (offset, length) in enumerate(spans)]


def test_nothing_wanted_means_no_reads():
    assert plan_reads([], 1000) == []


def test_ranges_closer_than_the_gap_are_read_together():
    wanted = _entries((0, 100), (100 + GAP - 1, 100))

    assert plan_reads(wanted, 100 * 1024 * KIB) == [(0, GAP + 199, wanted)]


def test_ranges_a_full_gap_apart_are_read_apart():
    wanted = _entries((0, 100), (100 + GAP, 100))

    assert plan_reads(wanted, 100 * 1024 * KIB) == [(0, 100, wanted[:1]), (100 + GAP, 200 + GAP, wanted[1:])]


def test_more_than_half_of_a_pack_is_one_whole_pack_read():
    wanted = _entries((0, 300), (700, 301))

    assert plan_reads(wanted, 1200) == [(0, 1200, wanted)]


def test_half_of_a_pack_or_less_is_read_in_ranges():
    wanted = _entries((0, 300), (700, 300))

    assert plan_reads(wanted, 1200) == [(0, 1000, wanted)]


def test_plans_accept_the_callers_own_entries_in_any_order():
    first, second = (Digest("a" * 64), 5 * GAP, 10), (Digest("b" * 64), 0, 10)

    assert plan_reads([first, second], 100 * GAP) == [(0, 10, [second]), (5 * GAP, 5 * GAP + 10, [first])]


@settings(deadline=None)
@given(st.lists(st.tuples(st.integers(0, 4 * GAP), st.integers(0, GAP)), max_size=12), st.integers(0, 8 * GAP))
def test_every_wanted_entry_is_inside_exactly_one_read(spans, extra):
    wanted = _entries(*spans)
    size = max((offset + length for offset, length in spans), default=0) + extra

    reads = plan_reads(wanted, size)

    assert sorted(entry for _, _, inside in reads for entry in inside) == sorted(wanted)
    for start, end, inside in reads:
        assert 0 <= start <= end <= size
        assert all(start <= offset and offset + length <= end for _, offset, length in inside)
    assert all(a[1] <= b[0] for a, b in zip(reads, reads[1:]))  # in order, not overlapping
