"""A plain mlx fsck --remote takes no lock, so a `mlx gc --cloud` from another clone can run while it
checks: seen through a proxy in front of a real S3 server, the gc runs (for real, straight to the
server) at the exact moment the callback picks. fsck leaves out what was deleted after it listed
it, and starts over when it found a problem while an index it used is gone, so a healthy remote is
not reported damaged; a missing pack the current indexes still name is."""

from __future__ import annotations

import gzip

import pytest
from blake3 import blake3

from mlxkit import api
from tests.conftest import Repo, clone
from tests.remote_fixtures import RemoteSpec, s3_origin

# 60 tiny files go into a pack; their tree (about 6 KB) is above the threshold: loose.
FILES = {f"f{i:02}.csv": f"row {i}\n" for i in range(60)}
THRESHOLD = "4096"


def is_listing(query: dict[str, list[str]], prefix: str) -> bool:
    return any(f"/{prefix}/" in value or value.endswith(f"/{prefix}") for value in query.get("prefix", ()))


def configure(repo: Repo, mlx, bucket: str, endpoint: str) -> None:
    """`origin`, straight to the S3 server, with this file's pack threshold."""
    s3_origin(repo, mlx, bucket, endpoint)
    assert mlx("config", "remote.pack_threshold", THRESHOLD).code == 0


def pushed_then_abandoned(
    repo: Repo, mlx, s3_server, bucket: str, files: dict = FILES, name: str = "data"
) -> tuple[RemoteSpec, str]:
    """keep.txt on main; a deleted branch's directory `name` of `files` (by default 60 files, packed
    with keep.txt) and its loose tree: a gc --cloud rewrites the pack, replaces the index and deletes
    the old pack and tree. Returns the remote and the hex of the directory's tree."""
    spec = RemoteSpec("s3", f"s3://{bucket}/p", s3_server.endpoint)
    repo.gen({"keep.txt": "keep me\n"}, old=True)
    assert mlx("add", "keep.txt").code == 0
    configure(repo, mlx, bucket, s3_server.endpoint)
    repo.commit("keep")
    repo.git("checkout", "-q", "-b", "scratch")
    repo.gen({name: files}, old=True)
    assert mlx("add", name).code == 0
    tree = (repo / f"{name}.mlx").read_text().split("blake3:")[1][:64]
    repo.commit("scratch")
    assert mlx("push").code == 0
    repo.git("checkout", "-q", "main")
    repo.git("branch", "-D", "scratch")
    return spec, tree


def checker(repo: Repo, mlx, tmp_path, make_proxy, fails) -> Repo:
    """A clone that reaches the remote through a proxy and has read its index before; from then
    on, the proxy calls `fails` (a proxy's callback, which acts at the moment it picks) for every
    request it sees."""
    armed = []
    proxy = make_proxy(lambda method, query: bool(armed) and fails(method, query))
    copy = clone(repo, tmp_path, "checker")
    assert mlx("init", cwd=copy.path).code == 0
    assert mlx("remote", "modify", "origin", "endpoint_url", proxy.endpoint, cwd=copy.path).code == 0
    assert mlx("fsck", "--remote", "origin", cwd=copy.path).code == 0
    armed.append(True)
    return copy


def test_a_gc_between_the_listings_of_index_and_packs_is_no_missing_pack(repo, mlx, s3_server, s3_bucket, make_proxy, tmp_path):
    """fsck lists index/ (the old index), then the gc replaces it and deletes the old pack, then fsck
    lists packs/: the old index names a pack that is gone. Before: `missing pack`, exit 21."""
    collected = []

    def gc_before_listing_packs(method: str, query: dict[str, list[str]]) -> bool:
        if not collected and is_listing(query, "packs"):
            collected.append(mlx("gc", "--cloud", "--all-commits", cwd=repo.path))
        return False

    pushed_then_abandoned(repo, mlx, s3_server, s3_bucket)
    copy = checker(repo, mlx, tmp_path, make_proxy, gc_before_listing_packs)

    checked = mlx("fsck", "--remote", "origin", cwd=copy.path)

    assert collected and collected[0].code == 0, collected
    assert "1 pack deleted, 1 rewritten" in collected[0].out
    assert checked.code == 0, checked
    assert checked.out == "Remote 'origin': 1 index file, 1 pack, 0 loose: no problems.\n"


def test_a_pack_the_current_index_names_is_still_missing_after_a_gc(repo, mlx, s3_server, s3_bucket, make_proxy, tmp_path):
    """The same race, and the new pack the gc wrote is then deleted by hand: fsck starts over,
    and reports the pack that the current index names."""
    collected = []

    def gc_and_damage_before_listing_packs(method: str, query: dict[str, list[str]]) -> bool:
        if not collected and is_listing(query, "packs"):
            collected.append(mlx("gc", "--cloud", "--all-commits", cwd=repo.path))
            (pack,) = direct.list("packs")
            direct.delete([f"packs/{pack}"])
            lost.append(f"packs/{pack}")
        return False

    lost = []
    direct = pushed_then_abandoned(repo, mlx, s3_server, s3_bucket)[0].open()
    copy = checker(repo, mlx, tmp_path, make_proxy, gc_and_damage_before_listing_packs)

    checked = mlx("fsck", "--remote", "origin", cwd=copy.path)

    assert collected and collected[0].code == 0, collected
    assert checked.code == 21, checked
    (index,) = direct.list("index")
    assert checked.out.splitlines()[0] == f"missing pack: {lost[0]} named by index/{index}"


def test_a_gc_between_the_listings_and_the_reads_is_no_damage(repo, mlx, s3_server, s3_bucket, make_proxy, tmp_path):
    """fsck --read-data lists everything (the old index, the old pack, the loose tree), then the gc
    runs just before its first read: the pack and the tree it reads are gone. Before: exit 22,
    "'packs/….pack' does not exist"."""
    collected, seen = [], []

    def gc_before_the_first_read(method: str, query: dict[str, list[str]]) -> bool:
        if is_listing(query, "objects"):
            seen.append("objects listed")
        elif seen and not collected and method == "GET" and not query:  # a read of a pack or object
            collected.append(mlx("gc", "--cloud", "--all-commits", cwd=repo.path))
        return False

    pushed_then_abandoned(repo, mlx, s3_server, s3_bucket)
    copy = checker(repo, mlx, tmp_path, make_proxy, gc_before_the_first_read)

    checked = mlx("fsck", "--remote", "origin", "--read-data", cwd=copy.path)

    assert collected and collected[0].code == 0, collected
    assert checked.code == 0, checked
    assert checked.out.startswith("Remote 'origin': 1 index file, 1 pack, 0 loose; re-hashed 1 object ("), checked


def test_a_remote_whose_indexes_keep_changing_is_reported_as_such(repo, mlx, s3_server, s3_bucket, make_proxy, tmp_path):
    """Before every listing of packs/, the index is replaced by another one naming the same pack,
    which is gone: fsck starts over a few times, then says the remote kept changing (exit 22)."""
    replaced = []

    def replace_the_index(method: str, query: dict[str, list[str]]) -> bool:
        if is_listing(query, "packs"):
            (old,) = direct.list("index")
            data = gzip.compress(gzip.decompress(direct.read(f"index/{old}")), mtime=len(replaced) + 1)  # the same packs
            direct.write(f"index/{blake3(data).hexdigest()}.json.gz", data)
            direct.delete([f"index/{old}"])
            replaced.append(old)
        return False

    direct = pushed_then_abandoned(repo, mlx, s3_server, s3_bucket)[0].open()
    copy = checker(repo, mlx, tmp_path, make_proxy, replace_the_index)
    (pack,) = direct.list("packs")
    direct.delete([f"packs/{pack}"])
    direct.write(f"packs/{'ab' * 32}.pack", b"garbage: an empty listing would take s3fs two requests")

    checked = mlx("fsck", "--remote", "origin", cwd=copy.path)

    checked.expect_error(
        22, "remote 'origin' kept changing while fsck checked it: its indexes were replaced 3 times "
        "(a 'gc --cloud' or 'fsck --repair' running), so nothing is reported",
        "run the check again once that command is done",
    )
    assert len(replaced) == 3


@pytest.mark.parametrize("tree_kept", [True, False], ids=["tree-kept", "tree-read-again"])
def test_a_dead_tree_read_before_a_gc_deleted_its_files_is_no_incomplete_tree(
    repo, mlx, s3_server, s3_bucket, make_proxy, tmp_path, monkeypatch, tree_kept
):
    """Only loose objects die (the index stays): fsck --read-data, reading one object at a time,
    reads the dead loose tree, then the gc deletes the tree and its files, which fsck then fails to
    read. The tree is gone too, so it is not reported (nor read again, when its bytes were not
    kept: in-process, with no memory for trees). Before: exit 22, "'objects/…' does not exist"."""
    files = {f"f{i:02}.bin": f"{i:02}".encode() * 2500 for i in range(60)}  # each above the threshold: loose
    spec, tree = pushed_then_abandoned(repo, mlx, s3_server, s3_bucket, files, "big")
    loose = sorted([tree, *(blake3(data).hexdigest() for data in files.values())])
    assert sorted(spec.open().list("objects")) == [f"{hex_[:2]}/{hex_[2:]}" for hex_ in loose]  # the tree is loose
    assert loose.index(tree) < len(loose) - 1  # a file is read after it
    reads, collected = [], []

    def gc_after_the_tree_is_read(method: str, query: dict[str, list[str]]) -> bool:
        if is_listing(query, "objects"):
            reads.append("objects listed")
        elif reads and method == "GET" and not query:  # the pack's read, then the loose ones in order
            reads.append(method)
            if len(reads) == 1 + 1 + loose.index(tree) + 2 and not collected:  # the read after the tree's
                collected.append(mlx("gc", "--cloud", "--all-commits", cwd=repo.path))
        return False

    copy = checker(repo, mlx, tmp_path, make_proxy, gc_after_the_tree_is_read)
    assert mlx("config", "remote.jobs", "1", cwd=copy.path).code == 0  # one read at a time, in order

    if tree_kept:
        checked = mlx("fsck", "--remote", "origin", "--read-data", cwd=copy.path)
        assert checked.code == 0, checked
        assert "no problems" in checked.out and "incomplete tree" not in checked.out, checked
    else:
        monkeypatch.setattr("mlxkit.tracking.fsck_remote.TREE_MEMORY", 0)
        assert api.fsck_remote("origin", read_data=True, repo=copy.path).problems == []
    assert collected and collected[0].code == 0, collected
    assert collected[0].out.startswith("Removed 61 objects from 'origin'"), collected[0]


def test_a_pack_deleted_by_hand_while_a_repair_reads_is_dropped_from_the_indexes(
    repo, mlx, s3_server, s3_bucket, make_proxy, tmp_path
):
    """The repair holds the lock, so nothing of mlx's deletes a pack meanwhile; one deleted by hand
    after the listings is a missing pack the repair must drop from the indexes, with the tree that
    lists its files. Before: reported, left in the index, exit 0, and the next fsck found it again."""
    deleted = []

    def delete_the_pack_before_its_read(method: str, query: dict[str, list[str]]) -> bool:
        if is_listing(query, "objects"):
            deleted.append(None)
        elif deleted == [None] and method == "GET" and not query:  # the first read: the pack
            (pack,) = direct.list("packs")
            direct.delete([f"packs/{pack}"])
            deleted.append(f"packs/{pack}")
        return False

    spec = RemoteSpec("s3", f"s3://{s3_bucket}/p", s3_server.endpoint)
    repo.gen({"data": FILES}, old=True)
    assert mlx("add", "data").code == 0
    configure(repo, mlx, s3_bucket, s3_server.endpoint)
    repo.commit("data")
    assert mlx("push").code == 0
    direct = spec.open()
    copy = checker(repo, mlx, tmp_path, make_proxy, delete_the_pack_before_its_read)

    repaired = mlx("fsck", "--remote", "origin", "--repair", cwd=copy.path)

    assert repaired.code == 0, repaired
    assert f"missing pack: {deleted[1]} deleted since it was listed" in repaired.out.splitlines(), repaired
    assert mlx("fsck", "--remote", "origin", cwd=copy.path).code == 0
    assert mlx("push").code == 0  # sends the lost files and their tree again
    again = mlx("fsck", "--remote", "origin", "--read-data", cwd=copy.path)
    assert again.code == 0, again
