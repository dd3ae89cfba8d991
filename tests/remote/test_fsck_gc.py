"""mlx fsck --remote and mlx gc --cloud through the real executable, against a local directory and S3."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from tests.conftest import Repo, clone, git
from tests.remote_fixtures import configure, overwrite_remote_file, push_directory

FILES = {f"f{i:02}.txt": f"file {i}\n" * 20 for i in range(20)}


@pytest.fixture
def pushed(repo: Repo, mlx, remote_url):
    return push_directory(repo, mlx, remote_url, FILES)


def only_pack(remote_url) -> str:
    (name,) = remote_url.open().list("packs")
    return f"packs/{name}"


def test_fsck_remote_on_a_sound_remote(pushed, mlx):
    quick = mlx("fsck", "--remote", "origin")
    assert quick.code == 0, quick
    assert quick.out == "Remote 'origin': 1 index file, 1 pack, 0 loose: no problems.\n"
    full = mlx("fsck", "--remote", "origin", "--read-data")
    assert full.code == 0, full
    assert full.out.startswith("Remote 'origin': 1 index file, 1 pack, 0 loose; re-hashed 21 objects (")


def test_fsck_remote_read_data_finds_a_flipped_byte_with_its_offset(pushed, mlx, remote_url):
    pack = only_pack(remote_url)
    data = bytearray(remote_url.open().read(pack))
    data[-3] ^= 1
    overwrite_remote_file(remote_url, pack, bytes(data))

    assert mlx("fsck", "--remote", "origin").code == 0  # sizes alone cannot see it
    result = mlx("fsck", "--remote", "origin", "--read-data")

    assert result.code == 21, result
    (line,) = [line for line in result.out.splitlines() if line.startswith("corrupt:")]
    assert pack in line and "at offset" in line
    assert result.err_lines[0] == "mlx: remote 'origin' is damaged"


def test_fsck_remote_reports_a_truncated_pack_and_garbage(pushed, mlx, remote_url):
    pack = only_pack(remote_url)
    overwrite_remote_file(remote_url, pack, remote_url.open().read(pack)[:-10])
    overwrite_remote_file(remote_url, f"packs/{'ab' * 32}.pack", b"left by an interrupted push")

    result = mlx("fsck", "--remote", "origin")

    assert result.code == 21, result
    assert f"truncated pack: {pack}" in result.out
    assert f"garbage: packs/{'ab' * 32}.pack" in result.out


def test_gc_cloud_needs_all_commits(pushed, mlx):
    mlx("gc", "--cloud").expect_error(
        2, "gc --cloud deletes from a remote that every clone shares: it needs --all-commits",
        "run 'mlx gc --cloud --all-commits' (objects referenced by any commit are kept)",
    )


def test_gc_cloud_refuses_a_shallow_clone_which_cannot_see_older_commits(pushed, mlx, remote_url, tmp_path):
    pushed.gen({"data": {"f00.txt": "changed\n"}})
    assert mlx("add", "data").code == 0
    pushed.commit("v2")
    assert mlx("push").code == 0
    shallow = tmp_path / "shallow"
    git(tmp_path, "clone", "-q", "--depth", "1", f"file://{pushed.path}", str(shallow))  # the remote's config is committed
    before = sorted(remote_url.open().list("packs"))

    result = mlx("gc", "--cloud", "--all-commits", cwd=shallow)

    result.expect_error(
        2, "this clone is shallow: gc --cloud would delete from the remote what the commits it lacks reference",
        "fetch the whole history first: 'git fetch --unshallow'",
    )
    assert sorted(remote_url.open().list("packs")) == before


SINGLE_BRANCH_HINT = (
    "fetch every branch first: git config remote.origin.fetch '+refs/heads/*:refs/remotes/origin/*' && git fetch origin; "
    "or pass --allow-single-branch if the remote has no other branch"
)


def test_gc_refuses_a_single_branch_clone_which_cannot_see_other_branches(pushed, mlx, remote_url, tmp_path):
    pushed.git("checkout", "-q", "-b", "other")
    pushed.gen({"data": {"f00.txt": "only on the other branch\n"}})
    assert mlx("add", "data").code == 0
    pushed.commit("other")
    assert mlx("push").code == 0
    pushed.git("checkout", "-q", "main")
    single = tmp_path / "single"
    git(tmp_path, "clone", "-q", "--single-branch", "-b", "main", str(pushed.path), str(single))
    assert mlx("init", cwd=single).code == 0  # a cache for the local gc
    assert mlx("fetch", "--all-commits", cwd=single).code == 0  # gc marks with the trees of the local cache
    before = sorted(remote_url.open().list("packs"))

    cloud = mlx("gc", "--cloud", "--all-commits", cwd=single)
    local = mlx("gc", "--all-branches", cwd=single)
    vouched = mlx("gc", "--cloud", "--all-commits", "--allow-single-branch", "--dry-run", cwd=single)

    cloud.expect_error(
        2, "this clone fetches only some branches of its git remote 'origin': gc --cloud would delete from the remote what "
        "the other branches reference", SINGLE_BRANCH_HINT,
    )
    local.expect_error(
        2, "this clone fetches only some branches of its git remote 'origin': gc would delete from the cache what the "
        "other branches reference", SINGLE_BRANCH_HINT,
    )
    assert sorted(remote_url.open().list("packs")) == before
    assert vouched.code == 0 and vouched.out.startswith("would remove blake3:"), vouched  # the other branch's file
    git(single, "config", "remote.origin.fetch", "+refs/heads/*:refs/remotes/origin/*")
    git(single, "fetch", "-q", "origin")
    assert mlx("fetch", "--all-commits", cwd=single).code == 0
    fetched = mlx("gc", "--cloud", "--all-commits", "--dry-run", cwd=single)
    assert fetched.code == 0 and fetched.out.startswith("Would remove 0 objects from 'origin'"), fetched


def test_gc_cloud_removes_what_no_commit_references_and_every_commit_still_pulls(repo, mlx, remote_url, tmp_path):
    repo.gen({"data": FILES, "model.bin": "v1\n"}, old=True)
    assert mlx("add", "data", "model.bin").code == 0
    configure(mlx, repo.path, remote_url)
    first = repo.commit("v1")
    repo.git("checkout", "-q", "-b", "experiment")
    repo.gen({"model.bin": "experiment\n"}, old=True)
    assert mlx("add", "model.bin").code == 0
    repo.commit("experiment")
    assert mlx("push").code == 0
    repo.git("checkout", "-q", "main")
    assert mlx("checkout").code == 0
    repo.gen({"model.bin": "v2\n"}, old=True)
    assert mlx("add", "model.bin").code == 0
    second = repo.commit("v2")
    assert mlx("push", "--all-commits").code == 0
    repo.git("branch", "-D", "experiment")  # its model is now referenced by no commit

    dry = mlx("gc", "--cloud", "--all-commits", "--dry-run")
    assert dry.code == 0, dry
    assert dry.out.splitlines()[0] == f"would remove blake3:{_b3('experiment')}"
    collected = mlx("gc", "--cloud", "--all-commits")
    assert collected.code == 0, collected
    assert collected.out.startswith("Removed 1 object from 'origin' (0 B freed); kept 23")  # its pack is mostly alive
    assert mlx("fsck", "--remote", "origin", "--read-data").code == 0

    copy = clone(repo, tmp_path)
    for commit, model in ((first, "v1\n"), (second, "v2\n")):
        copy.git("checkout", "-q", commit)
        pulled = mlx("pull", cwd=copy.path)
        assert pulled.code == 0, pulled
        assert (copy / "model.bin").read_text() == model
        assert {p.name: p.read_text() for p in (copy / "data").iterdir()} == FILES
    again = mlx("gc", "--cloud", "--all-commits")
    assert again.out.startswith("Removed 0 objects from 'origin' (0 B freed); kept 23")


def test_gc_cloud_removes_an_interrupted_pushs_orphan_pack(pushed, mlx, remote_url):
    overwrite_remote_file(remote_url, f"packs/{'cd' * 32}.pack", b"orphan")
    result = mlx("gc", "--cloud", "--all-commits")
    assert result.code == 0, result
    assert f"{'cd' * 32}.pack" not in remote_url.open().list("packs")
    assert mlx("fsck", "--remote", "origin", "--read-data").code == 0


def test_gc_cloud_waits_for_no_one_and_breaks_only_stale_locks_with_force(pushed, mlx, remote_url):
    fresh = {"command": "mlx push", "exclusive": False, "host": "ci-7", "pid": 4242,
             "started": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}
    overwrite_remote_file(remote_url, f"locks/{'1' * 64}.json", json.dumps(fresh).encode())
    held = mlx("gc", "--cloud", "--all-commits")
    assert held.code == 11, held
    assert "pid 4242 on ci-7 ('mlx push'" in held.err_lines[0]
    assert mlx("gc", "--cloud", "--all-commits", "--force").code == 11  # a live lock is never broken

    old = dict(fresh, started=(datetime.now(timezone.utc) - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ"))
    overwrite_remote_file(remote_url, f"locks/{'1' * 64}.json", json.dumps(old).encode())
    assert mlx("gc", "--cloud", "--all-commits").code == 11
    broken = mlx("gc", "--cloud", "--all-commits", "--force")
    assert broken.code == 0, broken
    assert remote_url.open().list("locks") == {}


def _b3(text: str) -> str:
    from blake3 import blake3

    return blake3(f"{text}\n".encode()).hexdigest()


def test_gc_cloud_rewrites_a_pack_that_is_mostly_dead(repo, mlx, remote_url, tmp_path):
    repo.gen({"keep.txt": "keep me\n"}, old=True)
    assert mlx("add", "keep.txt").code == 0
    configure(mlx, repo.path, remote_url)
    repo.commit("keep")
    repo.git("checkout", "-q", "-b", "scratch")
    repo.gen({"data": FILES}, old=True)
    assert mlx("add", "data").code == 0
    repo.commit("scratch")
    assert mlx("push").code == 0  # one pack: keep.txt, the tree and 20 files
    repo.git("checkout", "-q", "main")
    repo.git("branch", "-D", "scratch")

    result = mlx("gc", "--cloud", "--all-commits")

    assert result.code == 0, result
    assert result.out.startswith("Removed 21 objects from 'origin' (")
    assert "1 pack deleted, 1 rewritten" in result.out
    assert len(remote_url.open().list("packs")) == 1
    assert len(remote_url.open().list("index")) == 1
    assert mlx("fsck", "--remote", "origin", "--read-data").code == 0
    copy = clone(repo, tmp_path)
    assert mlx("pull", cwd=copy.path).code == 0
    assert (copy / "keep.txt").read_text() == "keep me\n"


def test_temp_files_of_a_killed_push_are_garbage_and_gc_cloud_removes_the_old_ones(repo: Repo, mlx, tmp_path):
    """A push killed while writing to a directory remote leaves `.mlx-tmp-*` files: fsck reports them
    all (count and bytes), gc --cloud removes those over a day old (a live push's are younger)."""
    import os
    import time

    repo.gen({"data": FILES}, old=True)
    assert mlx("add", "data").code == 0
    assert mlx("remote", "add", "--default", "origin", str(tmp_path / "remote")).code == 0
    repo.commit("data")
    assert mlx("push").code == 0
    remote = tmp_path / "remote"
    (remote / "objects/ab").mkdir(parents=True)
    old, young = remote / "objects/ab/.mlx-tmp-0123456789abcdef", remote / "packs/.mlx-tmp-fedcba9876543210"
    old.write_bytes(b"x" * 3000)
    young.write_bytes(b"y" * 1000)
    two_days_ago = time.time() - 2 * 24 * 3600
    os.utime(old, (two_days_ago, two_days_ago))

    checked = mlx("fsck", "--remote", "origin")
    checked_json = mlx("fsck", "--remote", "origin", "--json")
    dry = mlx("gc", "--cloud", "--all-commits", "--dry-run")
    kept_by_the_dry_run = old.exists()
    collected = mlx("gc", "--cloud", "--all-commits")
    after = mlx("fsck", "--remote", "origin", "--json")

    assert checked.code == 0, checked
    assert "garbage: objects/ab/.mlx-tmp-0123456789abcdef" in checked.out.splitlines()
    assert "garbage: packs/.mlx-tmp-fedcba9876543210" in checked.out.splitlines()
    assert "2 garbage files (3.9 KiB): 'mlx gc --cloud --all-commits' removes them (temp files once a day old)" in checked.out
    assert checked_json.json["garbage_bytes"] == 4000
    assert "would remove objects/ab/.mlx-tmp-0123456789abcdef" in dry.out.splitlines()
    assert "would remove packs/.mlx-tmp-fedcba9876543210" not in dry.out
    assert kept_by_the_dry_run
    assert collected.code == 0, collected
    assert collected.out.startswith("Removed 0 objects from 'origin' (2.9 KiB freed, 1 temp file of killed pushes); kept 21")
    assert not old.exists() and young.exists()
    assert after.json["garbage"] == ["packs/.mlx-tmp-fedcba9876543210"]
