"""mlx fsck --remote NAME --read-data --repair: a remote object damaged without a change of size is
removed, with the trees that list it, so that a push from a clone that has the data sends it again
(review F1); so is every other kind of damage fsck --remote finds (a missing or truncated pack, an
unreadable index, a loose object deleted by hand), against a local directory and S3."""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta, timezone

import pytest
from blake3 import blake3

from mlxkit.store.remotes.layout import Entry, PackEntries, encode_index
from tests.conftest import Repo, clone
from tests.remote_fixtures import configure, named_index, overwrite_remote_file, remote_files

BIG = os.urandom(300_000)  # above the tests' pack threshold: stored loose
FILES = {"a.csv": "the damaged one\n", **{f"f{i}.csv": f"file {i}\n" for i in range(5)}}


def hex_of(data: bytes) -> str:
    return blake3(data).hexdigest()


def pushed_repo(repo: Repo, mlx, remote_url) -> None:
    repo.gen({"data": FILES, "model.bin": BIG, "small.txt": "small\n"}, old=True)
    assert mlx("add", "data", "model.bin", "small.txt").code == 0
    configure(mlx, repo.path, remote_url)
    assert mlx("config", "remote.pack_threshold", "100000").code == 0
    repo.commit("data")
    assert mlx("push").code == 0


def flip_a_byte(remote_url, path: str, inside: bytes) -> None:
    """Flip one byte of `inside` where it is in the remote file `path`: the size stays."""
    data = bytearray(remote_url.open().read(path))
    at = data.find(inside)
    assert at >= 0
    data[at + len(inside) // 2] ^= 1
    overwrite_remote_file(remote_url, path, bytes(data))


def damage(remote_url) -> None:
    (pack,) = remote_url.open().list("packs")
    flip_a_byte(remote_url, f"packs/{pack}", FILES["a.csv"].encode())
    digest = hex_of(BIG)
    flip_a_byte(remote_url, f"objects/{digest[:2]}/{digest[2:]}", BIG[1000:1100])


def data_tree(repo: Repo, directory: str = "data") -> str:
    """The digest of a directory's tree (data/'s by default), as its pointer file names it."""
    return (repo / f"{directory}.mlx").read_text().split("blake3:")[1][:64]


def test_repair_removes_damaged_objects_and_their_trees_and_a_push_sends_them_again(repo, mlx, remote_url, tmp_path):
    pushed_repo(repo, mlx, remote_url)
    damage(remote_url)
    found = mlx("fsck", "--remote", "origin", "--read-data")
    assert found.code == 21, found
    assert found.err_lines == [
        "mlx: remote 'origin' is damaged",
        "hint: run 'mlx fsck --remote origin --read-data --repair', then 'mlx push' from a clone that has the objects",
    ]
    fresh = clone(repo, tmp_path)
    fetched = mlx("fetch", cwd=fresh.path)
    assert fetched.code == 21, fetched
    assert fetched.err_lines[-1] == (
        "hint: run 'mlx fsck --remote origin --read-data --repair' to remove every damaged object, "
        "then 'mlx push' from a clone that has them"
    )
    assert mlx("push").out.startswith("0 objects pushed")  # the old repair did nothing

    repaired = mlx("fsck", "--remote", "origin", "--read-data", "--repair")

    assert repaired.code == 0, repaired
    lines = repaired.out.splitlines()
    assert sorted(line for line in lines if line.startswith("removed")) == sorted([
        f"removed damaged: blake3:{hex_of(FILES['a.csv'].encode())}",
        f"removed damaged: blake3:{hex_of(BIG)}",
        f"removed tree listing a lost object: blake3:{data_tree(repo)}",
    ])  # fmt: skip
    assert lines[-2] == (
        "Repaired 'origin': removed 2 damaged objects, 1 tree listing a lost object (1 loose, 2 packed; 1 index file rewritten)."
    )
    assert lines[-1].startswith("'mlx push' from a clone whose cache holds the lost objects sends them again")
    assert remote_url.open().list("locks") == {}
    clean = mlx("fsck", "--remote", "origin", "--read-data")
    assert clean.code == 0, clean
    assert mlx("status", "--cloud", "--exit-code").code == 1  # they are missing now, as they were in effect

    again = mlx("push")

    assert again.code == 0, again
    assert again.out.startswith("3 objects pushed to 'origin'")  # a.csv, data/'s tree, model.bin
    assert mlx("status", "--cloud", "--exit-code").code == 0
    assert mlx("fsck", "--remote", "origin", "--read-data").code == 0
    pulled = mlx("pull", cwd=fresh.path)
    assert pulled.code == 0, pulled
    for name, text in FILES.items():
        assert (fresh / "data" / name).read_text() == text
    assert (fresh / "model.bin").read_bytes() == BIG


def test_repair_json_carries_the_counts_and_a_healthy_remote_is_left_alone(repo, mlx, remote_url):
    pushed_repo(repo, mlx, remote_url)
    before = remote_files(remote_url)

    healthy = mlx("fsck", "--remote", "origin", "--repair", "--json")  # --repair reads the data

    assert healthy.code == 0, healthy
    assert healthy.json["read_data"] is True
    assert healthy.json["repaired"] == {
        "objects": [], "trees": [], "loose_deleted": 0, "entries_dropped": 0, "indexes_rewritten": 0, "packs": [],
        "indexes_deleted": [], "indexes_restored": [],
    }  # fmt: skip
    assert remote_files(remote_url) == before
    assert mlx("fsck", "--remote", "origin", "--repair").out.splitlines()[-1] == "Nothing to repair."

    damage(remote_url)
    repaired = mlx("fsck", "--remote", "origin", "--read-data", "--repair", "--json")

    assert repaired.code == 0, repaired
    report = repaired.json["repaired"]
    assert (len(report["objects"]), len(report["trees"])) == (2, 1)
    assert (report["loose_deleted"], report["entries_dropped"], report["indexes_rewritten"]) == (1, 2, 1)
    assert sum(problem["kind"] == "corrupt" for problem in repaired.json["problems"]) == 2


def test_repair_refuses_while_another_command_holds_the_remote(repo, mlx, remote_url):
    pushed_repo(repo, mlx, remote_url)
    damage(remote_url)
    lock = {"command": "mlx push", "exclusive": False, "host": "ci-7", "pid": 4242,
            "started": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}  # fmt: skip
    overwrite_remote_file(remote_url, f"locks/{'1' * 64}.json", json.dumps(lock).encode())
    before = remote_files(remote_url)

    held = mlx("fsck", "--remote", "origin", "--read-data", "--repair")

    assert held.code == 11, held
    assert "pid 4242 on ci-7 ('mlx push'" in held.err_lines[0]
    assert remote_files(remote_url) == before
    assert mlx("fsck", "--remote", "origin", "--read-data").code == 21  # still there, still found
    assert mlx("fsck", "--remote", "origin", "--repair", "--force").code == 11  # a live lock is never broken

    old = dict(lock, started=(datetime.now(timezone.utc) - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ"))
    overwrite_remote_file(remote_url, f"locks/{'1' * 64}.json", json.dumps(old).encode())
    assert mlx("fsck", "--remote", "origin", "--repair").code == 11
    broken = mlx("fsck", "--remote", "origin", "--repair", "--force")
    assert broken.code == 0, broken
    assert remote_url.open().list("locks") == {}
    assert mlx("fsck", "--remote", "origin", "--read-data").code == 0


def test_an_object_with_an_intact_copy_left_keeps_its_tree(repo, mlx, remote_url, tmp_path):
    pushed_repo(repo, mlx, remote_url)
    good = FILES["a.csv"].encode()
    pack = PackEntries(hex_of(good), len(good), (Entry(hex_of(good), 0, len(good)),))  # a second, intact copy
    name, index = encode_index([pack])
    fs = remote_url.open()
    fs.write(f"packs/{pack.hex}.pack", good)
    fs.write(f"index/{name}", index)
    (first,) = set(fs.list("packs")) - {f"{pack.hex}.pack"}
    flip_a_byte(remote_url, f"packs/{first}", good)

    repaired = mlx("fsck", "--remote", "origin", "--read-data", "--repair", "--json")

    assert repaired.code == 0, repaired
    report = repaired.json["repaired"]
    assert (report["objects"], report["trees"]) == ([f"blake3:{hex_of(good)}"], [])
    assert (report["loose_deleted"], report["entries_dropped"], report["indexes_rewritten"]) == (0, 1, 1)
    assert mlx("fsck", "--remote", "origin", "--read-data").code == 0
    assert mlx("push").out.startswith("0 objects pushed")  # nothing is missing
    fresh = clone(repo, tmp_path)
    assert mlx("pull", cwd=fresh.path).code == 0
    assert (fresh / "data" / "a.csv").read_bytes() == good


NEW = {"new.csv": "added by the second push\n"}


def pushed_twice(repo: Repo, mlx, remote_url) -> tuple[str, str]:
    """data/ and big/ (a loose file and a packed one) pushed, then data/ with one more file: the
    second push's tree of data/ lists files that only the first push's pack holds. Returns that
    pack's path and the first push's index path."""
    repo.gen({"data": FILES, "big": {"model.bin": BIG, "notes.txt": "notes\n"}}, old=True)
    assert mlx("add", "data", "big").code == 0
    configure(mlx, repo.path, remote_url)
    assert mlx("config", "remote.pack_threshold", "100000").code == 0
    repo.commit("data")
    assert mlx("push").code == 0
    first = remote_files(remote_url)
    repo.gen({"data": NEW}, old=True)
    assert mlx("add", "data").code == 0
    repo.commit("more data")
    assert mlx("push").out.startswith("2 objects pushed")  # new.csv and data/'s new tree, in a pack of their own
    (pack,) = [name for name in first if name.startswith("packs/")]
    (index,) = [name for name in first if name.startswith("index/")]
    return pack, index


def damage_the_remote(kind: str, repo: Repo, remote_url, pack: str, index: str) -> str:
    """Damage the first push's pack, index or loose object; the line fsck --repair then prints."""
    fs = remote_url.open()
    if kind == "missing pack":
        fs.delete([pack])
        return f"removed from the indexes: {pack}"
    if kind == "truncated pack":
        overwrite_remote_file(remote_url, pack, fs.read(pack)[:-10])
        return f"removed from the indexes: {pack}"
    if kind == "invalid index":
        flip_a_byte(remote_url, index, fs.read(index)[40:60])
        return f"deleted unreadable index: {index}"
    digest = hex_of(BIG)
    fs.delete([f"objects/{digest[:2]}/{digest[2:]}"])
    return f"removed tree listing a lost object: blake3:{data_tree(repo, 'big')}"


@pytest.mark.parametrize("kind", ["missing pack", "truncated pack", "invalid index", "deleted loose object"])
def test_repair_removes_each_kind_of_damage_and_a_push_makes_the_remote_whole_again(kind, repo, mlx, remote_url, tmp_path):
    pack, index = pushed_twice(repo, mlx, remote_url)
    expected = damage_the_remote(kind, repo, remote_url, pack, index)
    found = mlx("fsck", "--remote", "origin", "--read-data")
    assert found.code == 21, found  # a deleted loose file too: a tree the remote holds lists it
    assert found.err_lines[-1] == (
        "hint: run 'mlx fsck --remote origin --read-data --repair', then 'mlx push' from a clone that has the objects"
    )
    fresh = clone(repo, tmp_path)
    assert mlx("pull", cwd=fresh.path).code == 20
    if kind != "invalid index":  # (this clone's push would write its good copy of the index back)
        assert mlx("push").code == 0  # it does not look inside a tree the remote holds: it sends none of its files
        assert mlx("pull", cwd=fresh.path).code == 20

    # an unreadable index is deleted by a clone without a good copy of it (this one would write its copy back)
    repaired = mlx("fsck", "--remote", "origin", "--repair", cwd=fresh.path if kind == "invalid index" else None)

    assert repaired.code == 0, repaired
    lines = repaired.out.splitlines()
    assert expected in lines
    if kind != "deleted loose object":  # the second push's tree of data/ lists the first push's files
        assert f"removed tree listing a lost object: blake3:{data_tree(repo)}" in lines
    assert lines[-2].startswith("Repaired 'origin': removed ")
    assert remote_url.open().list("locks") == {}
    after = mlx("fsck", "--remote", "origin", "--read-data")
    assert after.code == 0, after
    assert (f"garbage: {pack}" in after.out.splitlines()) == (kind in ("truncated pack", "invalid index"))

    again = mlx("push")

    assert again.code == 0, again
    assert not again.out.startswith("0 objects pushed"), again
    assert "good copy back" not in again.err  # a deleted index is never written back
    assert mlx("fsck", "--remote", "origin", "--read-data").code == 0
    assert mlx("status", "--cloud", "--exit-code").code == 0
    pulled = mlx("pull", cwd=fresh.path)
    assert pulled.code == 0, pulled
    for name, text in {**FILES, **NEW}.items():
        assert (fresh / "data" / name).read_text() == text
    assert (fresh / "big" / "model.bin").read_bytes() == BIG
    assert (fresh / "big" / "notes.txt").read_text() == "notes\n"


def test_fsck_counts_every_index_file_and_repair_deletes_an_unreadable_one(repo, mlx, remote_url, tmp_path):
    pack, index = pushed_twice(repo, mlx, remote_url)
    flip_a_byte(remote_url, index, remote_url.open().read(index)[40:60])
    fresh = clone(repo, tmp_path)  # it never read the index: it has no good copy of it

    checked = mlx("fsck", "--remote", "origin", "--read-data", "--json", cwd=fresh.path)
    text = mlx("fsck", "--remote", "origin", cwd=fresh.path)

    assert (checked.json["indexes"], checked.json["invalid_indexes"]) == (2, 1)
    assert "Remote 'origin': 2 index files (1 invalid), " in text.out
    repaired = mlx("fsck", "--remote", "origin", "--repair", "--json", cwd=fresh.path)
    assert repaired.code == 0, repaired
    report = repaired.json["repaired"]
    assert (report["indexes_deleted"], report["indexes_restored"]) == ([index], [])
    assert report["trees"] == [f"blake3:{data_tree(repo)}"]
    assert report["packs"] == []
    assert index not in remote_files(remote_url)
    assert mlx("fsck", "--remote", "origin", "--json", cwd=fresh.path).json["invalid_indexes"] == 0


def test_repair_writes_back_an_unreadable_index_this_clone_has_a_good_copy_of(repo, mlx, remote_url, tmp_path):
    pack, index = pushed_twice(repo, mlx, remote_url)
    good = remote_url.open().read(index)
    flip_a_byte(remote_url, index, good[40:60])  # the size stays: only --read-data sees it
    before = remote_files(remote_url)
    found = mlx("fsck", "--remote", "origin", "--read-data")
    assert found.code == 21, found
    assert f"invalid index: {index} its bytes do not match its name on the remote; this clone has a good copy" in found.out

    repaired = mlx("fsck", "--remote", "origin", "--repair", "--json")

    assert repaired.code == 0, repaired
    assert (repaired.json["indexes"], repaired.json["invalid_indexes"]) == (2, 1)
    assert [problem["where"] for problem in repaired.json["problems"]] == [index]  # its objects count as there
    assert repaired.json["repaired"] == {
        "objects": [], "trees": [], "loose_deleted": 0, "entries_dropped": 0, "indexes_rewritten": 0, "packs": [],
        "indexes_deleted": [], "indexes_restored": [index],
    }  # fmt: skip
    assert remote_url.open().read(index) == good
    assert remote_files(remote_url) == before
    assert remote_url.open().list("locks") == {}
    assert mlx("fsck", "--remote", "origin", "--read-data").code == 0
    fresh = clone(repo, tmp_path)
    assert mlx("pull", cwd=fresh.path).code == 0  # without a push: nothing was lost
    assert (fresh / "data" / "a.csv").read_text() == FILES["a.csv"]


def test_repair_reports_the_index_it_wrote_back(repo, mlx, remote_url):
    pack, index = pushed_twice(repo, mlx, remote_url)
    overwrite_remote_file(remote_url, index, remote_url.open().read(index)[:20])

    repaired = mlx("fsck", "--remote", "origin", "--repair")

    assert repaired.code == 0, repaired
    assert repaired.out.splitlines()[-2:] == [
        f"restored from this clone's good copy: {index}",
        "Repaired 'origin': restored 1 index file from this clone's good copy.",
    ]
    assert mlx("fsck", "--remote", "origin", "--read-data").code == 0


def test_repair_never_writes_back_a_copy_of_an_index_that_is_bad_here_too(repo, mlx, remote_url):
    pack, index = pushed_twice(repo, mlx, remote_url)
    flip_a_byte(remote_url, index, remote_url.open().read(index)[40:60])
    copy = repo.path / ".mlx" / "remotes" / "origin" / index
    data = bytearray(copy.read_bytes())
    data[30] ^= 0xFF  # another byte than the remote's
    copy.write_bytes(bytes(data))

    repaired = mlx("fsck", "--remote", "origin", "--repair", "--json")

    assert repaired.code == 0, repaired
    report = repaired.json["repaired"]
    assert (report["indexes_deleted"], report["indexes_restored"]) == ([index], [])
    assert report["trees"] == [f"blake3:{data_tree(repo)}"]
    assert index not in remote_files(remote_url)


def test_repair_leaves_alone_a_remote_holding_an_index_in_a_newer_format(repo, mlx, remote_url):
    pack, index = pushed_twice(repo, mlx, remote_url)
    name, data = named_index({"format": 2, "packs": {}})
    remote_url.open().write(f"index/{name}", data)
    remote_url.open().delete([pack])
    before = remote_files(remote_url)

    refused = mlx("fsck", "--remote", "origin", "--repair")

    assert refused.code == 13, refused
    assert refused.err_lines == [
        f"mlx: remote 'origin' has 1 index file(s) in a newer format than this mlx reads (index/{name}), so nothing was repaired",
        "hint: upgrade mlx, then run the repair again",
    ]
    assert remote_files(remote_url) == before
    assert remote_url.open().list("locks") == {}


def test_an_index_written_back_loses_the_pack_that_is_gone_and_a_push_sends_its_objects_again(repo, mlx, remote_url):
    pack, index = pushed_twice(repo, mlx, remote_url)
    flip_a_byte(remote_url, index, remote_url.open().read(index)[40:60])
    remote_url.open().delete([pack])

    repaired = mlx("fsck", "--remote", "origin", "--repair")

    assert repaired.code == 0, repaired
    lines = repaired.out.splitlines()
    assert {f"restored from this clone's good copy: {index}", f"removed from the indexes: {pack}"} <= set(lines)
    assert lines[-2] == (
        "Repaired 'origin': restored 1 index file from this clone's good copy; removed 1 tree listing a lost object, "
        "1 missing or truncated pack (0 loose, 1 packed; 2 index files rewritten)."
    )
    assert index not in remote_files(remote_url)  # written back, then replaced: it named nothing left
    again = mlx("push")
    assert again.code == 0, again
    assert not again.out.startswith("0 objects pushed"), again
    assert mlx("fsck", "--remote", "origin", "--read-data").code == 0
    assert mlx("status", "--cloud", "--exit-code").code == 0
