"""A symbolic link to a directory that holds pointer files (a data folder moved to another disk and
linked back): mlx acts on no path through a link, so push, fetch, pull and `status --cloud` leave it
out with a warning, as they do a directory they cannot list; gc still deletes nothing and names the
link; a target at, inside or above the link is still an error."""

from __future__ import annotations

import pytest

WARNING = "warning: 'data' is a symbolic link to a directory: pointer files behind it are left out"
REFUSED = (
    "cannot read 'data': a symbolic link to a directory that holds pointer files ('data/b.csv.mlx'), and mlx does "
    "not follow symbolic links"
)
HINT = "move the directory back into the workspace, or replace the link by a real directory"


@pytest.fixture
def linked(repo, mlx, tmp_path):
    """a.csv tracked and committed, with a directory remote; data/b.csv tracked, then its folder moved
    out of the repository and linked back as `data`."""
    repo.gen({"a.csv": "a\n"}, old=True)
    assert mlx("add", "a.csv").code == 0
    assert mlx("remote", "add", "-d", "origin", str(tmp_path / "remote")).code == 0
    repo.commit("a.csv")
    repo.gen({"data": {"b.csv": "b\n"}}, old=True)
    assert mlx("add", "data/b.csv").code == 0
    (repo / "data").rename(tmp_path / "other-disk")
    (repo / "data").symlink_to(tmp_path / "other-disk")
    return repo


def remote_files(tmp_path) -> list:
    return sorted(path.relative_to(tmp_path) for path in (tmp_path / "remote").rglob("*"))


def expect_warned(result) -> None:
    assert result.code == 0, result
    assert result.err_lines == [WARNING], result


def test_push_warns_and_pushes_what_it_can_see(linked, mlx):
    result = mlx("push")

    expect_warned(result)
    assert result.out.startswith("1 object pushed to 'origin'"), result


def test_fetch_warns_and_fetches_what_it_can_see(linked, mlx):
    assert mlx("push").code == 0
    linked.object_path(linked.pointer("a.csv")["hash"]).unlink()

    result = mlx("fetch")

    expect_warned(result)
    assert result.out.startswith("1 object fetched from 'origin'"), result


def test_pull_warns_once_and_places_what_it_can_see(linked, mlx):
    assert mlx("push").code == 0
    (linked / "a.csv").unlink()

    result = mlx("pull")

    expect_warned(result)
    assert (linked / "a.csv").read_text() == "a\n"


def test_status_cloud_warns_and_counts_what_it_can_see(linked, mlx):
    assert mlx("push").code == 0

    result = mlx("status", "--cloud")

    expect_warned(result)
    assert result.out == "Cache and remote 'origin' are in sync (1 object of 1 path).\n", result


@pytest.mark.parametrize("args", [["gc"], ["gc", "-n"], ["gc", "--cloud", "--all-commits"]])
def test_gc_still_deletes_nothing_and_names_the_link(linked, mlx, tmp_path, args):
    linked.gen({"old.bin": "old\n"}, old=True)
    assert mlx("add", "old.bin").code == 0
    assert mlx("push").code == 0
    (linked / "old.bin.mlx").unlink()  # its object is garbage now, in the cache and on the remote
    before = linked.objects(), remote_files(tmp_path)

    result = mlx(*args)

    result.expect_error(12, REFUSED.replace("'data':", "'data', so nothing was deleted:"), hint=HINT)
    assert (linked.objects(), remote_files(tmp_path)) == before


@pytest.mark.parametrize(
    "args",
    [["push", "data"], ["push", "data/b.csv"], ["fetch", "data/b.csv.mlx"], ["pull", "data"], ["status", "--cloud", "data/b.csv"]],
)
def test_a_target_through_the_link_is_still_an_error(linked, mlx, args):
    mlx(*args).expect_error(12, REFUSED, hint=HINT)


def test_a_target_elsewhere_is_answered_without_a_warning(linked, mlx):
    result = mlx("push", "a.csv")

    assert result.code == 0 and result.err == "", result
    assert result.out.startswith("1 object pushed to 'origin'"), result
