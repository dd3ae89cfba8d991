"""mlx fsck --remote NAME --read-data --repair: a remote object damaged without a change of size is
removed, with the trees that list it, so that a push from a clone that has the data sends it again
(review F1), against a local directory and S3."""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta, timezone

from blake3 import blake3

from mlxkit.store.remotes.layout import Entry, PackEntries, encode_index
from tests.conftest import Repo
from tests.remote.test_transfer import _overwrite, clone, configure, remote_files

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
    _overwrite(remote_url, path, bytes(data))


def damage(remote_url) -> None:
    (pack,) = remote_url.open().list("packs")
    flip_a_byte(remote_url, f"packs/{pack}", FILES["a.csv"].encode())
    digest = hex_of(BIG)
    flip_a_byte(remote_url, f"objects/{digest[:2]}/{digest[2:]}", BIG[1000:1100])


def data_tree(repo: Repo) -> str:
    """The digest of data/'s tree, as its pointer file names it."""
    return (repo / "data.mlx").read_text().split("blake3:")[1][:64]


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
        f"removed tree listing it: blake3:{data_tree(repo)}",
    ])  # fmt: skip
    assert lines[-2] == (
        "Repaired 'origin': removed 2 damaged objects and 1 tree listing them (1 loose, 2 packed; 1 index file rewritten)."
    )
    assert lines[-1].startswith("'mlx push' from a clone whose cache holds them sends them again")
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
        "objects": [], "trees": [], "loose_deleted": 0, "entries_dropped": 0, "indexes_rewritten": 0
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
    _overwrite(remote_url, f"locks/{'1' * 64}.json", json.dumps(lock).encode())
    before = remote_files(remote_url)

    held = mlx("fsck", "--remote", "origin", "--read-data", "--repair")

    assert held.code == 11, held
    assert "pid 4242 on ci-7 ('mlx push'" in held.err_lines[0]
    assert remote_files(remote_url) == before
    assert mlx("fsck", "--remote", "origin", "--read-data").code == 21  # still there, still found
    assert mlx("fsck", "--remote", "origin", "--repair", "--force").code == 11  # a live lock is never broken

    old = dict(lock, started=(datetime.now(timezone.utc) - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ"))
    _overwrite(remote_url, f"locks/{'1' * 64}.json", json.dumps(old).encode())
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
