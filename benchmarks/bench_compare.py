#!/usr/bin/env python3
"""Time mlx against DVC reading metrics and params at git revisions: 100 commits of one experiment.

    python benchmarks/bench_compare.py [--runs N] [--commits N] [--rebuild] [--out results.json] [--mlx PATH]

Standard library only. Process timing, medians and the DVC install come from bench_store.py (see
benchmarks/README.md for how they measure). Each tool gets its own git repository under
benchmarks/.work/compare/ holding the same project: one stage, `python3 train.py`, that reads
params.yaml and writes metrics.json (10 metrics, some nested), kept in git (`cache: false` for DVC,
mlx's default for metrics). Each of the 100 commits changes params.yaml (drawn with a fixed seed),
runs the stage with the tool (`mlx run`, `dvc repro`), which rewrites metrics.json and the lockfile,
and commits all of it. The repositories are built once and reused while their parameters match
(`--rebuild` builds them again): building DVC's takes a couple of minutes.

- `metrics show -A`: the metrics of the workspace and of every commit (target: mlx under 2 s).
- `params diff`: `params diff HEAD~99 HEAD`, every param of params.yaml changed.
- `metrics diff`: `metrics diff HEAD~99`, the first commit against the workspace.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import random
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from bench_store import (
    DEFAULT_MLX,
    DVC_PIN,
    SESSION,
    WORK,
    SetupError,
    cell,
    check,
    ensure_dvc,
    fmt_ratio,
    measure,
    mlx_version,
    ratio,
    row_notes,
    source_rev,
)

COMPARE = WORK / "compare"
SEED = 6
GIT = ["git", "-c", "user.name=bench", "-c", "user.email=bench@localhost"]
SHOW_LIMIT_S = 2.0

# The stage's command: params.yaml (two levels, as written below) in, metrics.json out.
TRAIN_PY = '''\
import json, random
params, section = {}, None
for line in open("params.yaml"):
    if not line.startswith(" "):
        section = line.split(":")[0]
    else:
        key, value = line.strip().split(": ")
        params[f"{section}.{key}"] = float(value)
rng = random.Random(json.dumps(params, sort_keys=True))
acc = min(0.99, 0.5 + params["train.lr"] * 3 + rng.random() * 0.1)
metrics = {
    "acc": acc, "loss": 1 - acc + rng.random() * 0.05, "precision": rng.random(), "recall": rng.random(),
    "f1": rng.random(), "auc": rng.random(), "epochs_run": int(params["train.epochs"]),
    "train": {"loss": rng.random(), "seconds": rng.random() * 100},
    "eval": {"loss": rng.random()},
}
json.dump(metrics, open("metrics.json", "w"), indent=2)
'''
PIPELINE = """\
stages:
  train:
    cmd: python3 train.py
    deps: [train.py]
    params: [train, model]
    metrics:
      - metrics.json:
          cache: false
"""


def params_yaml(rng: random.Random) -> str:
    train = {"lr": round(rng.uniform(0.001, 0.1), 5), "epochs": rng.randint(1, 50), "batch": rng.choice([16, 32, 64]),
             "seed": rng.randint(0, 10**6)}
    model = {"depth": rng.randint(2, 12), "width": rng.choice([64, 128, 256]), "dropout": round(rng.random() / 2, 4)}
    return "".join(f"{name}:\n" + "".join(f"  {k}: {v}\n" for k, v in values.items())
                   for name, values in (("train", train), ("model", model)))


# ---------------------------------------------------------------- tools
@dataclass(frozen=True)
class Tool:
    name: str
    exe: str
    env: dict
    init: list[list[str]]
    spec: str  # the pipeline file's name
    run: list[str]  # what runs the stage

    def argv(self, *args: str) -> list[str]:
        return [self.exe, *args]


def make_tools(mlx_exe: str | None, dvc_exe: str) -> list[Tool]:
    dvc_env = dict(os.environ, DVC_NO_ANALYTICS="1", DVC_SITE_CACHE_DIR=str(COMPARE / "dvc-site-cache"),
                   DVC_GLOBAL_CONFIG_DIR=str(COMPARE / "dvc-global"))
    tools = [Tool("dvc", dvc_exe, dvc_env, [["init", "-q"], ["config", "core.autostage", "false"],
                                            ["config", "core.check_update", "false"]], "dvc.yaml", ["repro"])]
    if mlx_exe:
        tools.insert(0, Tool("mlx", mlx_exe, os.environ.copy(), [["init"]], "mlx.yaml", ["run"]))
    return tools


def build(tool: Tool, commits: int, rebuild: bool) -> Path:
    """Untimed: a git repository with `commits` commits, each a new params.yaml and the stage's results."""
    repo = COMPARE / tool.name
    marker, wanted = repo / ".git" / "bench-compare.json", {"commits": commits, "seed": SEED, "spec": PIPELINE + TRAIN_PY}
    if not rebuild and marker.exists() and json.loads(marker.read_text()) == wanted:
        return repo
    if repo.exists():
        subprocess.run(["chmod", "-R", "u+w", str(repo)], check=True)
        shutil.rmtree(repo)
    repo.mkdir(parents=True)
    check(["git", "init", "-q"], repo)
    for args in tool.init:
        check(tool.argv(*args), repo, tool.env)
    (repo / "train.py").write_text(TRAIN_PY)
    (repo / tool.spec).write_text(PIPELINE)
    rng = random.Random(SEED)
    for i in range(commits):
        (repo / "params.yaml").write_text(params_yaml(rng))
        check(tool.argv(*tool.run), repo, tool.env)
        check([*GIT, "add", "-A"], repo)
        check([*GIT, "commit", "-q", "-m", f"experiment {i + 1}"], repo)
    marker.write_text(json.dumps(wanted))
    return repo


def ops(commits: int) -> dict[str, list[str]]:
    """Row -> arguments, the same for both tools."""
    first = f"HEAD~{commits - 1}"
    return {"metrics show -A": ["metrics", "show", "--all-commits"], "params diff": ["params", "diff", first, "HEAD"],
            "metrics diff": ["metrics", "diff", first]}


def check_show(tool: Tool, repo: Path, commits: int) -> None:
    """The numbers mean something only if every commit's metrics were read: count them."""
    out = subprocess.run(tool.argv("metrics", "show", "--all-commits", "--json"), cwd=repo, env=tool.env,
                         capture_output=True, text=True, check=True).stdout
    data = json.loads(out)
    if tool.name == "mlx":
        read = sum(bool(revision["files"]) and not revision["problems"] for revision in data["revisions"])
    else:
        read = sum(bool(value.get("data")) and "error" not in value for value in data.values())
    if read != commits + 1:  # the workspace too
        raise SetupError(f"{tool.name} metrics show -A read metrics at {read} revisions, expected {commits + 1}")


def bench_tool(tool: Tool, runs: int, commits: int, rebuild: bool) -> dict:
    try:
        repo = build(tool, commits, rebuild)
        check_show(tool, repo, commits)
    except (SetupError, OSError, subprocess.CalledProcessError, ValueError) as e:
        return {op: {"failed": f"set-up: {e}"} for op in ops(commits)}
    return {op: measure(tool.argv(*args), lambda: repo, runs, tool.env, warmup=True) for op, args in ops(commits).items()}


# ---------------------------------------------------------------- report
def targets(res: dict) -> list[tuple[str, str, str, bool | None]]:
    mlx = res["tools"].get("mlx")
    if mlx is None:
        return []
    show = mlx["metrics show -A"]
    met = show["median"] < SHOW_LIMIT_S if "median" in show else None
    return [(f"metrics show, {res['commits']} commits", f"< {SHOW_LIMIT_S:g} s", cell(show) + (" s" if "median" in show else ""), met)]


def render(res: dict) -> str:
    mlx, dvc, runs = res["tools"].get("mlx"), res["tools"].get("dvc"), res["runs"]
    title = f"== compare: {res['commits']} commits" + (f"  [mlx {res['mlx_rev']}]" if res.get("mlx_rev") else "")
    lines = [f"{title}  (median of {runs} runs after a warm-up; whole processes, spawn to exit)",
             f"{'operation':<18} {'mlx s':>8} {'mlx MiB':>8} {'dvc s':>8} {'dvc MiB':>8} {'dvc/mlx':>8}"]
    notes = []
    for op in ops(res["commits"]):
        m, d = (mlx.get(op) if mlx else None), (dvc.get(op) if dvc else None)
        lines.append(f"{op:<18} {cell(m):>8} {cell(m, 'peak_rss_mib', '{:.0f}'):>8} {cell(d):>8} "
                     f"{cell(d, 'peak_rss_mib', '{:.0f}'):>8} {fmt_ratio(ratio(m, d)):>8}")
        notes += row_notes(op, "mlx", m, runs) + row_notes(op, "dvc", d, runs)
    verdicts = {True: "MET", False: "MISSED", None: "n/a"}
    lines += [f"  target {what}: {target} -> {measured}: {verdicts[met]}" for what, target, measured, met in targets(res)]
    return "\n".join(lines + notes)


# ---------------------------------------------------------------- main
def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=5, help="timed runs per operation after a warm-up (default 5)")
    p.add_argument("--commits", type=int, default=100, help="commits in each repository (default 100)")
    p.add_argument("--rebuild", action="store_true", help="build the repositories again even if they match")
    p.add_argument("--out", type=Path, help="write every raw timing to this JSON file")
    p.add_argument("--mlx", default=str(DEFAULT_MLX), help="mlx executable")
    return p.parse_args()


def main() -> int:
    args = parse_args()
    if args.commits < 2:
        sys.exit("--commits must be at least 2")
    SESSION.mkdir(parents=True, exist_ok=True)  # where bench_store's spawn() keeps a run's output
    COMPARE.mkdir(parents=True, exist_ok=True)
    mlx_exe = str(Path(args.mlx).absolute())
    dvc_exe, mlx_ver = ensure_dvc(), mlx_version(mlx_exe)
    tools = make_tools(mlx_exe if mlx_ver else None, dvc_exe)
    print(f"mlx: {mlx_ver or f'not available ({mlx_exe})'}; dvc: {DVC_PIN}; {os.cpu_count()} cores", flush=True)
    res = {"commits": args.commits, "runs": args.runs, "tools": {}}
    for tool in tools:
        if tool.name == "mlx":
            res["mlx_rev"] = source_rev(tool.exe)
        print(f"  {tool.name} ...", flush=True)
        res["tools"][tool.name] = bench_tool(tool, args.runs, args.commits, args.rebuild)
    print("\n" + render(res), flush=True)
    if args.out:
        meta = {"date": datetime.datetime.now().isoformat(timespec="seconds"), "runs": args.runs, "mlx": mlx_ver,
                "dvc": DVC_PIN, "cores": os.cpu_count(), "targets": targets(res)}
        args.out.write_text(json.dumps({"meta": meta, **res}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
