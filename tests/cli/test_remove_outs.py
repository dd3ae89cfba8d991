"""mlx remove --outs deletes only what mlx tracks and has in the cache, data before pointer, so that
nothing untracked is lost and a rerun after an interruption finishes the job."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from tests.conftest import mlx_executable

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


def test_remove_outs_names_the_file_whose_content_is_not_in_the_cache(tracked, mlx):
    tracked.gen({"data": {"sub": {"c.csv": "edited\n"}}})

    result = mlx("remove", "--outs", "data")

    result.expect_error(
        15,
        "refusing to delete 'data/sub/c.csv': its content is not in the cache",
        hint="run 'mlx add data' to keep it, or pass --force to discard it",
    )
    assert (tracked / "data.mlx").exists()
    assert (tracked / "data/a.csv").exists()


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


@pytest.mark.skipif(shutil.which("setpriv") is None or os.geteuid() != 0, reason="needs setpriv, as root")
def test_remove_outs_that_cannot_delete_keeps_the_pointer_and_says_why(tracked):
    os.chmod(tracked / "data/sub", 0o555)  # root's override of permissions is dropped below
    try:
        proc = subprocess.run(
            ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--", mlx_executable(), "remove", "--outs", "data"],
            cwd=tracked.path, capture_output=True, text=True, check=False,
        )
    finally:
        os.chmod(tracked / "data/sub", 0o755)

    assert proc.returncode == 3, proc
    assert proc.stderr.startswith("mlx: permission denied: 'data/sub/"), proc.stderr
    assert "Traceback" not in proc.stderr
    assert (tracked / "data.mlx").exists()  # the data goes first: a rerun finishes the job
    assert "/data" in (tracked / ".gitignore").read_text()
    assert subprocess.run([mlx_executable(), "remove", "--outs", "data"], cwd=tracked.path, check=False).returncode == 0
    assert not (tracked / "data").exists()
    assert tracked.object_path(b3("b\n")).is_file()
