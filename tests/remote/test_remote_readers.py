"""What readers (fetch, pull, status --cloud, fsck --remote) make of a remote whose index was damaged
after a clone copied it, of a fresh clone's directories, of targets that match nothing and of a
place whose marker is gone: through the real executable, against a local directory and S3."""

from __future__ import annotations

import pytest
from blake3 import blake3

from tests.conftest import Repo, clone
from tests.remote_fixtures import overwrite_remote_file, push_directory

FILES = {f"f{i}.csv": f"row {i}\n" for i in range(1, 4)}


@pytest.fixture
def pushed(repo: Repo, mlx, remote_url):
    """A directory of three small files pushed to `origin`: one pack, one index."""
    return push_directory(repo, mlx, remote_url, FILES)


def only_index(remote_url) -> tuple[str, bytes]:
    (name,) = remote_url.open().list("index")
    return f"index/{name}", remote_url.open().read(f"index/{name}")


def test_an_index_truncated_on_the_remote_is_seen_by_the_clone_that_pushed_it_and_its_push_writes_it_back(
    pushed, mlx, remote_url, tmp_path
):
    index, good = only_index(remote_url)
    overwrite_remote_file(remote_url, index, good[:20])

    fsck = mlx("fsck", "--remote", "origin")
    assert fsck.code == 21, fsck
    assert f"invalid index: {index} its bytes do not match its name on the remote; this clone has a good copy: " \
           "'mlx push' or 'mlx fsck --remote origin --repair' writes it back" in fsck.out
    assert "garbage" not in fsck.out  # its pack is not garbage: the index comes back
    status = mlx("status", "--cloud", "--exit-code")
    assert status.code == 1, status
    assert status.out == "data: 4 missing on 'origin' (of 4 objects)\n"
    assert f"warning: bad index on 'origin', ignored: {index}" in status.err

    push = mlx("push")
    assert push.code == 0, push
    assert push.out == "0 objects pushed to 'origin' (0 B); 4 already there.\n"
    assert push.err == f"warning: {index} was damaged on 'origin': wrote this clone's good copy back\n"
    assert remote_url.open().read(index) == good
    assert mlx("fsck", "--remote", "origin", "--read-data").code == 0
    assert mlx("status", "--cloud").out == "Cache and remote 'origin' are in sync (4 objects of 1 path).\n"
    copy = clone(pushed, tmp_path)
    assert mlx("pull", cwd=copy.path).code == 0
    assert {p.name: p.read_text() for p in (copy / "data").iterdir()} == FILES


def test_fsck_read_data_rereads_every_index_and_a_push_then_repairs_damage_of_the_same_size(pushed, mlx, remote_url):
    index, good = only_index(remote_url)
    damaged = bytearray(good)
    damaged[5] ^= 0xFF
    overwrite_remote_file(remote_url, index, bytes(damaged))

    assert mlx("fsck", "--remote", "origin").code == 0  # the sizes alone cannot see it
    full = mlx("fsck", "--remote", "origin", "--read-data")
    assert full.code == 21, full
    assert f"invalid index: {index} its bytes do not match its name on the remote" in full.out
    assert mlx("status", "--cloud", "--exit-code").code == 1  # remembered: not "in sync" any more

    assert mlx("push").code == 0
    assert remote_url.open().read(index) == good
    assert mlx("fsck", "--remote", "origin", "--read-data").code == 0
    assert mlx("status", "--cloud", "--exit-code").code == 0


def test_a_fresh_clone_names_the_bad_index_when_it_fetches_and_pulls(pushed, mlx, remote_url, tmp_path):
    index, good = only_index(remote_url)
    overwrite_remote_file(remote_url, index, good[:20])
    copy = clone(pushed, tmp_path)

    for command in ("fetch", "pull"):
        result = mlx(command, cwd=copy.path)
        assert result.code == 20, result
        assert result.err_lines[0].startswith(f"warning: bad index on 'origin', ignored: {index} (its bytes do not match its name")
        assert result.err_lines[0].endswith(
            "on the remote; in a clone that read it before, 'mlx fsck --remote origin --repair' "
            "(or 'mlx fsck --remote origin --read-data' then 'mlx push') writes its good copy back)"
        )
        assert result.err_lines[1:] == [
            "warning: 'data': not on the remote",
            "mlx: 1 path could not be transferred completely",
            "hint: 'origin' has 1 unreadable index file, which may list them: run 'mlx fsck --remote origin'",
        ]
    fsck = mlx("fsck", "--remote", "origin", cwd=copy.path)
    assert fsck.code == 21 and f"invalid index: {index}" in fsck.out


def test_status_cloud_in_a_fresh_clone_reads_the_directory_listing_from_the_remote(pushed, mlx, tmp_path):
    copy = clone(pushed, tmp_path)

    text = mlx("status", "--cloud", cwd=copy.path)
    data = mlx("status", "--cloud", "--json", cwd=copy.path).json

    assert (text.code, text.out, text.err) == (0, "data: 4 missing locally (of 4 objects)\n", "")
    assert data["paths"] == [{"path": "data", "objects": 4, "missing_locally": 4, "missing_remotely": 0, "tree_unknown": False}]
    assert (data["objects"], data["missing_locally"], data["missing_remotely"]) == (4, 4, 0)
    assert not list((copy.cache / "objects").rglob("*")), "status --cloud stores nothing"


def test_status_cloud_refuses_a_target_that_matches_nothing(pushed, mlx):
    mlx("status", "--cloud", "--exit-code", "dta").expect_error(
        2, "'dta' is not tracked by mlx and no stage writes it", "run 'mlx add dta' to track it"
    )
    mlx("status", "--cloud", "--exit-code", "data/f1.csv").expect_error(
        2, "'data/f1.csv' is inside the tracked directory 'data', which mlx handles whole", "name the directory instead: 'data'"
    )
    assert mlx("status", "--cloud", "--exit-code", "data").code == 0


def test_fetch_counts_the_trees_already_in_the_cache(pushed, mlx, tmp_path):
    copy = clone(pushed, tmp_path)
    assert mlx("pull", cwd=copy.path).out.startswith("4 objects fetched from 'origin' (")
    assert mlx("fetch", cwd=copy.path).out == "0 objects fetched from 'origin' (0 B); 4 already in the cache.\n"
    copy.object_path(blake3(FILES["f1.csv"].encode()).hexdigest()).unlink()

    again = mlx("fetch", cwd=copy.path)

    assert again.out == "1 object fetched from 'origin' (6 B); 3 already in the cache.\n", again


def test_a_place_whose_marker_was_deleted_holds_nothing_for_readers_until_a_push_writes_it_back(
    pushed, mlx, remote_url, tmp_path
):
    fs = remote_url.open()
    fs.delete(["mlx-store.json"])
    copy = clone(pushed, tmp_path)
    warning = f"warning: remote 'origin' ({fs.url}) has no mlx-store.json, so mlx reads nothing there (a push writes it)"

    for command in ("fetch", "pull"):
        result = mlx(command, cwd=copy.path)
        assert result.code == 20, result
        assert result.err_lines[:2] == [warning, "warning: 'data': not on the remote"]
    status = mlx("status", "--cloud", "--exit-code")  # in the clone that pushed: its copies do not count
    assert status.code == 1, status
    assert (status.out, status.err) == ("data: 4 missing on 'origin' (of 4 objects)\n", warning + "\n")
    mlx("fsck", "--remote", "origin").expect_error(
        13, f"remote 'origin' ({fs.url}) has no mlx-store.json: it holds nothing mlx knows of",
        "'mlx push' writes the marker (and makes readable again what was pushed there before it was deleted)",
    )

    assert mlx("push").out == "0 objects pushed to 'origin' (0 B); 4 already there.\n"
    pulled = mlx("pull", cwd=copy.path)
    assert (pulled.code, pulled.err) == (0, ""), pulled
    assert {p.name: p.read_text() for p in (copy / "data").iterdir()} == FILES
