"""The catalog: the union of a remote's indexes, copied locally once, with entries whose pack is
absent or of another size ignored and bad indexes reported rather than fatal."""

from __future__ import annotations

import os
from pathlib import Path

from blake3 import blake3

from mlxkit.store.hashing import hash_bytes
from mlxkit.store.remotes.catalog import Catalog, Location
from mlxkit.store.remotes.fs import RemoteFS
from mlxkit.store.remotes.layout import Entry, PackEntries, canonical_packs, encode_index, index_path, pack_path
from mlxkit.store.remotes.packs import Pack, PackBuilder
from tests.remote_fixtures import RemoteSpec, named_index


def push(fs: RemoteFS, tmp: Path, objects: list[bytes], *, pack_size: int = 1 << 20, upload: bool = True) -> tuple[list[Pack], str]:
    """What a push does: pack the objects, upload the packs, then write the one index."""
    tmp.mkdir(exist_ok=True)
    packs = []
    with PackBuilder(tmp, pack_size) as builder:
        for data in objects:
            if (pack := builder.add(hash_bytes(data), data)) is not None:
                packs.append(pack)
        if (pack := builder.finish()) is not None:
            packs.append(pack)
    for pack in packs if upload else []:
        fs.upload(pack.path, pack_path(pack.hex))
    name, data = encode_index(packs)
    fs.write(index_path(name), data)
    return packs, name


def unique(label: str, count: int) -> list[bytes]:
    """Objects no other test has (the decoded indexes are cached for the whole process)."""
    salt = os.urandom(8).hex()
    return [f"{label} {i} {salt}".encode() for i in range(count)]


def test_sync_locates_every_pushed_object_and_the_bytes_are_there(remote_url: RemoteSpec, tmp_path):
    fs = remote_url.open()
    objects = unique("object", 20)
    packs, _ = push(fs, tmp_path / "tmp", objects, pack_size=100)
    catalog = Catalog(tmp_path / "catalog", fs)

    catalog.sync()

    assert len(packs) > 1
    assert catalog.packed() == {hash_bytes(data).hex for data in objects}
    assert catalog.packs() == {pack.hex: pack.size for pack in packs}
    for data in objects:
        location = catalog.locate(hash_bytes(data))
        assert isinstance(location, Location)
        start = location.offset
        assert fs.read_ranges(pack_path(location.pack), [(start, start + location.length)]) == [data]
    assert (sorted(catalog.problems), catalog.ignored_entries) == ([], 0)


def test_the_union_of_several_indexes_is_found_with_parallel_downloads(remote_url: RemoteSpec, tmp_path):
    fs = remote_url.open(jobs=4)
    batches = [unique(f"batch {n}", 3) for n in range(5)]
    names = [push(fs, tmp_path / "tmp", batch)[1] for batch in batches]
    catalog = Catalog(tmp_path / "catalog", fs)

    catalog.sync()

    assert catalog.packed() == {hash_bytes(data).hex for batch in batches for data in batch}
    assert sorted(os.listdir(tmp_path / "catalog" / "index")) == sorted(names)
    assert (tmp_path / "catalog" / "url").read_text() == fs.url


def test_an_index_whose_pack_is_missing_is_ignored(remote_url: RemoteSpec, tmp_path):
    fs = remote_url.open()
    present = unique("present", 2)
    push(fs, tmp_path / "tmp", present)
    absent = unique("interrupted push", 3)
    push(fs, tmp_path / "tmp", absent, upload=False)  # an index without its pack (never written so)
    catalog = Catalog(tmp_path / "catalog", fs)

    catalog.sync()

    assert catalog.packed() == {hash_bytes(data).hex for data in present}
    assert catalog.locate(hash_bytes(absent[0])) is None
    assert (catalog.ignored_entries, sorted(catalog.problems)) == (3, [])


def test_an_entry_whose_pack_has_another_size_is_ignored(remote_url: RemoteSpec, tmp_path):
    fs = remote_url.open()
    objects = unique("truncated", 2)
    packs, _ = push(fs, tmp_path / "tmp", objects)
    fs.write(pack_path(packs[0].hex), b"cut short")
    catalog = Catalog(tmp_path / "catalog", fs)

    catalog.sync()

    assert (catalog.packed(), catalog.ignored_entries) == (set(), 2)
    assert catalog.packs() == {packs[0].hex: len(b"cut short")}


def test_bad_indexes_are_reported_and_the_good_ones_still_used(remote_url: RemoteSpec, tmp_path):
    fs = remote_url.open()
    good = unique("good", 2)
    push(fs, tmp_path / "tmp", good)
    wrong_name = f"{'0' * 64}.json"
    fs.write(index_path(wrong_name), b'{"format": 1, "packs": {}}')
    pack_hex = blake3(os.urandom(8)).hexdigest()
    overlapping = {"format": 1, "packs": {pack_hex: {"size": 10, "objects": [["a" * 64, 0, 6], ["b" * 64, 5, 5]]}}}
    hostile_name, hostile = named_index(overlapping)
    fs.write(index_path(hostile_name), hostile)
    catalog = Catalog(tmp_path / "catalog", fs)

    catalog.sync()

    assert catalog.packed() == {hash_bytes(data).hex for data in good}
    assert sorted(catalog.problems) == sorted([wrong_name, hostile_name])
    assert catalog.problems[wrong_name].startswith("its bytes do not match its name on the remote; in a clone that read it before")
    assert catalog.problems[hostile_name] == f"pack {pack_hex[:12]}: object {'b' * 12} overlaps the one before it"
    assert not (tmp_path / "catalog" / "index" / wrong_name).exists()  # never kept


def test_a_second_sync_downloads_nothing_and_forgets_deleted_indexes(remote_url: RemoteSpec, tmp_path):
    fs = remote_url.open()
    _, first = push(fs, tmp_path / "tmp", unique("first", 2))
    catalog = Catalog(tmp_path / "catalog", fs)
    catalog.sync()
    copy = tmp_path / "catalog" / "index" / first
    inode = copy.stat().st_ino
    _, second = push(fs, tmp_path / "tmp", unique("second", 2))

    catalog.sync()

    assert copy.stat().st_ino == inode  # the copy was not written again
    assert sorted(os.listdir(tmp_path / "catalog" / "index")) == sorted([first, second])

    fs.delete([index_path(first)])
    catalog.sync()

    assert os.listdir(tmp_path / "catalog" / "index") == [second]
    assert len(catalog.packed()) == 2


def test_copies_of_another_url_are_dropped(remote_url: RemoteSpec, tmp_path):
    fs = remote_url.open()
    _, name = push(fs, tmp_path / "tmp", unique("objects", 1))
    stale = tmp_path / "catalog" / "index" / f"{'e' * 64}.json"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"{}")
    (tmp_path / "catalog" / "url").write_text("s3://some-other-bucket/x")

    Catalog(tmp_path / "catalog", fs).sync()

    assert os.listdir(tmp_path / "catalog" / "index") == [name]
    assert (tmp_path / "catalog" / "url").read_text() == fs.url


def test_a_damaged_local_copy_is_downloaded_again(remote_url: RemoteSpec, tmp_path):
    fs = remote_url.open()
    objects = unique("objects", 2)
    _, name = push(fs, tmp_path / "tmp", objects)
    copy = tmp_path / "catalog" / "index" / name
    copy.parent.mkdir(parents=True)
    (tmp_path / "catalog" / "url").write_text(fs.url)
    copy.write_bytes(b"damaged by a disk")
    catalog = Catalog(tmp_path / "catalog", fs)

    catalog.sync()

    assert catalog.packed() == {hash_bytes(data).hex for data in objects}
    assert copy.read_bytes() == fs.read(index_path(name))


def test_remember_adopts_an_index_just_written_without_a_sync(remote_url: RemoteSpec, tmp_path):
    fs = remote_url.open()
    catalog = Catalog(tmp_path / "catalog", fs)
    catalog.sync()
    objects = unique("pushed now", 2)
    packs, name = push(fs, tmp_path / "tmp", objects)
    data = fs.read(index_path(name))

    catalog.remember(name, data, canonical_packs(packs))

    assert catalog.packed() == {hash_bytes(blob).hex for blob in objects}
    assert catalog.packs() == {pack.hex: pack.size for pack in packs}
    assert (tmp_path / "catalog" / "index" / name).read_bytes() == data


def test_an_object_in_two_packs_is_located_in_one_of_them(tmp_path):
    from mlxkit.store.remotes.location import open_remote

    fs = open_remote("backup", str(tmp_path / "remote"), {}, None)
    data = b"pushed twice " + os.urandom(8)
    for padding in (b"", b"pad"):  # two pushes that raced: the same object in two packs
        pack, pack_hex = padding + data, blake3(padding + data).hexdigest()
        fs.write(pack_path(pack_hex), pack)
        name, index = encode_index([PackEntries(pack_hex, len(pack), (Entry(hash_bytes(data).hex, len(padding), len(data)),))])
        fs.write(index_path(name), index)
    catalog = Catalog(tmp_path / "catalog", fs)

    catalog.sync()

    location = catalog.locate(hash_bytes(data))
    assert location is not None
    assert fs.read_ranges(pack_path(location.pack), [(location.offset, location.offset + location.length)]) == [data]
    assert (len(catalog.packs()), catalog.ignored_entries) == (2, 0)


def test_a_new_process_loads_what_an_index_decodes_to_and_survives_a_damaged_file(remote_url: RemoteSpec, tmp_path):
    from mlxkit.store.remotes import catalog as catalog_module

    fs = remote_url.open()
    objects = unique("decoded", 3)
    _, name = push(fs, tmp_path / "tmp", objects)
    Catalog(tmp_path / "catalog", fs).sync()
    decoded = tmp_path / "catalog" / "decoded" / name
    assert decoded.is_file()

    catalog_module._DECODED.clear()  # what a new process starts with
    fresh = Catalog(tmp_path / "catalog", fs)
    fresh.sync()
    assert fresh.packed() == {hash_bytes(data).hex for data in objects}

    for damage in (b"", b"\x00not marshal", b"\xe9\x00\x00\x00\x00"):
        catalog_module._DECODED.clear()
        decoded.write_bytes(damage)
        damaged = Catalog(tmp_path / "catalog", fs)
        damaged.sync()
        assert damaged.packed() == {hash_bytes(data).hex for data in objects}
        assert sorted(damaged.problems) == []

    fs.delete([index_path(name)])
    Catalog(tmp_path / "catalog", fs).sync()
    assert not decoded.exists()
