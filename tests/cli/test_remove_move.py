"""mlx remove stops tracking (data kept unless --outs, and only if cached); mlx move moves
data, pointer and .gitignore line together."""

from __future__ import annotations

import os

import pytest

from ._helpers import b3, is_git_ignored

CSV = "x,y\n1,2\n"


@pytest.fixture
def tracked(repo, mlx):
    repo.gen({"model.bin": "weights\n", "data": {"raw": {"a.csv": CSV, "b.csv": "b\n"}}, ".gitignore": "*.log\n"}, old=True)
    result = mlx("add", "model.bin", "data/raw")
    assert result.code == 0, result
    return repo


# -- remove --------------------------------------------------------------------------------------


def test_remove_stops_tracking_and_keeps_the_data(tracked, mlx):
    result = mlx("remove", "model.bin.mlx")

    assert (result.code, result.out) == (0, "untracked model.bin\n")
    assert not (tracked / "model.bin.mlx").exists()
    assert (tracked / "model.bin").read_text() == "weights\n"
    assert (tracked / ".gitignore").read_text() == "*.log\n"
    assert mlx("status").out == "Everything is up to date (1 tracked path).\n"


def test_remove_accepts_the_tracked_path_and_deletes_a_gitignore_it_empties(tracked, mlx):
    result = mlx("remove", "data/raw")

    assert result.code == 0, result
    assert not (tracked / "data/raw.mlx").exists()
    assert not (tracked / "data/.gitignore").exists()  # it held only mlx's line
    assert tracked.listing("data") == ["raw/", "raw/a.csv", "raw/b.csv"]


def test_remove_outs_deletes_data_whose_content_is_in_the_cache(tracked, mlx):
    result = mlx("remove", "--outs", "model.bin.mlx", "data/raw.mlx")

    assert result.code == 0, result
    assert result.out == "untracked data/raw (deleted)\nuntracked model.bin (deleted)\n"
    assert not (tracked / "model.bin").exists()
    assert not (tracked / "data/raw").exists()
    assert tracked.object_path(b3("weights\n")).read_text() == "weights\n"  # still recoverable


def test_remove_outs_refuses_modified_data(tracked, mlx):
    tracked.gen({"data": {"raw": {"new.csv": "new\n"}}})

    result = mlx("remove", "--outs", "data/raw.mlx")

    result.expect_error(
        15,
        "refusing to delete 'data/raw/new.csv': its content is not in the cache",
        hint="run 'mlx add data/raw' to keep it, or pass --force to discard it",
    )
    assert (tracked / "data/raw.mlx").exists()
    assert (tracked / "data/raw/new.csv").exists()
    assert (tracked / "data/.gitignore").read_text() == "/raw\n"


def test_remove_outs_refuses_data_whose_objects_left_the_cache(tracked, mlx):
    tracked.object_path(b3("weights\n")).unlink()

    result = mlx("remove", "--outs", "model.bin.mlx")

    assert result.code == 15, result
    assert (tracked / "model.bin").read_text() == "weights\n"
    assert (tracked / "model.bin.mlx").exists()


def test_remove_outs_force_deletes_anyway(tracked, mlx):
    tracked.gen({"model.bin": "retrained\n"})

    result = mlx("remove", "--outs", "--force", "model.bin.mlx")

    assert result.code == 0, result
    assert not (tracked / "model.bin").exists()
    assert not (tracked / "model.bin.mlx").exists()


def test_remove_of_an_untracked_path_is_a_usage_error(tracked, mlx):
    mlx("remove", "nope.mlx").expect_error(2, "'nope.mlx' is not tracked by mlx", hint="run 'mlx add nope.mlx' to track it")


# -- move ----------------------------------------------------------------------------------------


def test_move_renames_data_pointer_and_gitignore_line(tracked, mlx):
    result = mlx("move", "data/raw", "data/raw-2024")

    assert result.code == 0, result
    assert result.out == "moved data/raw -> data/raw-2024 (data/raw-2024.mlx)\n"
    assert tracked.listing("data") == [".gitignore", "raw-2024.mlx", "raw-2024/", "raw-2024/a.csv", "raw-2024/b.csv"]
    assert tracked.pointer("data/raw-2024")["path"] == "raw-2024"
    assert (tracked / "data/.gitignore").read_text() == "/raw-2024\n"
    assert mlx("status").out == "Everything is up to date (2 tracked paths).\n"


def test_move_into_an_existing_directory(tracked, mlx):
    (tracked / "models").mkdir()

    result = mlx("move", "model.bin", "models")

    assert result.out == "moved model.bin -> models/model.bin (models/model.bin.mlx)\n"
    assert (tracked / "models/model.bin").read_text() == "weights\n"
    assert (tracked / "models/.gitignore").read_text() == "/model.bin\n"
    assert (tracked / ".gitignore").read_text() == "*.log\n"
    assert is_git_ignored(tracked.path, "models/model.bin")
    assert not (tracked / "model.bin.mlx").exists()


def test_move_by_pointer_name_to_a_new_directory(tracked, mlx):
    result = mlx("move", "model.bin.mlx", "models/v1/model.bin.mlx")

    assert result.code == 0, result
    assert (tracked / "models/v1/model.bin").read_text() == "weights\n"
    assert (tracked / "models/v1/model.bin.mlx").is_file()


def test_move_keeps_the_inode(tracked, mlx):
    before = os.stat(tracked / "model.bin").st_ino

    assert mlx("move", "model.bin", "renamed.bin").code == 0

    assert os.stat(tracked / "renamed.bin").st_ino == before


def test_move_refuses_an_existing_destination(tracked, mlx):
    tracked.gen({"other.bin": "other\n"})

    mlx("move", "model.bin", "other.bin").expect_error(2, "'other.bin' already exists", hint="move or remove it first")
    assert (tracked / "model.bin").read_text() == "weights\n"
    assert (tracked / "other.bin").read_text() == "other\n"


def test_move_refuses_a_destination_inside_a_tracked_directory(tracked, mlx):
    mlx("move", "model.bin", "data/raw/model.bin").expect_error(
        2, "'data/raw/model.bin' is inside the tracked directory 'data/raw'"
    )
    assert (tracked / "model.bin").exists()


def test_move_refuses_a_destination_outside_the_repository(tracked, mlx, tmp_path):
    result = mlx("move", "model.bin", "../model.bin")

    assert result.code == 14, result
    assert not (tmp_path / "model.bin").exists()


def test_move_of_an_untracked_path_is_a_usage_error(tracked, mlx):
    mlx("move", "nope", "x").expect_error(2, "'nope' is not tracked by mlx", hint="run 'mlx add nope' to track it")


def test_move_refuses_moving_a_directory_into_itself(tracked, mlx):
    result = mlx("move", "data/raw", "data/raw/inner")

    result.expect_error(2, "cannot move 'data/raw' into itself")
    assert tracked.listing("data/raw") == ["a.csv", "b.csv"]


@pytest.mark.parametrize("source_in_workspace", [True, False])
def test_move_refuses_a_destination_that_is_tracked_but_not_in_the_workspace(tracked, mlx, source_in_workspace):
    tracked.gen({"other.bin": "other\n"})
    assert mlx("add", "other.bin").code == 0
    (tracked / "other.bin").unlink()
    if not source_in_workspace:
        (tracked / "model.bin").unlink()
    before = (tracked / "other.bin.mlx").read_bytes()

    result = mlx("move", "model.bin", "other.bin")

    result.expect_error(2, "'other.bin' is already tracked by mlx", hint="move it first, or stop tracking it: 'mlx remove other.bin'")
    assert (tracked / "other.bin.mlx").read_bytes() == before
    assert (tracked / "model.bin.mlx").is_file()
    assert (tracked / "model.bin").exists() == source_in_workspace


def test_move_of_data_not_in_the_workspace_refuses_an_untracked_file_at_the_destination(tracked, mlx):
    (tracked / "model.bin").unlink()
    tracked.gen({"notes.txt": "my own work\n"})

    result = mlx("move", "model.bin", "notes.txt")

    result.expect_error(2, "'notes.txt' already exists", hint="move or remove it first")
    assert not (tracked / "notes.txt.mlx").exists()
    assert (tracked / "model.bin.mlx").is_file()
    assert not is_git_ignored(tracked.path, "notes.txt")


def test_move_of_data_not_in_the_workspace_moves_the_pointer_into_an_existing_directory(tracked, mlx):
    (tracked / "model.bin").unlink()
    (tracked / "models").mkdir()

    result = mlx("move", "model.bin", "models")

    assert result.out == "moved model.bin -> models/model.bin (models/model.bin.mlx)\n"
    assert tracked.listing("models") == [".gitignore", "model.bin.mlx"]
    assert not (tracked / "models.mlx").exists()


@pytest.mark.parametrize("new_pointer_written", [False, True])
def test_move_run_again_finishes_a_move_interrupted_after_the_data_was_renamed(tracked, mlx, new_pointer_written):
    os.rename(tracked / "data/raw", tracked / "data/raw-2024")
    if new_pointer_written:
        text = (tracked / "data/raw.mlx").read_text().replace("path: raw\n", "path: raw-2024\n")
        (tracked / "data/raw-2024.mlx").write_text(text)

    result = mlx("move", "data/raw", "data/raw-2024")

    assert result.out == "moved data/raw -> data/raw-2024 (data/raw-2024.mlx)\n"
    assert tracked.listing("data") == [".gitignore", "raw-2024.mlx", "raw-2024/", "raw-2024/a.csv", "raw-2024/b.csv"]
    assert (tracked / "data/.gitignore").read_text() == "/raw-2024\n"
    assert mlx("status").out == "Everything is up to date (2 tracked paths).\n"


def test_move_run_again_finishes_a_move_into_a_directory(tracked, mlx):
    (tracked / "models").mkdir()
    os.rename(tracked / "model.bin", tracked / "models/model.bin")

    result = mlx("move", "model.bin", "models")

    assert result.out == "moved model.bin -> models/model.bin (models/model.bin.mlx)\n"
    assert tracked.listing("models") == [".gitignore", "model.bin", "model.bin.mlx"]


def test_move_run_again_finishes_a_move_of_a_pointer_whose_data_is_not_in_the_workspace(tracked, mlx):
    (tracked / "model.bin").unlink()
    text = (tracked / "model.bin.mlx").read_text().replace("path: model.bin\n", "path: renamed.bin\n")
    (tracked / "renamed.bin.mlx").write_text(text)

    result = mlx("move", "model.bin", "renamed.bin")

    assert result.out == "moved model.bin -> renamed.bin (renamed.bin.mlx)\n"
    assert not (tracked / "model.bin.mlx").exists()
    assert (tracked / "renamed.bin.mlx").read_text() == text


def test_move_refuses_a_destination_whose_data_name_would_be_a_pointer_name(tracked, mlx):
    result = mlx("move", "model.bin", "model.mlx.mlx")  # the pointer 'model.mlx.mlx' of data 'model.mlx'

    result.expect_error(
        2, "cannot move 'model.bin' to 'model.mlx': mlx reads every '*.mlx' file as a pointer",
        hint="choose a name that does not end in '.mlx'",
    )
    assert (tracked / "model.bin").read_text() == "weights\n"
    assert not (tracked / "model.mlx").exists()


def test_move_refuses_an_untracked_directory_holding_one_tracked_path(repo, mlx):
    repo.gen({"sub": {"a": "a\n", "README": "notes\n"}})
    assert mlx("add", "sub/a").code == 0

    result = mlx("move", "sub", "renamed")

    result.expect_error(
        2, "'sub' is not a tracked path but holds 1 tracked path; mlx move moves one",
        hint="name a tracked path itself, such as 'sub/a', or use git mv",
    )
    assert repo.listing() == ["sub/", "sub/.gitignore", "sub/README", "sub/a", "sub/a.mlx"]


def test_move_refuses_a_directory_holding_several_tracked_paths(tracked, mlx):
    tracked.gen({"data": {"more.csv": "more\n"}})
    assert mlx("add", "data/more.csv").code == 0

    mlx("move", "data", "elsewhere").expect_error(
        2, "'data' is not a tracked path but holds 2 tracked paths; mlx move moves one",
        hint="name a tracked path itself, such as 'data/more.csv', or use git mv",
    )


@pytest.mark.parametrize("source_in_workspace", [True, False])
def test_move_refuses_a_destination_below_a_file(tracked, mlx, source_in_workspace):
    tracked.gen({"plain": "p\n"})
    if not source_in_workspace:
        (tracked / "model.bin").unlink()

    result = mlx("move", "model.bin", "plain/model.bin")

    result.expect_error(2, "cannot move 'model.bin' to 'plain/model.bin': 'plain' is not a directory")
    assert (tracked / "plain").read_text() == "p\n"
    assert (tracked / "model.bin.mlx").is_file()
