"""The churn example end to end through `mlx`: a run pins every output in mlx.lock, `repro --verify`
reproduces them byte for byte, a changed param reruns only what reads it, and `repro --frozen`
passes on a fresh clone that holds no data."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import yaml

from .test_example_churn import EXAMPLE, SOURCES


def test_churn_pipeline_runs_verifies_and_checks_on_a_clone(repo, mlx, monkeypatch, tmp_path):
    # `python` in the stages' commands is this interpreter, which has pandas and scikit-learn.
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    for name in SOURCES:
        source = EXAMPLE / name
        copy = shutil.copytree if source.is_dir() else shutil.copy2
        copy(source, repo / name)
    repo.commit("the churn project")

    first = mlx("run")
    assert first.code == 0, first
    locked = yaml.safe_load((repo / "mlx.lock").read_text())["stages"]
    assert sorted(locked) == ["evaluate", "prepare", "train"]
    assert [out["path"] for out in locked["evaluate"]["outs"]] == ["metrics.json", "plots/confusion.csv", "plots/roc.csv"]
    assert locked["train"]["params"]["params.yaml"]["train"]["n_estimators"] == 100

    verify = mlx("repro", "--verify")
    assert verify.code == 0, verify

    repo.commit("first run")
    changed = mlx("run", "-S", "train.n_estimators=20")
    assert changed.code == 0, changed
    assert "running 'prepare'" not in changed.out
    assert "running 'train': param 'train.n_estimators' changed (100 -> 20)" in changed.out
    assert mlx("repro", "--frozen").code == 0
    repo.commit("20 trees")

    clone = tmp_path / "clone"
    repo.git("clone", "-q", str(repo.path), str(clone))
    assert not (clone / "models" / "model.joblib").exists()
    frozen = mlx("repro", "--frozen", cwd=clone)
    assert (frozen.code, frozen.out) == (0, "mlx.lock is up to date (3 stages).\n"), frozen
