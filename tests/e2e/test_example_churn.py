"""The churn example (examples/churn): run as plain scripts, its stages make exactly what mlx.yaml
declares, and a second run in another folder gives the same bytes -- what `mlx repro` relies on.

The scripts run with this interpreter (`python` in a stage's cmd is replaced by sys.executable),
each stage of the two runs side by side, with different hash seeds, in copies of the example.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "churn"
SOURCES = ["mlx.yaml", "params.yaml", "src"]  # what a project holds before anything runs
STAGES = yaml.safe_load((EXAMPLE / "mlx.yaml").read_text())["stages"]


def copy_example(dest: Path) -> Path:
    dest.mkdir(parents=True)
    for name in SOURCES:
        source = EXAMPLE / name
        if source.is_dir():
            shutil.copytree(source, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, dest / name)
    return dest


def declared_outputs(stage: dict) -> list[str]:
    """The paths of a stage's outs, metrics and plots (an entry with options is `{path: options}`)."""
    entries = stage.get("outs", []) + stage.get("metrics", []) + stage.get("plots", [])
    return [entry if isinstance(entry, str) else next(iter(entry)) for entry in entries]


def files_under(project: Path, relpath: str = ".") -> list[str]:
    """Every file below `relpath` (a file is its own list), as sorted project-relative paths."""
    top = project / relpath
    paths = [top] if top.is_file() else [p for p in top.rglob("*") if p.is_file()]
    return sorted(p.relative_to(project).as_posix() for p in paths)


def digests(project: Path) -> dict[str, str]:
    return {path: hashlib.sha256((project / path).read_bytes()).hexdigest() for path in files_under(project)}


def start_stage(project: Path, stage: dict, hash_seed: str) -> subprocess.Popen:
    argv = shlex.split(stage["cmd"])
    assert argv[0] == "python", stage["cmd"]
    return subprocess.Popen([sys.executable, *argv[1:]], cwd=project, env=dict(os.environ, PYTHONHASHSEED=hash_seed),
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def run_pipelines(projects: dict[Path, str]) -> dict[str, list[str]]:
    """Run every stage in mlx.yaml order in each project (hash seed as value), side by side.

    Returns, per stage, the deps that were missing when it started (in any project).
    """
    missing: dict[str, list[str]] = {}
    for name, stage in STAGES.items():
        missing[name] = sorted({dep for project in projects for dep in stage["deps"] if not (project / dep).exists()})
        running = [start_stage(project, stage, seed) for project, seed in projects.items()]
        for proc in running:
            out, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, f"stage {name} failed ({proc.returncode}):\n{out}{err}"
    return missing


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, list[str]]]:
    """The example run once in each of two folders: (first, second, missing deps per stage)."""
    base = tmp_path_factory.mktemp("churn")
    first, second = copy_example(base / "first"), copy_example(base / "second")
    missing = run_pipelines({first: "1", second: "2"})
    return first, second, missing


def test_each_stage_finds_its_deps_made_by_the_stages_before_it(runs):
    _, _, missing = runs

    assert missing == {name: [] for name in STAGES}


def test_stages_write_exactly_the_outputs_mlx_yaml_declares(runs):
    first, _, _ = runs
    declared = [path for stage in STAGES.values() for path in declared_outputs(stage)]

    for path in declared:
        assert files_under(first, path), f"{path} was declared but not written"
    written = set(files_under(first)) - {p for name in SOURCES for p in files_under(EXAMPLE, name)}
    assert written == {p for path in declared for p in files_under(first, path)}


def test_second_run_in_another_folder_is_byte_identical(runs):
    first, second, _ = runs

    assert digests(second) == digests(first)


def test_prepared_parquet_is_sorted_by_customer_and_has_no_pandas_metadata(runs):
    first, _, _ = runs

    assert files_under(first, "data/prepared") == ["data/prepared/test.parquet", "data/prepared/train.parquet"]
    for split in ("train", "test"):
        path = first / "data" / "prepared" / f"{split}.parquet"
        assert set(pq.read_metadata(path).metadata) == {b"ARROW:schema"}
        ids = pq.read_table(path, columns=["customer_id"]).column(0).to_pylist()
        assert ids == sorted(ids) and len(set(ids)) == len(ids)
    rows = [pq.read_metadata(first / "data" / "prepared" / f"{s}.parquet").num_rows for s in ("train", "test")]
    assert rows == [3000, 1000]  # params.yaml: 4000 customers, test_size 0.25


def test_metrics_json_has_sorted_keys_rounded_to_six_digits(runs):
    first, _, _ = runs
    text = (first / "metrics.json").read_text()
    metrics = json.loads(text)

    assert list(metrics) == ["accuracy", "f1", "precision", "recall", "roc_auc"]
    assert text == json.dumps(metrics, indent=2, sort_keys=True) + "\n"
    assert all(round(value, 6) == value and 0 <= value <= 1 for value in metrics.values())
    assert metrics["roc_auc"] > 0.85  # the model learned something (0.937651 with the committed params)


def test_plots_are_roc_points_and_one_confusion_row_per_customer(runs):
    first, _, _ = runs
    roc = (first / "plots" / "roc.csv").read_text().splitlines()
    confusion = [line.split(",") for line in (first / "plots" / "confusion.csv").read_text().splitlines()]

    assert roc[0] == "fpr,tpr,threshold"
    points = [tuple(map(float, line.split(","))) for line in roc[1:]]
    assert points[0][:2] == (0.0, 0.0) and points[-1][:2] == (1.0, 1.0)
    assert all(0 <= value <= 1 for point in points for value in point)
    assert confusion[0] == ["actual", "predicted"]
    assert len(confusion) == 1 + 1000
    assert {tuple(row) for row in confusion[1:]} == {(a, p) for a in ("stayed", "churned") for p in ("stayed", "churned")}


def test_train_reads_its_params_from_params_yaml(runs, tmp_path):
    first, _, _ = runs
    project = tmp_path / "changed"
    shutil.copytree(first, project)
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["train"]["n_estimators"] = 20
    (project / "params.yaml").write_text(yaml.safe_dump(params))

    proc = start_stage(project, STAGES["train"], "3")
    out, err = proc.communicate(timeout=120)

    assert proc.returncode == 0, err
    assert "train: 20 trees" in out
    changed, before = digests(project), digests(first)
    assert changed["models/model.joblib"] != before["models/model.joblib"]
    assert {k: v for k, v in changed.items() if k.startswith("data/")} == \
        {k: v for k, v in before.items() if k.startswith("data/")}
