"""The installed `mlx` end to end: the everyday loop, fresh clones, and nested repositories."""

from __future__ import annotations

import os
import subprocess

import pytest


def git(cwd, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True).stdout


def test_the_everyday_loop(repo, mlx):
    repo.gen({"data": {"raw": {"a.csv": "x,y\n1,2\n", "b.csv": "x,y\n3,4\n"}}, "model.bin": b"\x00\x01" * 1000})
    os.chmod(repo / "model.bin", 0o755)

    added = mlx("add", "data/raw", "model.bin")
    assert added.code == 0, added
    assert added.err == "next: git add data/raw.mlx model.bin.mlx data/.gitignore .gitignore\n"
    repo.git("add", "data/raw.mlx", "model.bin.mlx", "data/.gitignore", ".gitignore", ".mlx/config.yaml", ".mlx/.gitignore")
    repo.git("commit", "-q", "-m", "data")
    assert repo.git("status", "--porcelain") == ""  # tracked data is ignored; nothing else left over

    repo.gen({"data": {"raw": {"a.csv": "x,y\n1,2\n5,6\n"}}})
    assert mlx("status", "--exit-code").code == 1
    assert mlx("status").out.splitlines()[:2] == ["modified: data/raw", "    modified: data/raw/a.csv"]

    assert mlx("checkout").code == 15  # the edit is not in the cache
    assert mlx("add", "data/raw").code == 0
    repo.git("commit", "-qam", "more data")
    (repo / "model.bin").unlink()
    assert mlx("checkout").code == 0
    assert (repo / "model.bin").read_bytes() == b"\x00\x01" * 1000
    assert os.access(repo / "model.bin", os.X_OK)
    assert mlx("status", "--exit-code").code == 0

    gc = mlx("gc", "--json")
    assert (gc.code, gc.json["removed_objects"]) == (0, 2)  # the old a.csv and the old tree
    fsck = mlx("fsck", "--json")
    assert (fsck.code, fsck.json["problems"], fsck.json["garbage"]) == (0, [], [])


def test_fresh_clone_with_a_shared_cache(repo, mlx, tmp_path):
    repo.gen({"data": {"a.csv": "a\n"}})
    assert mlx("add", "data").code == 0
    repo.commit("data")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(repo.path), str(clone))

    assert mlx("status", cwd=clone).out == "missing, not in cache: data\n    2 objects not in the cache\n"
    assert mlx("config", "--local", "cache.dir", str(repo.cache), cwd=clone).code == 0
    assert mlx("checkout", cwd=clone).code == 0
    assert (clone / "data/a.csv").read_text() == "a\n"
    assert git(clone, "status", "--porcelain") == ""


@pytest.fixture
def nested(repo, mlx):
    """An mlx repository inside a subdirectory of another (its own git repository too)."""
    repo.gen({"outer.csv": "outer\n"})
    assert mlx("add", "outer.csv").code == 0
    inner = repo / "vendor" / "inner"
    inner.mkdir(parents=True)
    git(inner, "init", "-q")
    assert mlx("init", cwd=inner).code == 0
    (inner / "data").mkdir()
    (inner / "data" / "in.csv").write_text("inner\n")
    assert mlx("add", "data", cwd=inner).code == 0
    return repo, inner


def test_outer_status_does_not_descend_into_a_nested_repository(nested, mlx):
    outer, inner = nested
    (inner / "data" / "in.csv").write_text("changed in the inner repository\n")
    (inner / "broken.mlx").write_text("format: [\n")  # the inner repository's business

    outer_status = mlx("status", "--json", cwd=outer.path)
    inner_status = mlx("status", "--exit-code", cwd=inner)

    assert outer_status.code == 0, outer_status
    assert outer_status.json["tracked"] == 1
    assert outer_status.json["is_clean"] is True
    assert inner_status.code == 12  # its own broken pointer, reported by its own status


def test_outer_gc_ignores_a_nested_repository(nested, mlx):
    outer, inner = nested
    inner_objects = sorted(p.name for p in (inner / ".mlx/cache/objects").rglob("*") if p.is_file())

    gc = mlx("gc", "--json", cwd=outer.path)

    assert gc.code == 0, gc
    assert gc.json["roots"] == 1
    assert sorted(p.name for p in (inner / ".mlx/cache/objects").rglob("*") if p.is_file()) == inner_objects


def test_commands_in_a_nested_repository_use_its_own_cache(nested, mlx):
    outer, inner = nested
    (inner / "data" / "in.csv").unlink()

    assert mlx("checkout", cwd=inner / "data").code == 0

    assert (inner / "data" / "in.csv").read_text() == "inner\n"
    assert len(outer.objects()) == 1  # the outer cache holds only outer.csv
