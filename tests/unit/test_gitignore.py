"""Tracked data stays out of git: one exact `/name` line in the .gitignore beside the tracked path."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from mlxkit.errors import UnsafePathError
from mlxkit.fs.confine import RepoPath
from mlxkit.tracking.gitignore import add_ignore, ignore_line, remove_ignore


def target(text: str) -> RepoPath:
    return RepoPath.parse(text)


def test_add_ignore_creates_the_gitignore_beside_the_target(tmp_path):
    (tmp_path / "data").mkdir()
    assert add_ignore(tmp_path, target("data/raw"))
    assert (tmp_path / "data" / ".gitignore").read_bytes() == b"/raw\n"
    assert not (tmp_path / ".gitignore").exists()


def test_add_ignore_at_the_top_uses_the_root_gitignore(tmp_path):
    assert add_ignore(tmp_path, target("model.bin"))
    assert (tmp_path / ".gitignore").read_bytes() == b"/model.bin\n"


def test_add_ignore_appends_the_line_once(tmp_path):
    (tmp_path / ".gitignore").write_text("*.pyc\n/raw\n")
    assert not add_ignore(tmp_path, target("raw"))
    assert add_ignore(tmp_path, target("other"))
    assert not add_ignore(tmp_path, target("other"))
    assert (tmp_path / ".gitignore").read_text() == "*.pyc\n/raw\n/other\n"


def test_add_ignore_adds_a_newline_to_a_file_that_lacks_one(tmp_path):
    (tmp_path / ".gitignore").write_text("*.pyc")
    assert add_ignore(tmp_path, target("raw"))
    assert (tmp_path / ".gitignore").read_text() == "*.pyc\n/raw\n"


@pytest.mark.parametrize(
    ("name", "line"),
    [
        ("#x", "/\\#x"),
        ("!x", "/\\!x"),
        ("a b", "/a\\ b"),
        ("trailing ", "/trailing\\ "),
        ("*", "/\\*"),
        ("a?[b]", "/a\\?\\[b\\]"),
        ("plain.csv", "/plain.csv"),
        ("é", "/é"),
    ],
)
def test_ignore_line_escapes_gitignore_special_characters(name, line):
    assert ignore_line(name) == line


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
@pytest.mark.parametrize("name", ["#x", "!x", "a b", "trailing ", "*", "a?[b]", "back\\slash", "a\x0cb"])
def test_git_ignores_exactly_the_named_file(tmp_path, name):
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / name).write_text("data")
    (tmp_path / "unrelated").write_text("x")
    (tmp_path / "xx").write_text("x")
    (tmp_path / "a").write_text("x")
    add_ignore(tmp_path, RepoPath(name))
    status = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all", "-z"], cwd=tmp_path, capture_output=True, check=True
    ).stdout.split(b"\0")
    assert sorted(entry for entry in status if entry) == [b"?? .gitignore", b"?? a", b"?? unrelated", b"?? xx"]


def test_ignore_line_refuses_a_name_with_a_line_break():
    with pytest.raises(UnsafePathError, match="cannot name a file with a line break"):
        ignore_line("x\n*")


def test_add_ignore_of_a_name_with_a_line_break_writes_nothing(tmp_path):
    with pytest.raises(UnsafePathError):
        add_ignore(tmp_path, RepoPath("x\n*"))
    assert not (tmp_path / ".gitignore").exists()


def test_add_and_remove_treat_form_feed_as_part_of_a_name_as_git_does(tmp_path):
    name = "a\x0cb"
    assert add_ignore(tmp_path, RepoPath(name))
    assert not add_ignore(tmp_path, RepoPath(name))
    assert (tmp_path / ".gitignore").read_text() == "/a\x0cb\n"
    assert remove_ignore(tmp_path, RepoPath(name))
    assert not (tmp_path / ".gitignore").exists()


def test_remove_ignore_removes_only_that_line(tmp_path):
    (tmp_path / ".gitignore").write_text("*.pyc\n/raw\n/raw2\n# /raw\n/raw\n")
    assert remove_ignore(tmp_path, target("raw"))
    assert (tmp_path / ".gitignore").read_text() == "*.pyc\n/raw2\n# /raw\n"


def test_remove_ignore_deletes_a_file_it_empties(tmp_path):
    (tmp_path / "data").mkdir()
    add_ignore(tmp_path, target("data/raw"))
    assert remove_ignore(tmp_path, target("data/raw"))
    assert not (tmp_path / "data" / ".gitignore").exists()


def test_remove_ignore_without_the_line_or_the_file_changes_nothing(tmp_path):
    assert not remove_ignore(tmp_path, target("raw"))
    (tmp_path / ".gitignore").write_text("*.pyc\n")
    assert not remove_ignore(tmp_path, target("raw"))
    assert (tmp_path / ".gitignore").read_text() == "*.pyc\n"


def test_add_then_remove_restores_the_original_file(tmp_path):
    original = "# build products\n*.pyc\n\n/dist\n"
    (tmp_path / ".gitignore").write_text(original)
    add_ignore(tmp_path, target("#data set"))
    remove_ignore(tmp_path, target("#data set"))
    assert (tmp_path / ".gitignore").read_text() == original


def test_add_ignore_refuses_a_gitignore_that_is_a_symlink(tmp_path):
    outside = tmp_path / "outside"
    outside.write_text("mine\n")
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / ".gitignore").symlink_to(outside)
    with pytest.raises(UnsafePathError, match="'.gitignore' is a symbolic link"):
        add_ignore(repo, target("raw"))
    assert outside.read_text() == "mine\n"


def test_add_ignore_refuses_a_symlinked_parent_directory(tmp_path):
    (tmp_path / "outside").mkdir()
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "data").symlink_to(tmp_path / "outside")
    with pytest.raises(UnsafePathError, match="'data' is a symbolic link"):
        add_ignore(repo, target("data/raw"))
    assert list((tmp_path / "outside").iterdir()) == []
