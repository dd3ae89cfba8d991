"""mlx repro: --frozen checks the committed lockfile (even on a clone without data), --verify re-runs."""

from __future__ import annotations

import pytest

from ._helpers import git

PIPELINE = """\
stages:
  prepare:
    cmd: cp data/raw.txt prepared.txt
    deps: [data/raw.txt]
    outs: [prepared.txt]
  train:
    cmd: cat prepared.txt params.yaml > model.txt
    deps: [prepared.txt]
    params: [seed]
    outs: [model.txt]
"""


@pytest.fixture
def project(repo, mlx):
    repo.gen({"mlx.yaml": PIPELINE, "params.yaml": "seed: 1\n", "data": {"raw.txt": "raw\n"}}, old=True)
    assert mlx("add", "data/raw.txt").code == 0
    assert mlx("run").code == 0
    repo.commit("pipeline")
    return repo


def test_frozen_passes_when_the_lockfile_describes_the_workspace(project, mlx):
    result = mlx("repro", "--frozen")

    assert (result.code, result.out) == (0, "mlx.lock is up to date (2 stages).\n"), result


def test_frozen_fails_and_names_the_stale_stage_and_why(project, mlx):
    project.gen({"params.yaml": "seed: 2\n"})

    result = mlx("repro", "--frozen")

    assert result.code == 1
    assert result.out == "stale: 'train': param 'seed' changed (1 -> 2)\n"
    assert not (project / "model.txt").read_text().endswith("seed: 2\n")  # nothing ran


def test_frozen_works_on_a_fresh_clone_without_any_data(project, mlx, tmp_path):
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(project.path), str(clone))
    assert not (clone / "data" / "raw.txt").exists() and not (clone / "model.txt").exists()

    result = mlx("repro", "--frozen", cwd=clone)

    assert result.code == 0, result


def test_frozen_on_a_clone_notices_a_changed_command(project, mlx, tmp_path):
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(project.path), str(clone))
    text = (clone / "mlx.yaml").read_text().replace("cat prepared.txt", "cat  prepared.txt")
    (clone / "mlx.yaml").write_text(text)

    result = mlx("repro", "--frozen", "--json", cwd=clone)

    assert result.code == 1
    assert [(s["name"], s["reasons"]) for s in result.json["stages"] if s["state"] == "stale"] == [("train", ["command changed"])]


def test_frozen_reports_lock_entries_of_stages_that_no_longer_exist(project, mlx):
    project.gen({"mlx.yaml": PIPELINE.split("  train:")[0]})

    result = mlx("repro", "--frozen")

    assert result.code == 1
    assert "stale: mlx.lock has an entry for 'train', which mlx.yaml does not define" in result.out


def test_verify_passes_for_a_deterministic_pipeline(project, mlx):
    result = mlx("repro", "--verify")

    assert result.code == 0, result


def test_verify_reports_outputs_that_differ(repo, mlx):
    repo.gen({"mlx.yaml": "stages:\n  noisy:\n    cmd: od -An -N8 -tx8 /dev/urandom > out.txt\n    outs: [out.txt]\n"})
    assert mlx("run").code == 0
    before = (repo / "mlx.lock").read_bytes()

    result = mlx("repro", "--verify")

    assert result.code == 1
    assert "not reproducible: stage 'noisy': 'out.txt' differs from mlx.lock" in result.out
    assert (repo / "mlx.lock").read_bytes() == before  # a check: the lockfile is left as it was


def test_repro_prints_plain_timestamped_lines_when_not_a_terminal(project, mlx):
    project.gen({"params.yaml": "seed: 3\n"})

    result = mlx("repro")

    assert result.code == 0, result
    lines = result.out.splitlines()
    assert any(line[9:] == "running 'train': param 'seed' changed (1 -> 3)" for line in lines), result
    assert lines[0][2] == ":" and lines[0][5] == ":"


def test_run_refuses_a_stage_whose_tracked_dep_is_not_checked_out(project, mlx, tmp_path):
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(project.path), str(clone))
    (clone / "params.yaml").write_text("seed: 5\n")  # train is stale; prepare is not
    (clone / "mlx.yaml").write_text(PIPELINE.replace("cp data/raw.txt", "cat data/raw.txt >"))  # prepare is stale too
    before = (clone / "mlx.lock").read_text()

    result = mlx("run", cwd=clone)

    assert result.code == 31
    assert "'prepare' failed: dep 'data/raw.txt' of stage 'prepare' is tracked but not in the workspace" in result.err
    assert "(run 'mlx checkout data/raw.txt' (or 'mlx pull') first)" in result.err
    assert (clone / "mlx.lock").read_text() == before


def test_frozen_refuses_options_that_would_run_something(project, mlx):
    mlx("repro", "--frozen", "--verify").expect_error(2, "--frozen runs nothing, so --verify has no meaning with it")
