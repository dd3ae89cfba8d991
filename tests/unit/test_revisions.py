"""gitrev.GitFiles and compare.revisions: reading a repository at commits and in the workspace."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mlxkit.compare.revisions import WORKSPACE, Revisions
from mlxkit.errors import GitRequiredError, InvalidFileError, MissingObjectError, UnsafePathError, UsageError
from mlxkit.fs.confine import RepoPath
from mlxkit.gitrev import GitFiles
from mlxkit.repo.repository import find_repository, init_repository
from tests.conftest import Repo, git

PIPELINE = """\
stages:
  train:
    cmd: echo ${train.lr}
    params: [train.lr]
    metrics: [m.json]
"""


def _lock(digest: str) -> str:
    return f"""\
format: 1
stages:
  train:
    cmd: echo 1
    outs:
    - path: model.bin
      hash: {digest}
      size: 5
"""


def test_reads_a_file_at_each_commit_through_one_process(repo: Repo) -> None:
    repo.gen({"a file.txt": "one"})
    first = repo.commit("one")
    repo.gen({"a file.txt": "two"})
    repo.commit("two")
    with GitFiles(repo.path, repo.path) as files:
        assert files.read(files.commit("HEAD~1"), "a file.txt") == b"one"
        assert files.read(files.commit("HEAD"), "a file.txt") == b"two"
        assert files.commit("HEAD~1") == first
        process = files._process
        assert files.read(first, "no such file.txt") is None  # a name with a space: "missing", not a crash
        assert files._process is process


def test_a_path_names_the_blob_so_equal_content_shares_a_key(repo: Repo) -> None:
    repo.gen({"a.txt": "same", "b.txt": "same"})
    commit = repo.commit()
    with GitFiles(repo.path, repo.path) as files:
        key_a, data_a = files.blob(commit, "a.txt")  # type: ignore[misc]
        key_b, data_b = files.blob(commit, "b.txt")  # type: ignore[misc]
    assert key_a == key_b and data_a == data_b == b"same"


def test_a_directory_or_a_hostile_name_is_not_a_file(repo: Repo) -> None:
    repo.gen({"dir": {"f": "x"}})
    commit = repo.commit()
    with GitFiles(repo.path, repo.path) as files:
        assert files.read(commit, "dir") is None
        assert files.read(commit, "dir/f\nHEAD:dir/f") is None


@pytest.mark.parametrize("rev", ["nope", "-p", "", "HEAD\nmain"])
def test_an_unknown_or_option_like_revision_is_refused(repo: Repo, rev: str) -> None:
    repo.commit()
    with GitFiles(repo.path, repo.path) as files, pytest.raises(UsageError) as caught:
        files.commit(rev)
    assert str(caught.value) in (f"unknown revision '{rev}'", f"'{rev}' is not a revision")


def test_a_repository_in_a_subdirectory_reads_relative_to_itself(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q", "-b", "main")
    (tmp_path / "project").mkdir()
    (tmp_path / "project" / "params.yaml").write_text("lr: 1\n")
    (tmp_path / "params.yaml").write_text("lr: 2\n")
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-q", "-m", "x")
    with GitFiles(tmp_path, tmp_path / "project") as files:
        commit = files.commit("HEAD")
        assert files.read(commit, "params.yaml") == b"lr: 1\n"
        assert files.files(commit, ".yaml") == ["params.yaml"]


def test_refs_peel_annotated_tags_and_log_is_newest_first(repo: Repo) -> None:
    first = repo.commit("one")
    second = repo.commit("two")
    repo.git("tag", "-a", "v1", "-m", "annotated", first)
    repo.git("tag", "light", second)
    with GitFiles(repo.path, repo.path) as files:
        assert dict(files.refs("tags")) == {"v1": first, "light": second}
        assert dict(files.refs("heads")) == {"main": second}
        assert files.log("HEAD") == [second, first]
        assert files.log("HEAD", limit=1) == [second]


def test_a_pipeline_is_interpolated_from_the_params_of_its_own_revision(repo: Repo) -> None:
    repo.gen({"mlx.yaml": PIPELINE, "params.yaml": "train: {lr: 1}\n"})
    repo.commit()
    repo.gen({"params.yaml": "train: {lr: 2}\n"})
    repo.commit()
    repo.gen({"params.yaml": "train: {lr: 3}\n"})
    with Revisions(find_repository(repo.path)) as revisions:
        commands = [snap.pipeline().stages["train"].cmd for snap in revisions.open(["HEAD~1", "HEAD", WORKSPACE])]  # type: ignore[union-attr]
        assert commands == [("echo 1",), ("echo 2",), ("echo 3",)]
        assert len(revisions._pipelines) == 1  # one mlx.yaml: parsed once per params content
        revisions.snapshot("HEAD~1").pipeline()
        assert len(revisions._pipelines[next(iter(revisions._pipelines))]) == 3


def test_a_revision_without_a_pipeline_or_lock_has_none(repo: Repo) -> None:
    repo.commit()
    with Revisions(find_repository(repo.path)) as revisions:
        snap = revisions.snapshot("HEAD")
        assert snap.pipeline() is None
        assert snap.lock().stages == {}
        assert snap.params(RepoPath("params.yaml")) is None


def test_an_output_kept_in_the_cache_is_read_from_it_by_the_lock_at_that_revision(repo: Repo) -> None:
    digest, _written = find_repository(repo.path).store.put_bytes(b"model")
    repo.gen({"mlx.lock": _lock(str(digest))})
    repo.commit()
    with Revisions(find_repository(repo.path)) as revisions:
        snap = revisions.snapshot("HEAD")
        assert snap.read_output(RepoPath("model.bin")) == b"model"
        assert snap.read_output(RepoPath("other.bin")) is None
        os.remove(repo.object_path(str(digest)))
        with pytest.raises(MissingObjectError) as caught:
            snap.read_output(RepoPath("model.bin"))
    assert str(caught.value) == f"'model.bin' at HEAD is not in the cache ({digest.short})"


def test_the_workspace_refuses_a_symbolic_link_and_a_directory(repo: Repo) -> None:
    (repo.path / "m.json").symlink_to("/etc/hostname")
    repo.gen({"d": {"f": "x"}})
    with Revisions(find_repository(repo.path)) as revisions:
        snap = revisions.snapshot(WORKSPACE)
        with pytest.raises(UnsafePathError):
            snap.read("m.json")
        with pytest.raises(InvalidFileError):
            snap.read("d")
        assert snap.read("absent.json") is None


def test_reading_at_a_revision_needs_git(tmp_path: Path) -> None:
    init_repository(tmp_path, no_git=True)
    with Revisions(find_repository(tmp_path)) as revisions:
        assert revisions.snapshot(WORKSPACE).read("x") is None
        with pytest.raises(GitRequiredError):
            revisions.snapshot("HEAD")
