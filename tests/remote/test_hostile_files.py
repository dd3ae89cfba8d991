"""A directory remote where someone put something other than a regular file where mlx reads a small
file whole (the marker): every command fails at once with one line, instead of blocking on a FIFO
or reading /dev/zero until memory runs out. Each run has a timeout, so a regression fails the test
instead of hanging it."""

from __future__ import annotations

import os

import pytest

from tests.conftest import Repo, run_subprocess

LIMIT = 30  # seconds: the commands take well under one; a blocked one is killed and the test fails


@pytest.fixture
def remote(repo: Repo, mlx, tmp_path):
    repo.gen({"f.txt": "data\n"}, old=True)
    assert mlx("add", "f.txt").code == 0
    assert mlx("remote", "add", "--default", "origin", str(tmp_path / "remote")).code == 0
    repo.commit("data")
    assert mlx("push").code == 0
    marker = tmp_path / "remote" / "mlx-store.json"
    marker.unlink()
    return marker


@pytest.mark.parametrize("command", [("fetch",), ("pull",), ("push",), ("status", "--cloud"), ("fsck", "--remote", "origin")])
def test_a_fifo_as_the_marker_is_refused_without_blocking(repo, remote, command):
    os.mkfifo(remote)

    result = run_subprocess(command, repo.path, timeout=LIMIT)

    result.expect_error(22, f"cannot read 'mlx-store.json' on remote 'origin' ({remote.parent}): a FIFO, not a regular file")


def test_a_symbolic_link_to_dev_zero_as_the_marker_is_refused(repo, remote):
    remote.symlink_to("/dev/zero")

    result = run_subprocess(("fetch",), repo.path, timeout=LIMIT)

    result.expect_error(22, f"cannot read 'mlx-store.json' on remote 'origin' ({remote.parent}): a symbolic link, not a regular file")


def test_a_huge_marker_is_refused_unread(repo, remote):
    with open(remote, "wb") as handle:
        handle.truncate(1 << 30)  # sparse: 1 GiB of zeros, no disk

    result = run_subprocess(("status", "--cloud"), repo.path, timeout=LIMIT)

    result.expect_error(22, f"'mlx-store.json' on remote 'origin' ({remote.parent}) is larger than 1048576 bytes: it is not mlx's")
