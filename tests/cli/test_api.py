"""mlxkit.api: the Python API returns the same reports the CLI renders, and reads tracked bytes
as of any git revision."""

from __future__ import annotations

import dataclasses

import pytest

from mlxkit import api
from mlxkit.errors import IntegrityError, MlxError

from ._helpers import b3, make_writable

V1, V2 = "x,y\n1,2\n", "x,y\n1,2\n3,4\n"


@pytest.fixture
def two_commits(repo, mlx):
    """data/a.csv and data/raw/ (a directory) tracked at two commits with different content."""
    repo.gen({"data": {"a.csv": V1, "raw": {"r.txt": "raw v1\n", "deep": {"d.txt": "d1\n"}}}}, old=True)
    assert mlx("add", "data/a.csv", "data/raw").code == 0
    repo.commit("v1")
    repo.gen({"data": {"a.csv": V2, "raw": {"r.txt": "raw v2\n", "deep": {"d.txt": "d2\n"}}}}, old=True)
    assert mlx("add", "data/a.csv", "data/raw").code == 0
    repo.commit("v2")
    return repo


def test_read_returns_the_workspace_pointer_bytes(two_commits, monkeypatch):
    monkeypatch.chdir(two_commits.path)

    assert api.read("data/a.csv") == V2.encode()
    assert api.read("data/raw/deep/d.txt") == b"d2\n"


def test_read_and_open_at_an_earlier_revision(two_commits):
    root = two_commits.path

    assert api.read("data/a.csv", rev="HEAD~1", repo=root) == V1.encode()
    with api.open("data/a.csv", rev="HEAD~1", repo=root) as handle:
        assert handle.read() == V1.encode()
    with api.open("data/raw/deep/d.txt", rev="HEAD~1", repo=root) as handle:
        assert handle.read() == b"d1\n"
    assert api.read("data/raw/r.txt", rev="main", repo=root) == b"raw v2\n"


def test_read_does_not_need_the_workspace_copy(two_commits):
    (two_commits / "data/a.csv").unlink()

    assert api.read("data/a.csv", repo=two_commits.path) == V2.encode()


def test_read_relative_to_a_subdirectory(two_commits, monkeypatch):
    monkeypatch.chdir(two_commits / "data")

    assert api.read("a.csv", rev="HEAD~1") == V1.encode()


def test_read_refuses_untracked_paths_directories_and_unknown_revisions(two_commits):
    root = two_commits.path
    two_commits.gen({"free.txt": "x"})

    with pytest.raises(MlxError, match=r"'free.txt' is not tracked by mlx$"):
        api.read("free.txt", repo=root)
    with pytest.raises(MlxError, match=r"'data/raw/nope.txt' is not tracked by mlx at revision 'HEAD~1'"):
        api.read("data/raw/nope.txt", rev="HEAD~1", repo=root)
    with pytest.raises(MlxError, match=r"'data/raw' is a directory"):
        api.read("data/raw", repo=root)
    with pytest.raises(MlxError, match=r"unknown revision 'no-such-branch'"):
        api.read("data/a.csv", rev="no-such-branch", repo=root)
    with pytest.raises(MlxError, match=r"'--output=x' is not a revision"):
        api.read("data/a.csv", rev="--output=x", repo=root)


def test_read_verifies_the_bytes(two_commits):
    digest = b3(V2)
    path = two_commits.object_path(digest)
    make_writable(path)
    path.write_text(V2.upper())

    with pytest.raises(IntegrityError, match=f"object {digest[7:19]} in the cache is corrupt"):
        api.read("data/a.csv", repo=two_commits.path)


def test_api_reports_are_the_cli_json(two_commits, mlx):
    report = api.status(repo=two_commits.path)

    cli = mlx("status", "--json").json
    as_dict = dataclasses.asdict(report)
    as_dict["is_clean"] = report.is_clean
    assert as_dict["paths"] == cli["paths"] == []
    assert as_dict["tracked"] == cli["tracked"] == 2


def test_api_add_checkout_gc_fsck(repo):
    root = repo.path
    repo.gen({"m.bin": "one\n"})

    added = api.add(["m.bin"], repo=root)
    (root / "m.bin").unlink()
    checked_out = api.checkout(repo=root)
    collected = api.gc(dry_run=True, repo=root)
    checked = api.fsck(repo=root)

    assert [p.change for p in added.paths] == ["added"]
    assert checked_out.placed == 1
    assert (root / "m.bin").read_text() == "one\n"
    assert collected.removed_objects == 0
    assert checked.is_clean
