"""mlx remove --outs deletes only what mlx tracks and has in the cache, data before pointer, so that
nothing untracked is lost and a rerun after an interruption finishes the job."""

from __future__ import annotations

import os
import shutil

import pytest

from tests.conftest import run_as_a_user

from ._helpers import b3


@pytest.fixture
def tracked(repo, mlx):
    repo.gen({"data": {"a.csv": "a\n", "sub": {"b.csv": "b\n", "c.csv": "c\n"}}, ".mlxignore": "*.log\n"}, old=True)
    assert mlx("add", "data").code == 0
    return repo


def test_remove_outs_keeps_what_mlx_does_not_track(tracked, mlx):
    tracked.gen({"data": {"notes.log": "never added\n", "sub": {"run.log": "scratch\n"}}})
    tracked.git("init", "-q", "data/sub")  # a nested repository

    result = mlx("remove", "--outs", "data")

    assert result.code == 0, result
    assert result.out.startswith("untracked data (deleted; kept ")
    assert (tracked / "data/notes.log").read_text() == "never added\n"
    assert (tracked / "data/sub/run.log").read_text() == "scratch\n"
    assert (tracked / "data/sub/.git/HEAD").is_file()
    assert not (tracked / "data/a.csv").exists() and not (tracked / "data/sub/b.csv").exists()
    assert not (tracked / "data.mlx").exists()


def test_remove_outs_deletes_the_directory_it_empties(tracked, mlx):
    result = mlx("remove", "--outs", "--json", "data")

    assert result.code == 0, result
    assert not (tracked / "data").exists()
    assert '"kept": {}' in result.out


def test_remove_outs_force_deletes_what_mlx_does_not_track_too(tracked, mlx):
    tracked.gen({"data": {"notes.log": "never added\n"}})

    assert mlx("remove", "--outs", "--force", "data").code == 0

    assert not (tracked / "data").exists()


def test_remove_outs_deletes_an_older_version_the_cache_holds(tracked, mlx):
    tracked.gen({"data": {"sub": {"c.csv": "v2\n"}}})
    assert mlx("add", "data").code == 0
    tracked.gen({"data": {"sub": {"c.csv": "c\n"}}})  # back to the first version's content

    result = mlx("remove", "--outs", "data")

    assert result.code == 0, result
    assert not (tracked / "data").exists()


def test_remove_outs_finishes_what_an_interrupted_run_began(tracked, mlx):
    (tracked / "data/a.csv").unlink()  # where a killed run stopped: the pointer is deleted last
    shutil.rmtree(tracked / "data/sub")

    result = mlx("remove", "--outs", "data")

    assert result.code == 0, result
    assert not (tracked / "data").exists()
    assert not (tracked / "data.mlx").exists()
    assert not (tracked / ".gitignore").exists() or "/data" not in (tracked / ".gitignore").read_text()


def test_remove_outs_that_cannot_delete_keeps_the_pointer_and_says_why(tracked, mlx):
    os.chmod(tracked / "data/sub", 0o555)

    result = run_as_a_user(tracked.path, "remove", "--outs", "data")

    os.chmod(tracked / "data/sub", 0o755)
    assert result.code == 3, result
    assert result.err.startswith("mlx: permission denied: 'data/sub/"), result
    assert (tracked / "data.mlx").exists()  # the data goes first: a rerun finishes the job
    assert "/data" in (tracked / ".gitignore").read_text()
    assert mlx("remove", "--outs", "data").code == 0
    assert not (tracked / "data").exists()
    assert tracked.object_path(b3("b\n")).is_file()


@pytest.mark.parametrize("command", [("remove", "--outs"), ("status",), ("push",)])
def test_a_symbolic_link_to_the_top_is_not_the_repository_itself(tracked, mlx, command):
    # '.' at the top selects everything; a link named 'self' pointing there did too, so that
    # `mlx remove --outs self` untracked and deleted every tracked path
    os.symlink(".", tracked / "self")

    result = mlx(*command, "self")

    assert result.code == 2, result
    assert result.err_lines[0] == "mlx: 'self' is not tracked by mlx" + ("" if command[0] != "push" else " and no stage writes it")
    assert (tracked / "data/a.csv").read_text() == "a\n" and (tracked / "data.mlx").is_file()
