"""What push, fetch, pull, checkout and status accept as targets, through the real `mlx`: the
repository's root means everything, a file inside a tracked directory names that directory, and a
pointer file that cannot be read is reported without gc's wording."""

from __future__ import annotations

import pytest

from tests.conftest import Repo


@pytest.fixture
def project(repo: Repo, mlx, tmp_path):
    repo.gen({"data": {"dir": {"f1.csv": "1\n", "f2.csv": "2\n"}}, "model.bin": "weights\n"}, old=True)
    assert mlx("add", "data/dir", "model.bin").code == 0
    assert mlx("remote", "add", "--default", "origin", str(tmp_path / "remote")).code == 0
    repo.commit("data")
    return repo


def test_the_repository_root_as_a_target_means_everything(project, mlx, tmp_path):
    pushed = mlx("push", ".")
    copy = tmp_path / "clone"
    project.git("clone", "-q", str(project.path), str(copy))
    fetched = mlx("fetch", "..", cwd=copy / "data")  # the root, named from below it
    pulled = mlx("pull", ".", cwd=copy)

    assert pushed.code == 0, pushed
    assert pushed.out.startswith("4 objects pushed to 'origin'")  # the tree, its two files, model.bin
    assert mlx("push").out == "0 objects pushed to 'origin' (0 B); 4 already there.\n"
    assert fetched.code == 0, fetched
    assert fetched.out.startswith("4 objects fetched from 'origin'")
    assert pulled.code == 0, pulled
    assert (copy / "data/dir/f2.csv").read_text() == "2\n" and (copy / "model.bin").read_text() == "weights\n"


def test_status_cloud_of_the_repository_root_means_everything(project, mlx):
    assert mlx("push").code == 0

    result = mlx("status", "--cloud", "--exit-code", ".", cwd=project.path / "data")  # '.' below the root: data only
    top = mlx("status", "--cloud", "--exit-code", ".")

    assert result.out == "Cache and remote 'origin' are in sync (3 objects of 1 path).\n", result
    assert top.out == "Cache and remote 'origin' are in sync (4 objects of 2 paths).\n", top


@pytest.mark.parametrize("command", [("push",), ("fetch",), ("pull",), ("checkout",), ("status",), ("status", "--cloud")])
def test_a_file_inside_a_tracked_directory_names_the_directory(project, mlx, command):
    result = mlx(*command, "data/dir/f1.csv")

    result.expect_error(
        2, "'data/dir/f1.csv' is inside the tracked directory 'data/dir', which mlx handles whole",
        hint="name the directory instead: 'data/dir'",
    )


@pytest.mark.parametrize("command", ["push", "fetch", "pull"])
def test_an_unreadable_pointer_file_is_not_reported_in_gcs_words(project, mlx, command):
    (project / "evil.mlx").write_text("bogus: 1\n")

    result = mlx(command)

    assert result.code == 12, result
    assert result.err_lines[0].startswith("mlx: cannot read 'evil.mlx': line 1: "), result
    assert "nothing was deleted" not in result.err
    assert mlx("gc").err.startswith("mlx: cannot read 'evil.mlx', so nothing was deleted: ")
