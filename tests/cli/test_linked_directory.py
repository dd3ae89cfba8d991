"""A symbolic link to a directory that holds pointer files (a data folder moved to another disk and
linked back): mlx acts on no path through a link, so every command that reads every pointer file
leaves it out with a warning, as it does a directory it cannot list; gc still deletes nothing and
names the link; a target at, inside or above the link is exit 12, naming it, for every command."""

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


@pytest.mark.parametrize(
    "args",
    [["status", "data"], ["checkout", "data"], ["status", "data/b.csv"], ["status", "data/b.csv.mlx"],
     ["checkout", "data/b.csv"], ["remove", "data"], ["remove", "data/b.csv"], ["move", "data", "moved"],
     ["move", "data/b.csv", "b.csv"], ["unprotect", "data"], ["unprotect", "data/b.csv"], ["add", "data"],
     ["add", "data/b.csv"], ["add", "data/new.csv"], ["diff", "-t", "data/b.csv"]],
)
def test_every_command_refuses_a_target_at_or_through_the_link_as_push_does(linked, mlx, tmp_path, args):
    (tmp_path / "other-disk/new.csv").write_text("new\n")
    before = sorted((path.name, path.read_bytes()) for path in (tmp_path / "other-disk").iterdir())

    mlx(*args).expect_error(12, REFUSED, hint=HINT)
    assert sorted((path.name, path.read_bytes()) for path in (tmp_path / "other-disk").iterdir()) == before


@pytest.fixture
def linked_below(linked, mlx):
    """The link moved into `outer`, beside outer/c.csv, which is tracked."""
    linked.gen({"outer": {"c.csv": "c\n"}}, old=True)
    assert mlx("add", "outer/c.csv").code == 0
    (linked / "data").rename(linked / "outer/data")
    return linked


@pytest.mark.parametrize("command", ["status", "checkout", "push", "diff -t"])
def test_every_command_refuses_a_target_above_the_link(linked_below, mlx, command):
    result = mlx(*command.split(), "outer")

    result.expect_error(12, REFUSED.replace("'data", "'outer/data"), hint=HINT)


@pytest.mark.parametrize("args", [["status"], ["status", "."], ["checkout"], ["fsck"]])
def test_status_checkout_and_fsck_warn_and_go_on_as_push_does(linked, mlx, args):
    (linked / "a.csv").unlink()

    result = mlx(*args)

    assert result.err_lines == [WARNING], result
    assert result.code == 0, result


def test_status_json_carries_the_warning(linked, mlx):
    result = mlx("status", "--json")

    assert result.code == 0 and result.err_lines == [WARNING], result
    assert result.json["warnings"] == [WARNING.removeprefix("warning: ")]
    assert result.json["tracked"] == 1


def test_a_target_through_a_link_into_the_workspace_is_an_unsafe_path_for_every_command(linked, mlx):
    linked.gen({"real": {"c.csv": "c\n"}}, old=True)
    assert mlx("add", "real/c.csv").code == 0
    (linked / "inner").symlink_to("real")  # its pointers are read where they are, in 'real'

    for command in ("status", "checkout", "push", "status --cloud", "diff -t"):
        result = mlx(*command.split(), "inner/c.csv")

        result.expect_error(
            14, "unsafe path 'inner/c.csv': 'inner' is a symbolic link",
            hint="mlx never reads or writes through symbolic links inside the repository",
        )


@pytest.fixture
def linked_deep(repo, mlx, tmp_path):
    """As `linked`, but the folder moved out holds its pointer files two and three levels down:
    'data/one/b.csv' and 'data/one/two/c.csv'."""
    repo.gen({"a.csv": "a\n", "data": {"one": {"b.csv": "b\n", "two": {"c.csv": "c\n"}}}}, old=True)
    assert mlx("add", "a.csv", "data/one/b.csv", "data/one/two/c.csv").code == 0
    assert mlx("remote", "add", "-d", "origin", str(tmp_path / "remote")).code == 0
    (repo / "data").rename(tmp_path / "other-disk")
    (repo / "data").symlink_to(tmp_path / "other-disk")
    return repo


def test_a_walk_that_warns_looks_two_levels_behind_a_link(linked_deep, mlx):
    (linked_deep / "data/one/b.csv.mlx").unlink()  # only 'data/one/two/c.csv.mlx' is left, three levels down

    for args in (["status"], ["checkout"], ["fsck"], ["push"]):
        result = mlx(*args)

        assert result.code == 0 and result.err == "", (args, result)
    assert mlx("status").out == "Everything is up to date (1 tracked path).\n"


def test_a_walk_that_warns_sees_pointer_files_two_levels_behind_a_link(linked_deep, mlx):
    result = mlx("status")

    assert result.code == 0 and result.err_lines == [WARNING], result


@pytest.mark.parametrize("args", [["gc", "-n"], ["status", "data"], ["status", "data/one"]])
def test_gc_and_a_named_target_look_all_the_way_behind_a_link(linked_deep, mlx, args):
    (linked_deep / "data/one/b.csv.mlx").unlink()
    refused = REFUSED.replace("data/b.csv.mlx", "data/one/two/c.csv.mlx")
    if args[0] == "gc":
        refused = refused.replace("'data':", "'data', so nothing was deleted:")

    mlx(*args).expect_error(12, refused, hint=HINT)
