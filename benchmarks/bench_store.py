#!/usr/bin/env python3
"""Time mlx against DVC and filesystem floors on the data store's hot paths.

    python benchmarks/bench_store.py [--quick] [--only small,medium,large,startup]
                                     [--runs N] [--out results.json] [--mlx PATH]

Standard library only. How to read the output: benchmarks/README.md.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
WORK = HERE / ".work"
TRASH = WORK / "trash"
SESSION = WORK / "session"
STAMP = WORK / "last-mass-delete"
DVC_VENV = HERE / ".venv-dvc"
DVC_PIN = "3.67.1"
DEFAULT_MLX = HERE.parent / ".venv" / "bin" / "mlx"
KIB, MIB, GIB = 1 << 10, 1 << 20, 1 << 30
SETTLE_S = 61          # ext4 here does not reuse freed inodes for ~60 s (see README)
MASS_DELETE = 5_000    # deleting more entries than this makes the next creations slow
OPS = ["add", "add again", "status", "status changed",
       "checkout copy", "checkout hardlink", "gc"]
FLOOR_OF = {"add": "cp -r", "status": "git status",
            "checkout copy": "cp -r", "checkout hardlink": "cp -al"}


# ---------------------------------------------------------------- datasets
@dataclass(frozen=True)
class Dataset:
    name: str
    files: int
    dirs: int
    min_size: int
    max_size: int

    @property
    def root(self) -> Path:
        return WORK / "datasets" / f"{self.name}-{self.files}"

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def edit_path(self) -> str:
        return file_path(self, 0)

    def total_bytes(self) -> int:
        return self.files * (self.min_size + self.max_size) // 2

    def disk_bytes(self) -> int:  # allocated in 4 KiB blocks, plus the inode
        return self.files * (((self.min_size + self.max_size) // 2 + 2 * 4096) // 4096 * 4096)

    def describe(self) -> str:
        size = (f"{self.min_size // KIB}-{self.max_size // KIB} KiB" if self.min_size != self.max_size
                else f"{self.max_size / MIB:g} MiB")
        return f"{self.files:,} file(s) x {size} in {self.dirs} folder(s), {self.total_bytes() / 1e9:.2f} GB"


def make_datasets(quick: bool) -> dict[str, Dataset]:
    return {
        "small": Dataset("small", 10_000 if quick else 100_000, 10 if quick else 100, KIB, 8 * KIB),
        "medium": Dataset("medium", 200 if quick else 2_000, 1, 256 * KIB, 256 * KIB),
        "large": Dataset("large", 1, 1, *(2 * [128 * MIB if quick else GIB])),
    }


def file_path(ds: Dataset, i: int) -> str:
    if ds.files == 1:
        return "large.bin"
    folder = f"dir_{i % ds.dirs:03d}/" if ds.dirs > 1 else ""
    return f"{folder}file_{i:06d}.bin"


def write_random(path: Path, size: int, rng: random.Random) -> None:
    with open(path, "wb") as f:
        for start in range(0, size, 8 * MIB):
            f.write(rng.randbytes(min(8 * MIB, size - start)))


def ensure_dataset(ds: Dataset, trash: "Trash") -> None:
    marker = ds.root / "params.json"
    if marker.exists() and json.loads(marker.read_text()) == asdict(ds):
        return
    if ds.root.exists():
        trash.discard(ds.root)
    print(f"generating {ds.name}: {ds.describe()} ...", flush=True)
    rng = random.Random(0)
    for i in range(ds.files):
        path = ds.data / file_path(ds, i)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_random(path, rng.randint(ds.min_size, ds.max_size), rng)
    marker.write_text(json.dumps(asdict(ds)))


# ------------------------------------------------- trash (never rm between runs)
class Trash:
    """Big trees are renamed in here and deleted only when no timing is under way."""

    def __init__(self) -> None:
        TRASH.mkdir(parents=True, exist_ok=True)
        self.n = 0

    def discard(self, path: Path) -> None:
        self.n += 1
        os.rename(path, TRASH / f"{os.getpid()}-{time.time_ns()}-{self.n}")

    def empty(self) -> None:
        entries = sum(len(d) + len(f) for _, d, f in os.walk(TRASH))
        if not entries:
            return
        print(f"emptying trash ({entries:,} entries) ...", flush=True)
        subprocess.run(["rm", "-rf", str(TRASH)], check=True)
        TRASH.mkdir()
        if entries > MASS_DELETE:
            STAMP.write_text(str(time.time()))


def settle() -> None:
    """Wait until a mass delete is SETTLE_S old, so freed inodes do not slow creations."""
    if not STAMP.exists():
        return
    wait = float(STAMP.read_text()) + SETTLE_S - time.time()
    if wait > 0:
        print(f"  waiting {wait:.0f} s after a mass delete (inodes settle) ...", flush=True)
        time.sleep(wait)


# ---------------------------------------------------------------- processes
class SetupError(Exception):
    pass


@dataclass
class Sample:
    seconds: float
    rss_kib: int
    rc: int
    err: str


def last_line(*paths: Path) -> str:
    for path in paths:
        lines = [ln.strip() for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
        if lines:
            return lines[-1][:160]
    return ""


def spawn(argv: list[str], cwd: Path, env: dict) -> Sample:
    """Run one process; wall time from spawn to exit, peak RSS from wait4."""
    out, err = SESSION / "last.stdout", SESSION / "last.stderr"
    with open(out, "wb") as fo, open(err, "wb") as fe:
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=fo, stderr=fe)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - t0
    proc.returncode = rc = os.waitstatus_to_exitcode(status)
    message = (last_line(err, out) or f"exit code {rc}") if rc else ""
    return Sample(seconds, usage.ru_maxrss, rc, message)


def check(argv: list[str], cwd: Path, env: dict | None = None) -> None:
    """Untimed set-up step; raises SetupError with the last stderr line."""
    s = spawn(argv, cwd, env or os.environ.copy())
    if s.rc:
        raise SetupError(f"{' '.join(map(str, argv[:3]))}: {s.err}")


def measure(argv, prepare, runs: int, env: dict, warmup: bool, creates: bool = False) -> dict:
    """Median of `runs` timed runs; prepare() (untimed) returns the cwd of each run."""
    if creates:
        settle()
    try:
        if warmup:
            s = spawn(argv, prepare(), env)
            if s.rc:
                return {"failed": s.err}
        samples = []
        for _ in range(runs):
            s = spawn(argv, prepare(), env)
            if s.rc:
                return {"failed": s.err}
            samples.append(s)
    except (SetupError, OSError) as e:
        return {"failed": f"set-up: {e}"}
    times = [s.seconds for s in samples]
    return {"median": statistics.median(times), "times": times, "runs": len(times),
            "rss_kib": [s.rss_kib for s in samples],
            "peak_rss_mib": max(s.rss_kib for s in samples) / 1024}


# ---------------------------------------------------------------- tools
@dataclass
class Tool:
    name: str
    exe: str
    env: dict
    init: list[list[str]]
    gc: list[str]

    def argv(self, *args: str) -> list[str]:
        return [self.exe, *args]


def ensure_dvc() -> str:
    exe = DVC_VENV / "bin" / "dvc"
    if exe.exists() and spawn([str(exe), "--version"], HERE, os.environ.copy()).rc == 0:
        version = subprocess.run([exe, "--version"], capture_output=True, text=True).stdout.strip()
        if version == DVC_PIN:
            return str(exe)
    print(f"installing dvc=={DVC_PIN} into {DVC_VENV} ...", flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(DVC_VENV)], check=True)
    subprocess.run([str(DVC_VENV / "bin" / "pip"), "install", "-q", f"dvc=={DVC_PIN}"], check=True)
    return str(exe)


def mlx_version(exe: str) -> str | None:
    if not os.access(exe, os.X_OK):
        return None
    r = subprocess.run([exe, "--version"], capture_output=True, text=True)
    return r.stdout.strip() or "?" if r.returncode == 0 else None


def make_tools(mlx_exe: str | None, dvc_exe: str) -> list[Tool]:
    dvc_env = dict(os.environ, DVC_NO_ANALYTICS="1", DVC_SITE_CACHE_DIR=str(SESSION / "dvc-site-cache"),
                   DVC_GLOBAL_CONFIG_DIR=str(SESSION / "dvc-global"))
    tools = [Tool("dvc", dvc_exe, dvc_env,
                  [["init", "-q"], ["config", "core.autostage", "false"],
                   ["config", "core.check_update", "false"]], ["gc", "-w", "-f"])]
    if mlx_exe:
        tools.insert(0, Tool("mlx", mlx_exe, os.environ.copy(), [["init"]], ["gc"]))
    return tools


# ---------------------------------------------------------------- one tool, one dataset
class Bench:
    def __init__(self, runs: int, trash: Trash) -> None:
        self.default_runs, self.trash, self.n = runs, trash, 0

    def runs(self, ds: Dataset) -> int:
        return min(self.default_runs, 3) if ds.name == "large" else self.default_runs

    def new_dir(self, *parts: str) -> Path:
        self.n += 1
        path = SESSION.joinpath(*parts[:-1], f"{parts[-1]}-{self.n}")
        path.mkdir(parents=True)
        return path

    def new_repo(self, tool: Tool, ds: Dataset) -> Path:
        repo = self.new_dir("repos", ds.name, tool.name)
        check(["git", "init", "-q"], repo)
        for args in tool.init + [["config", "cache.type", "copy"]]:
            check(tool.argv(*args), repo, tool.env)
        check(["cp", "-r", str(ds.data), "data"], repo)
        return repo

    def edit(self, ds: Dataset, repo: Path) -> Path:
        """Change one file's content, keeping its size, so the tool must re-hash it."""
        path = repo / "data" / ds.edit_path
        rng = random.Random(self.n)
        self.n += 1
        if path.stat().st_nlink > 1:  # never write through a link into a cache
            tmp = path.with_name(path.name + ".tmp")
            shutil.copyfile(path, tmp)
            os.replace(tmp, path)
        path.chmod(path.stat().st_mode | 0o200)
        size = path.stat().st_size
        n = min(4096, size) if ds.files == 1 else size  # large: last 4 KiB; others: all
        with open(path, "r+b") as f:
            f.seek(size - n)
            f.write(rng.randbytes(n))
        return repo

    def move_aside(self, repo: Path) -> Path:
        if (repo / "data").exists():
            self.trash.discard(repo / "data")
        return repo

    def tool_ops(self, tool: Tool, ds: Dataset) -> dict:
        runs, box = self.runs(ds), {}

        def fresh() -> Path:
            if "repo" in box:
                self.trash.discard(box["repo"])
            box["repo"] = self.new_repo(tool, ds)
            return box["repo"]

        def repo() -> Path:
            return box["repo"]

        add, status, checkout = tool.argv("add", "data"), tool.argv("status"), tool.argv("checkout")
        res = {"add": measure(add, fresh, runs, tool.env, warmup=False, creates=True)}
        if "failed" in res["add"] or "repo" not in box:
            return res | {op: {"failed": "skipped: add failed"} for op in OPS[1:]}
        res["add again"] = measure(add, repo, runs, tool.env, warmup=True)
        res["status"] = measure(status, repo, runs, tool.env, warmup=True)
        res["status changed"] = measure(status, lambda: self.edit(ds, repo()), runs, tool.env, warmup=True)
        for mode in ("copy", "hardlink"):
            try:
                check(tool.argv("config", "cache.type", mode), repo(), tool.env)
            except SetupError as e:
                res[f"checkout {mode}"] = {"failed": f"set-up: {e}"}
                continue
            res[f"checkout {mode}"] = measure(checkout, lambda: self.move_aside(repo()), runs,
                                              tool.env, warmup=False, creates=True)
        res["gc"] = measure(tool.argv(*tool.gc), repo, runs, tool.env, warmup=True)
        return res

    def floors(self, ds: Dataset) -> dict:
        runs, env, last = self.runs(ds), os.environ.copy(), {}

        def fresh(kind: str) -> Path:
            last[kind] = self.new_dir("floors", ds.name, kind)
            return last[kind]

        src = str(ds.data)
        res = {"cp -r": measure(["cp", "-r", src, "data"], lambda: fresh("cp"), runs, env, False, True),
               "cp -al": measure(["cp", "-al", src, "data"], lambda: fresh("ln"), runs, env, False, True)}
        try:
            git = self.git_repo(last["cp"])
            res["git status"] = measure(["git", "status", "--porcelain"], lambda: git, runs, env, True)
        except (SetupError, KeyError) as e:
            res["git status"] = {"failed": f"set-up: {e}"}
        return res

    @staticmethod
    def git_repo(path: Path) -> Path:
        """Untimed: commit a copy of the tree (no compression: faster, same status cost)."""
        quiet = ["-c", "core.looseCompression=0", "-c", "pack.compression=0",
                 "-c", "user.name=bench", "-c", "user.email=bench@localhost"]
        check(["git", "init", "-q"], path)
        check(["git", *quiet, "add", "-A"], path)
        check(["git", *quiet, "commit", "-q", "-m", "tree"], path)
        return path


# ---------------------------------------------------------------- report
def cell(r: dict | None, key: str = "median", fmt: str = "{:.3f}") -> str:
    if r is None:
        return "n/a"
    if "failed" in r:
        return "FAILED"
    return fmt.format(r[key])


def ratio(a: dict | None, b: dict | None) -> float | None:
    if a and b and "median" in a and "median" in b and a["median"] > 0:
        return b["median"] / a["median"]
    return None


def fmt_ratio(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}x"


def targets(name: str, res: dict) -> list[tuple[str, str, str, bool | None]]:
    """(operation, target, measured, met) for mlx on this dataset."""
    mlx, floors, out = res["tools"].get("mlx"), res["floors"], []
    if mlx is None:
        return out
    if name == "small":
        for op, limit in (("add", 1.3), ("status", 2.0), ("checkout copy", 1.5), ("checkout hardlink", 2.0)):
            x = ratio(floors.get(FLOOR_OF[op]), mlx.get(op))
            out.append((op, f"<= {limit}x {FLOOR_OF[op]}", fmt_ratio(x), None if x is None else x <= limit))
        again = mlx.get("add again", {}).get("median")
        out.append(("add again", "< 0.5 s", cell(mlx.get("add again")), None if again is None else again < 0.5))
        rss = [r["peak_rss_mib"] for r in mlx.values() if "peak_rss_mib" in r]
        out.append(("all", "peak RSS <= 200 MiB", f"{max(rss):.0f} MiB" if rss else "n/a",
                    max(rss) <= 200 if rss else None))
    if name == "large":
        for op, limit in (("add", 1.5), ("status changed", 3.0)):
            gbps = res["throughput_gbps"].get("mlx", {}).get(op)
            out.append((op, f">= {limit} GB/s", "n/a" if gbps is None else f"{gbps:.2f} GB/s",
                        None if gbps is None else gbps >= limit))
    return out


def throughput(ds: Dataset, tools: dict) -> dict:
    size = (ds.data / ds.edit_path).stat().st_size
    return {t: {op: size / 1e9 / r[op]["median"] for op in ("add", "status changed") if "median" in r[op]}
            for t, r in tools.items()}


def render(name: str, ds: Dataset | None, res: dict, quick: bool) -> str:
    mlx, dvc, floors = res["tools"].get("mlx"), res["tools"].get("dvc"), res["floors"]
    tmap = {op: (t, m, met) for op, t, m, met in targets(name, res)}
    title = f"== {name}: {ds.describe()}" if ds else f"== {name}"
    lines = [f"{title}  (median of {res['runs']} runs; whole processes, spawn to exit)",
             f"{'operation':<18} {'mlx s':>8} {'mlx MiB':>8} {'dvc s':>8} {'dvc MiB':>8} {'dvc/mlx':>8}"
             f"  {'floor':<11} {'floor s':>8} {'mlx/floor':>9}  target"]
    notes = []
    for op in res["ops"]:
        m = mlx.get(op) if mlx else None
        d = dvc.get(op) if dvc else None
        floor = FLOOR_OF.get(op) if floors else None
        f = floors.get(floor) if floor else None
        t = tmap.get(op)
        target = f"{t[0]}: {'met' if t[2] else 'MISSED' if t[2] is False else 'n/a'}" if t else ""
        lines.append(f"{op:<18} {cell(m):>8} {cell(m, 'peak_rss_mib', '{:.0f}'):>8} {cell(d):>8} "
                     f"{cell(d, 'peak_rss_mib', '{:.0f}'):>8} {fmt_ratio(ratio(m, d)):>8}  {floor or '':<11} "
                     f"{cell(f) if floor else '':>8} {fmt_ratio(ratio(f, m)) if floor else '':>9}  {target}")
        notes += [f"  {tool} {op} FAILED: {r['failed']}" for tool, r in (("mlx", m), ("dvc", d)) if r and "failed" in r]
    for floor, r in floors.items():
        lines.append(f"{'floor: ' + floor:<18} {'':>8} {'':>8} {'':>8} {'':>8} {'':>8}  {floor:<11} {cell(r):>8}")
        notes += [f"  floor {floor} FAILED: {r['failed']}"] if "failed" in r else []
    for tool, ops in res.get("throughput_gbps", {}).items():
        lines.append(f"  {tool} throughput: " + ", ".join(f"{op} {v:.2f} GB/s" for op, v in ops.items()))
    lines += [f"  target {op}: {t} -> {m}: {'met' if met else 'MISSED' if met is False else 'n/a'}"
              + (" (quick data: indicative only)" if quick else "")
              for op, t, m, met in targets(name, res) if op == "all" or name == "large"]
    return "\n".join(lines + notes)


# ---------------------------------------------------------------- main
def bench_dataset(ds: Dataset, tools: list[Tool], bench: Bench, trash: Trash) -> dict:
    if shutil.disk_usage(WORK).free < ds.disk_bytes() * (6 * bench.runs(ds) + 8) + 4 * GIB:
        trash.empty()
    ensure_dataset(ds, trash)
    res = {"dataset": asdict(ds), "runs": bench.runs(ds), "ops": OPS, "tools": {}}
    for tool in tools:
        print(f"  {ds.name}: {tool.name} ...", flush=True)
        res["tools"][tool.name] = bench.tool_ops(tool, ds)
    print(f"  {ds.name}: floors ...", flush=True)
    res["floors"] = bench.floors(ds)
    if ds.name == "large":
        res["throughput_gbps"] = throughput(ds, res["tools"])
    return res


def bench_startup(tools: list[Tool], runs: int) -> dict:
    res = {"runs": runs, "ops": ["--version"], "tools": {}, "floors": {}}
    for tool in tools:
        res["tools"][tool.name] = {"--version": measure(tool.argv("--version"), lambda: SESSION, runs,
                                                        tool.env, warmup=True)}
    res["floors"]["python -c pass"] = measure([sys.executable, "-c", "pass"], lambda: SESSION, runs,
                                              os.environ.copy(), warmup=True)
    return res


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="10^4 small files, 128 MiB large, 200 medium")
    p.add_argument("--only", default="small,medium,large,startup", help="comma-separated sections")
    p.add_argument("--runs", type=int, default=5, help="timed runs per operation (large: at most 3)")
    p.add_argument("--out", type=Path, help="write every raw timing to this JSON file")
    p.add_argument("--mlx", default=str(DEFAULT_MLX), help="mlx executable")
    return p.parse_args()


def main() -> int:
    args = parse_args()
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    datasets = make_datasets(args.quick)
    unknown = set(only) - set(datasets) - {"startup"}
    if unknown:
        sys.exit(f"unknown section(s): {', '.join(sorted(unknown))}")
    trash, t0 = Trash(), time.time()
    if SESSION.exists():
        trash.discard(SESSION)
    trash.empty()  # left over from an interrupted run; settle() waits if it was big
    SESSION.mkdir(parents=True)
    dvc_exe, mlx_ver = ensure_dvc(), mlx_version(args.mlx)
    tools = make_tools(args.mlx if mlx_ver else None, dvc_exe)
    print(f"mlx: {mlx_ver or f'not available ({args.mlx})'}; dvc: {DVC_PIN}; "
          f"{os.cpu_count()} cores; {'quick' if args.quick else 'full'} mode", flush=True)
    bench, report = Bench(args.runs, trash), {}
    for name in [n for n in datasets if n in only]:
        report[name] = bench_dataset(datasets[name], tools, bench, trash)
        print(render(name, datasets[name], report[name], args.quick) + "\n", flush=True)
    if "startup" in only:
        report["startup"] = bench_startup(tools, args.runs)
        print(render("startup", None, report["startup"], args.quick) + "\n", flush=True)
    trash.discard(SESSION)
    trash.empty()
    print(f"total {time.time() - t0:.0f} s")
    if args.out:
        meta = {"date": datetime.datetime.now().isoformat(timespec="seconds"), "quick": args.quick,
                "runs": args.runs, "mlx": mlx_ver, "dvc": DVC_PIN, "cores": os.cpu_count(),
                "targets": {n: targets(n, r) for n, r in report.items()}}
        args.out.write_text(json.dumps({"meta": meta, **report}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
