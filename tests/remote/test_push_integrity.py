"""A push never uploads a cache object that does not match its name, and takes a copy on the remote
whose size is not the object's for what it is, damaged: it sends the object again (review F1, F2)."""

from __future__ import annotations

import os

from blake3 import blake3

from mlxkit.store.remotes.layout import PackEntries, encode_index
from mlxkit.store.remotes.packs import Entry
from tests.conftest import Repo, clone
from tests.remote_fixtures import configure

BIG = os.urandom(300_000)  # above the tests' pack threshold: stored loose


def hex_of(data: bytes) -> str:
    return blake3(data).hexdigest()


def cache_file(repo: Repo, data: bytes):
    digest = hex_of(data)
    return repo.cache / "objects" / digest[:2] / digest[2:]


def overwrite(path, data: bytes) -> None:
    """What an edit through a hard link into the cache does."""
    os.chmod(path, 0o644)
    path.write_bytes(data)


def setup(repo: Repo, mlx, remote_url) -> None:
    repo.gen({"data": {"a.csv": "good a\n", "b.csv": "good b\n"}, "model.bin": BIG, "small.txt": "small\n"}, old=True)
    assert mlx("add", "data", "model.bin", "small.txt").code == 0
    configure(mlx, repo.path, remote_url)
    assert mlx("config", "remote.pack_threshold", "100000").code == 0
    repo.commit("data")


def test_a_corrupt_cache_object_is_not_pushed_nor_its_tree_and_the_rest_is(repo, mlx, remote_url, tmp_path):
    setup(repo, mlx, remote_url)
    overwrite(cache_file(repo, b"good a\n"), b"EVIL a\n")  # same size, packed
    overwrite(cache_file(repo, BIG), BIG + b"more")  # another size, loose

    pushed = mlx("push")

    assert pushed.code == 21, pushed
    assert f"warning: 'data/a.csv': object {hex_of(b'good a' + bytes([10]))[:12]} in the cache (" in pushed.err
    assert f"warning: 'model.bin': object {hex_of(BIG)[:12]} in the cache (" in pushed.err
    assert pushed.err_lines[-2:] == [
        "mlx: 2 objects in the cache did not match their hash and were not pushed",
        "hint: run 'mlx fsck --repair', then re-add the data with 'mlx add' and push again",
    ]
    status = mlx("status", "--cloud", "--json").json
    assert {entry["path"]: entry["missing_remotely"] for entry in status["paths"]} == {"data": 2, "model.bin": 1}
    checked = mlx("fsck", "--remote", "origin", "--read-data")
    assert checked.code == 0, checked  # nothing damaged was sent
    fresh = clone(repo, tmp_path)
    assert mlx("pull", "small.txt", cwd=fresh.path).code == 0  # the rest was pushed

    assert mlx("fsck", "--repair").code == 0  # moved to cache/bad/
    repo.gen({"data": {"a.csv": "good a\n"}, "model.bin": BIG}, old=True)
    assert mlx("add", "data", "model.bin").code == 0
    again = mlx("push")

    assert again.code == 0, again
    assert again.out.startswith("3 objects pushed to 'origin'")
    pulled = mlx("pull", cwd=fresh.path)
    assert pulled.code == 0, pulled
    assert (fresh / "data" / "a.csv").read_text() == "good a\n" and (fresh / "model.bin").read_bytes() == BIG


def test_a_cache_object_cut_short_inside_a_tree_the_stat_cache_vouches_for_is_not_pushed(repo, mlx, remote_url):
    """push takes the sizes of a complete tree's files from the tree, without a stat each: a copy
    in the cache that lost bytes must still be caught as it is packed."""
    setup(repo, mlx, remote_url)
    overwrite(cache_file(repo, b"good b\n"), b"go")  # the directory's mtime stays: the tree stays vouched for

    pushed = mlx("push")

    assert pushed.code == 21, pushed
    assert f"warning: 'data/b.csv': object {hex_of(b'good b' + bytes([10]))[:12]} in the cache (" in pushed.err
    status = mlx("status", "--cloud", "--json").json
    assert {entry["path"]: entry["missing_remotely"] for entry in status["paths"]} == {"data": 2}


def test_a_truncated_loose_object_on_the_remote_is_missing_and_sent_again(repo, mlx, remote_url, tmp_path):
    setup(repo, mlx, remote_url)
    assert mlx("push").code == 0
    fs = remote_url.open()
    digest = hex_of(BIG)
    fs.write(f"objects/{digest[:2]}/{digest[2:]}", BIG[:1000])

    status = mlx("status", "--cloud", "--exit-code")
    assert status.code == 1, status
    assert status.out == "model.bin: 1 missing on 'origin' (of 1 object)\n"
    pushed = mlx("push")

    assert pushed.code == 0, pushed
    assert pushed.out.startswith("1 object pushed to 'origin' (293.0 KiB); ")
    assert mlx("status", "--cloud", "--exit-code").code == 0
    fresh = clone(repo, tmp_path)
    assert mlx("pull", cwd=fresh.path).code == 0
    assert (fresh / "model.bin").read_bytes() == BIG


def test_a_packed_copy_of_another_length_is_missing_sent_again_and_never_read(repo, mlx, remote_url, tmp_path):
    # What a push of a corrupt object by an older mlx left: an index entry of the wrong length.
    setup(repo, mlx, remote_url)
    fs = remote_url.open()
    assert mlx("push", "model.bin").code == 0  # makes the place a remote
    bad, pad = b"good a\nEDIT\n", 0
    while True:  # an index whose name sorts first: readers meet the damaged copy first
        content = bad + b"\0" * pad
        pack = PackEntries(hex_of(content), len(content), (Entry(hex_of(b"good a\n"), 0, len(bad)),))
        name, data = encode_index([pack])
        if name.startswith("000"):
            break
        pad += 1
    fs.write(f"packs/{pack.hex}.pack", content)
    fs.write(f"index/{name}", data)

    status = mlx("status", "--cloud", "--json", "data")
    assert [(entry["path"], entry["missing_remotely"]) for entry in status.json["paths"]] == [("data", 3)]
    pushed = mlx("push")

    assert pushed.code == 0, pushed
    assert pushed.out.startswith("4 objects pushed to 'origin'")
    assert mlx("status", "--cloud", "--exit-code").code == 0
    assert mlx("push").out.startswith("0 objects pushed")
    fresh = clone(repo, tmp_path)
    pulled = mlx("pull", cwd=fresh.path)
    assert pulled.code == 0, pulled  # the good copy is read, whichever index comes first
    assert (fresh / "data" / "a.csv").read_text() == "good a\n"


def test_a_pack_left_with_nothing_to_show_is_named_by_no_index(repo, mlx, remote_url):
    # the directory's tree is packed, its only file (loose) is corrupt: the tree is held back too
    repo.gen({"data": {"big.bin": BIG}}, old=True)
    assert mlx("add", "data").code == 0
    configure(mlx, repo.path, remote_url)
    assert mlx("config", "remote.pack_threshold", "100000").code == 0
    repo.commit("data")
    overwrite(cache_file(repo, BIG), BIG[:-1] + b"!")

    pushed = mlx("push")

    assert pushed.code == 21, pushed
    assert pushed.out.startswith("0 objects pushed to 'origin' (0 B); "), pushed  # not "in 1 pack"
    assert remote_url.open().list("index") == {}  # an index naming an empty pack was published
