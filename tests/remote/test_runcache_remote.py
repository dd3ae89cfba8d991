"""The run cache on a remote (`--run-cache`) and `mlx repro --pull`, through the real executable."""

from __future__ import annotations

import pytest

from tests.conftest import Repo, clone
from tests.remote_fixtures import configure

PIPELINE = """\
stages:
  head:
    cmd: head -n ${n} raw.txt > out.txt && echo ran >> runs.log
    deps: [raw.txt]
    params: [n]
    outs: [out.txt]
"""


@pytest.fixture
def project(repo: Repo, mlx, remote_url):
    repo.gen({"params.yaml": "n: 2\n", "raw.txt": "a\nb\nc\nd\n", "mlx.yaml": PIPELINE, ".gitignore": "runs.log\n"}, old=True)
    assert mlx("add", "raw.txt").code == 0
    assert mlx("run").code == 0
    assert mlx("run", "-S", "n=3").code == 0  # the run cache now knows n=2 and n=3
    configure(mlx, repo.path, remote_url)
    repo.commit("n=3")
    return repo


def test_the_run_cache_travels_and_restores_a_run_seen_elsewhere(project, mlx, tmp_path):
    pushed = mlx("push", "--run-cache")
    assert pushed.code == 0, pushed
    assert "run-cache entries pushed: 2" in pushed.err

    copy = clone(project, tmp_path)
    pulled = mlx("pull", "--run-cache", cwd=copy.path)
    assert pulled.code == 0, pulled
    assert (copy / "out.txt").read_text() == "a\nb\nc\n"

    restored = mlx("run", "-S", "n=2", cwd=copy.path)
    assert restored.code == 0, restored
    assert "restored from the run cache" in restored.out + restored.err
    assert (copy / "out.txt").read_text() == "a\nb\n"
    assert not (copy / "runs.log").exists()  # the command never ran in the clone


def test_a_second_push_of_the_run_cache_sends_no_entry(project, mlx):
    assert mlx("push", "--run-cache").code == 0
    again = mlx("push", "--run-cache")
    assert "run-cache entries pushed: 0" in again.err


def test_repro_pull_restores_recorded_outputs_instead_of_running(project, mlx, tmp_path):
    assert mlx("push").code == 0
    copy = clone(project, tmp_path)

    result = mlx("repro", "--pull", cwd=copy.path)

    assert result.code == 0, result
    assert "pulled 2 objects from 'origin'" in result.err
    assert result.out == "Everything is up to date (1 stage).\n"
    assert (copy / "out.txt").read_text() == "a\nb\nc\n"
    assert not (copy / "runs.log").exists()
    assert mlx("repro", "--frozen", cwd=copy.path).code == 0


def test_repro_pull_says_what_the_remote_lacks_and_runs_what_it_can(project, mlx, tmp_path):
    copy = clone(project, tmp_path)  # nothing was pushed
    result = mlx("repro", "--pull", cwd=copy.path)
    assert "pulled 0 objects from 'origin' (0 B); not there: out.txt, raw.txt" in result.err
    assert result.code == 31, result  # raw.txt, a tracked dependency, is nowhere: the stage cannot run
    assert "dep 'raw.txt' of stage 'head' is tracked but not in the workspace" in result.out


def test_repro_frozen_refuses_pull(project, mlx):
    mlx("repro", "--frozen", "--pull").expect_error(2, "--frozen runs nothing, so --pull has no meaning with it")


def test_an_entry_whose_outputs_cannot_be_pushed_stays_behind(project, mlx):
    from blake3 import blake3

    gone = project.object_path(blake3(b"a\nb\n").hexdigest())  # n=2's output, only in the run cache
    gone.unlink()

    pushed = mlx("push", "--run-cache")

    assert pushed.code == 20, pushed
    assert "run-cache entries pushed: 1" in pushed.err
    assert any(line.startswith("warning: 'run-cache entry ") for line in pushed.err_lines)
