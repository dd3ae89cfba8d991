#!/usr/bin/env python3
"""Time mlx against DVC and transfer floors on push and pull: a local directory and S3 (moto).

    python benchmarks/bench_remote.py [--quick] [--only local,s3small,s3large]
                                      [--runs N] [--out results.json] [--mlx PATH]

Standard library only. Process timing, peak RSS, medians, datasets, the trash and the DVC install
come from bench_store.py (benchmarks/README.md and docs/performance.md say how they measure).

- local: 10^5 files of 1-8 KiB in 100 folders (--quick: 10^4 in 10) to a directory on this disk.
- s3small: 10^4 such files (--quick: 10^3) to moto's S3 server on loopback.
- s3large: one 1 GiB file (--quick: 64 MiB) to moto's S3 server.

Each tool gets a source repository (git init, init, cache.type copy, `add data`, commit), then:
`push` to an empty remote (a new directory or bucket every run), `push again` with nothing to send,
`status --cloud`, and `pull` in a fresh `git clone` of the source repository (empty cache: fetch +
checkout). The S3 server is started anew for each tool and each set of floors, so that one tool's
objects neither weigh on the next one's requests nor stay in memory; its CPU time counts as the
command's own, not as another process's.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

import bench_store
from bench_store import (
    COPY_FLOORS,
    DEFAULT_MLX,
    DVC_PIN,
    DVC_VENV,
    GIB,
    KIB,
    MIB,
    SESSION,
    Dataset,
    Floor,
    SetupError,
    Tool,
    Trash,
    against_floor,
    cell,
    check,
    clock,
    copies_beside,
    copy_floor,
    ensure_dataset,
    ensure_dvc,
    fmt_ratio,
    make_room,
    make_tools,
    measure,
    mlx_version,
    paired_note,
    ratio,
    row_notes,
    slug,
    source_rev,
    the_dataset,
    the_folder,
    verdict,
)

DVC_S3_PIN = "3.3.0"
GIT = ["git", "-c", "user.name=bench", "-c", "user.email=bench@localhost"]
OPS = ["push", "push again", "status --cloud", "pull"]
# mlx's pull with `core.fsync never` in the clone: as durable as `cp -r` and DVC, the target's floor
# like for like (local section, mlx only, information).
PULL_NO_FSYNC = "pull, no fsync"
RSS_LIMIT_MIB = 300
AWS_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true"}

# Untimed set-up and the timed S3 floors, run by the interpreter mlx runs on (it has s3fs and boto3).
S3FS_SNIPPET = """\
import sys, s3fs
op, endpoint, *args = sys.argv[1:]
fs = s3fs.S3FileSystem(client_kwargs={"endpoint_url": endpoint}, skip_instance_cache=True)
if op == "mkbucket":
    fs.mkdir(args[0])
elif op == "rm":
    fs.rm(args[0]) if fs.exists(args[0]) else None
elif op == "put":
    fs.put_file(args[0], args[1])
else:
    fs.get_file(args[0], args[1])
"""
BOTO3_SNIPPET = """\
import sys, boto3
op, endpoint, bucket, key, path = sys.argv[1:]
s3 = boto3.client("s3", endpoint_url=endpoint)
if op == "upload":
    s3.upload_file(path, bucket, key)
else:
    s3.download_file(bucket, key, path)
"""


@dataclass(frozen=True)
class Section:
    name: str
    ds: Dataset
    s3: bool
    floor_of: dict[str, str]                  # operation -> the floor printed beside it
    targets: tuple[tuple[str, str, float], ...]  # (operation, kind: floor|dvc|seconds, limit)


# A pull in copy mode writes every file twice, and makes the cache's copy durable before anything
# names it (RELIABILITY.md §2); this floor does the same work, where the target's `cp -r` does half.
PULL_WORK = "cp -r, sync, cp -r"


def make_sections(quick: bool) -> dict[str, Section]:
    small = Dataset("small", 10_000 if quick else 100_000, 10 if quick else 100, KIB, 8 * KIB)
    s3small = Dataset("small", 1_000 if quick else 10_000, 10, KIB, 8 * KIB)
    # full: bench_store's 1 GiB file; quick: a name of its own, so the two never overwrite each other
    large = Dataset("large64m", 1, 1, 64 * MIB, 64 * MIB) if quick else Dataset("large", 1, 1, GIB, GIB)
    return {
        "local": Section("local", small, False, {"push": "cp -r", "pull": "cp -r", PULL_NO_FSYNC: "cp -r"},
                         (("push", "floor", 1.0), ("pull", "floor", 2.0), ("push again", "seconds", 1.0))),
        "s3small": Section("s3small", s3small, True, {"push": "s3fs put (tar)", "pull": "s3fs get (tar)"},
                           (("push", "dvc", 20.0), ("pull", "dvc", 20.0), ("push again", "seconds", 1.0))),
        "s3large": Section("s3large", large, True,
                           {"push": "boto3 upload_file", "pull": "boto3 download_file"},
                           (("push", "floor", 1.2),)),
    }


# ---------------------------------------------------------------- the S3 server
class S3Server:
    """moto's S3 server on a free loopback port, in a subprocess, until stop()."""

    def __init__(self, python: str) -> None:
        for _ in range(3):  # a free port may be taken between choosing it and the server binding it
            port = free_port()
            self.log = SESSION / f"moto-{port}.log"
            with open(self.log, "wb") as sink:
                self.proc = subprocess.Popen([python, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                                             stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.STDOUT)
            self.endpoint = f"http://127.0.0.1:{port}"
            if self.wait_ready():
                bench_store.SERVER_PIDS.add(self.proc.pid)
                return
            self.stop()
        raise SetupError(f"moto's server did not start: {self.log.read_text(errors='replace')[-300:]}")

    def wait_ready(self) -> bool:
        deadline = time.monotonic() + 60
        while self.proc.poll() is None and time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.endpoint, timeout=2):
                    return True
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.1)
        return False

    def stop(self) -> None:
        bench_store.SERVER_PIDS.discard(self.proc.pid)
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=30)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# ---------------------------------------------------------------- one tool, one section
class RemoteBench:
    def __init__(self, runs: int, trash: Trash, python: str) -> None:
        self.default_runs, self.trash, self.python, self.n = runs, trash, python, 0
        self.server: S3Server | None = None

    def runs(self, sec: Section) -> int:
        return min(self.default_runs, 3) if sec.name == "s3large" else self.default_runs

    def new_dir(self, *parts: str) -> Path:
        self.n += 1
        path = SESSION.joinpath(*parts[:-1], f"{parts[-1]}-{self.n}")
        path.mkdir(parents=True)
        return path

    def new_bucket(self, prefix: str) -> str:
        self.n += 1
        bucket = f"bench-{prefix}-{self.n}"
        check([self.python, "-c", S3FS_SNIPPET, "mkbucket", self.endpoint, bucket], SESSION)
        return bucket

    @property
    def endpoint(self) -> str:
        assert self.server is not None
        return self.server.endpoint

    def new_remote(self, sec: Section, tool: Tool) -> str:
        """An empty remote: a new directory, or a new bucket on the running S3 server."""
        if sec.s3:
            return f"s3://{self.new_bucket(tool.name)}/store"
        return str(self.new_dir("remotes", sec.name, tool.name))

    def point_at(self, tool: Tool, repo: Path, url: str, s3: bool, replace: bool) -> None:
        """Untimed: make `url` the default remote 'origin', as a user would. mlx removes the old
        one first, which also forgets its local copies of the old remote's indexes: the push
        starts as a first push does."""
        if tool.name == "mlx":
            if replace:
                check(tool.argv("remote", "remove", "origin"), repo, tool.env)
            steps = [["remote", "add", "-d", "origin", url]]
            steps += [["remote", "modify", "origin", "endpoint_url", self.endpoint]] if s3 else []
        else:
            steps = [["remote", "add", "-d", "-f", "origin", url]]
            steps += [["remote", "modify", "origin", "endpointurl", self.endpoint]] if s3 else []
        for args in steps:
            check(tool.argv(*args), repo, tool.env)

    def source_repo(self, tool: Tool, sec: Section) -> Path:
        """Untimed: git init, tool init, cache.type copy, a copy of the data, `add data`, commit."""
        repo = self.new_dir("repos", sec.name, tool.name)
        check(["git", "init", "-q"], repo)
        for args in tool.init + [["config", "cache.type", "copy"]]:
            check(tool.argv(*args), repo, tool.env)
        check(["cp", "-r", str(sec.ds.data), "data"], repo)
        check(tool.argv("add", "data"), repo, tool.env)
        commit_all(repo, "data")
        return repo

    def tool_ops(self, tool: Tool, sec: Section) -> dict:
        runs, box = self.runs(sec), {}
        try:
            src = self.source_repo(tool, sec)
        except SetupError as e:
            return {op: {"failed": f"set-up: {e}"} for op in OPS}

        def empty_remote() -> Path:
            old = box.get("remote")
            box["remote"] = self.new_remote(sec, tool)
            self.point_at(tool, src, box["remote"], sec.s3, replace=old is not None)
            if old is not None and not sec.s3:
                self.trash.discard(Path(old))
            return src

        def fresh_clone(config: tuple[str, str] | None = None) -> Path:
            old = box.get("clone")
            box["clone"] = self.new_dir("clones", sec.name, tool.name) / "repo"
            check(["git", "clone", "-q", str(src), str(box["clone"])], SESSION)
            if config:
                check(tool.argv("config", "--local", *config), box["clone"], tool.env)
            if old is not None:
                self.trash.discard(old.parent)
            return box["clone"]

        def clone_and_remote(clone: Path) -> list[Path]:  # a pull reads the remote (on S3: moto's memory)
            return [clone] if sec.s3 else [clone, Path(box["remote"])]

        push = tool.argv("push")
        res = {"push": measure(push, empty_remote, runs, tool.env, warmup=False, creates=not sec.s3,
                               floor=self.floor_beside(tool, sec, "push"), reads=the_folder)}
        if "failed" in res["push"]:
            return res | {op: {"failed": "skipped: push failed"} for op in OPS[1:]}
        res["push again"] = measure(push, lambda: src, runs, tool.env, warmup=True)
        res["status --cloud"] = measure(tool.argv("status", "--cloud"), lambda: src, runs, tool.env, warmup=True)
        try:
            commit_all(src, "the remote")  # the clones must know the last remote pushed to
        except SetupError as e:
            return res | {"pull": {"failed": f"set-up: {e}"}}
        res["pull"] = measure(tool.argv("pull"), fresh_clone, runs, tool.env, warmup=False, creates=True,
                              floor=self.floor_beside(tool, sec, "pull"), reads=clone_and_remote)
        if "clone" in box and "failed" not in res["pull"]:
            problem = missing_data(sec.ds, box["clone"] / "data")
            if problem:
                res["pull"] = {"failed": f"the last pull {problem}"}
        if tool.name == "mlx" and PULL_NO_FSYNC in sec.floor_of and "failed" not in res["pull"]:
            res[PULL_NO_FSYNC] = measure(tool.argv("pull"), lambda: fresh_clone(("core.fsync", "never")), runs,
                                         tool.env, warmup=False, creates=True, reads=clone_and_remote,
                                         floor=self.floor_beside(tool, sec, PULL_NO_FSYNC))
            problem = missing_data(sec.ds, box["clone"] / "data") if "failed" not in res[PULL_NO_FSYNC] else None
            if problem:
                res[PULL_NO_FSYNC] = {"failed": f"the last pull {problem}"}
        if "clone" in box:
            self.trash.discard(box["clone"].parent)
        if "remote" in box and not sec.s3:
            self.trash.discard(Path(box["remote"]))
        self.trash.discard(src)
        return res

    def floor_beside(self, tool: Tool, sec: Section, op: str) -> Floor | None:
        """The copy that `op`'s target compares mlx with, to be timed beside it (bench_store.measure)."""
        if tool.name != "mlx":
            return None
        return copy_floor(sec.floor_of.get(op), sec.ds, lambda: self.new_dir("paired", sec.name, slug(op)))

    def floors(self, sec: Section) -> dict:
        runs, env, ds = self.runs(sec), os.environ.copy(), sec.ds
        if not sec.s3:
            the_tree = the_dataset(ds)
            cp = measure([*COPY_FLOORS["cp -r"], str(ds.data), "data"], lambda: self.new_dir("floors", sec.name, "cp"),
                         runs, env, warmup=False, creates=True, reads=the_tree)
            twice = measure(["sh", "-c", 'cp -r "$0" cache && sync -f cache && cp -r cache data', str(ds.data)],
                            lambda: self.new_dir("floors", sec.name, "cp2"), runs, env, warmup=False, creates=True,
                            reads=the_tree)
            return {"cp -r": cp, PULL_WORK: twice}
        put_name, get_name = sec.floor_of["push"], sec.floor_of["pull"]
        try:
            bucket = self.new_bucket("floor")
            if sec.name == "s3small":
                payload = SESSION / f"{sec.name}.tar"
                check(["tar", "-cf", str(payload), "-C", str(ds.data), "."], SESSION)
            else:
                payload = ds.data / ds.edit_path
        except SetupError as e:
            return {put_name: {"failed": f"set-up: {e}"}, get_name: {"failed": f"set-up: {e}"}}
        key = f"{bucket}/{payload.name}"
        if sec.name == "s3small":  # one object: the tarball; s3fs, as the tools use
            put = [self.python, "-c", S3FS_SNIPPET, "put", self.endpoint, str(payload), key]
            get = [self.python, "-c", S3FS_SNIPPET, "get", self.endpoint, key, payload.name]
        else:  # boto3's managed transfer: multipart, 10 threads
            put = [self.python, "-c", BOTO3_SNIPPET, "upload", self.endpoint, bucket, payload.name, str(payload)]
            get = [self.python, "-c", BOTO3_SNIPPET, "download", self.endpoint, bucket, payload.name, payload.name]

        def no_object() -> Path:  # an upload into an empty bucket every run
            check([self.python, "-c", S3FS_SNIPPET, "rm", self.endpoint, key], SESSION)
            return SESSION

        res = {put_name: measure(put, no_object, runs, env, warmup=False, reads=lambda cwd: [payload])}
        if "failed" in res[put_name]:
            return res | {get_name: {"failed": "skipped: the upload failed"}}
        res[get_name] = measure(get, lambda: self.new_dir("floors", sec.name, "get"), runs, env,
                                warmup=False, creates=True)
        if sec.name == "s3small":
            self.trash.discard(payload)
        return res


def commit_all(repo: Path, what: str) -> None:
    check(["git", "add", "-A"], repo)
    check([*GIT, "commit", "-q", "--allow-empty", "-m", what], repo)


def missing_data(ds: Dataset, data: Path) -> str:
    """'' when `data` holds the dataset's files with its total size; else what is wrong."""
    files = size = 0
    for folder, _, names in os.walk(data):
        for name in names:
            files += 1
            size += os.stat(os.path.join(folder, name)).st_size
    expected = sum(f.stat().st_size for f in ds.data.rglob("*") if f.is_file()) if ds.files < 20_000 else None
    if files != ds.files or (expected is not None and size != expected):
        return f"left {files:,} of {ds.files:,} files ({size:,} bytes)"
    return ""


def ensure_dvc_s3() -> None:
    """dvc-s3 beside DVC in its virtual environment (installed on the first run that needs it)."""
    python = str(DVC_VENV / "bin" / "python")
    if subprocess.run([python, "-c", "import dvc_s3"], capture_output=True).returncode == 0:
        return
    print(f"installing dvc-s3=={DVC_S3_PIN} into {DVC_VENV} ...", flush=True)
    subprocess.run([str(DVC_VENV / "bin" / "pip"), "install", "-q", f"dvc-s3=={DVC_S3_PIN}", f"dvc=={DVC_PIN}"],
                   check=True)


# ---------------------------------------------------------------- report
def targets(sec: Section, res: dict) -> list[tuple[str, str, str, bool | None]]:
    """(operation, target, measured, met) for mlx in this section."""
    mlx, dvc, out = res["tools"].get("mlx"), res["tools"].get("dvc") or {}, []
    if mlx is None:
        return out
    for op, kind, limit in sec.targets:
        if kind == "floor":
            x = against_floor(mlx.get(op), res["floors"], sec.floor_of[op])[1]
            out.append((op, f"<= {limit:g}x {sec.floor_of[op]}", fmt_ratio(x), None if x is None else x <= limit))
        elif kind == "dvc":
            x = ratio(mlx.get(op), dvc.get(op))
            out.append((op, f">= {limit:g}x faster than dvc", fmt_ratio(x), None if x is None else x >= limit))
        else:
            s = mlx.get(op, {}).get("median")
            out.append((op, f"< {limit:g} s", cell(mlx.get(op)), None if s is None else s < limit))
    rss = [r["peak_rss_mib"] for r in mlx.values() if "peak_rss_mib" in r]
    out.append(("all", f"peak RSS < {RSS_LIMIT_MIB} MiB", f"{max(rss):.0f} MiB" if rss else "n/a",
                max(rss) < RSS_LIMIT_MIB if rss else None))
    return out


def table_row(op: str, m: dict | None, d: dict | None, floor: str | None, floors: dict,
              target: tuple | None) -> str:
    f, x = against_floor(m, floors, floor)
    return (f"{op:<26} {cell(m):>8} {cell(m, 'peak_rss_mib', '{:.0f}'):>8} {cell(d):>8} "
            f"{cell(d, 'peak_rss_mib', '{:.0f}'):>8} {fmt_ratio(ratio(m, d)):>8}  {floor or '':<20} "
            f"{cell(f) if floor else '':>8} {fmt_ratio(x) if floor else '':>9}  "
            f"{f'{target[1]}: {verdict(target[3])}' if target else ''}")


def render(sec: Section, res: dict, quick: bool) -> str:
    mlx, dvc, floors = res["tools"].get("mlx"), res["tools"].get("dvc"), res["floors"]
    goals = targets(sec, res)
    title = f"== {sec.name}: {sec.ds.describe()}" + (f"  [mlx {res['mlx_rev']}]" if res.get("mlx_rev") else "")
    lines = [f"{title}  (median of {res['runs']} runs; whole processes, spawn to exit)",
             f"{'operation':<26} {'mlx s':>8} {'mlx MiB':>8} {'dvc s':>8} {'dvc MiB':>8} {'dvc/mlx':>8}"
             f"  {'floor':<20} {'floor s':>8} {'mlx/floor':>9}  target"]
    notes = []
    for op in res["ops"]:
        m, d = (mlx.get(op) if mlx else None), (dvc.get(op) if dvc else None)
        floor = sec.floor_of.get(op)
        target = next((g for g in goals if g[0] == op), None)
        lines.append(table_row(op, m, d, floor, floors, target))
        notes += row_notes(op, "mlx", m, res["runs"]) + row_notes(op, "dvc", d, res["runs"])
    for floor, r in floors.items():
        lines.append(f"{'floor: ' + floor:<26} {'':>44}  {floor:<20} {cell(r):>8}")
        notes += row_notes(floor, "floor", r, res["runs"])
    if sec.name == "s3large":
        size = (sec.ds.data / sec.ds.edit_path).stat().st_size
        for tool, ops in list(res["tools"].items()) + [("floor", floors)]:
            rates = [f"{op} {size / 1e6 / r['median']:.0f} MB/s" for op, r in ops.items()
                     if op in ("push", "pull", *sec.floor_of.values()) and "median" in r]
            lines.append(f"  {tool} throughput: {', '.join(rates) or 'n/a'}")
    work = ratio(floors.get(PULL_WORK), mlx.get("pull") if mlx else None)
    if work is not None:
        lines.append(f"  mlx pull: {fmt_ratio(work)} {PULL_WORK} (not a target: the same writes and durability)")
    unsynced = against_floor(mlx.get(PULL_NO_FSYNC) if mlx else None, floors, "cp -r")[1]
    if unsynced is not None:
        lines.append(f"  mlx {PULL_NO_FSYNC}: {fmt_ratio(unsynced)} cp -r (not a target: core.fsync never, "
                     "as durable as cp -r and DVC)")
    lines += paired_note(mlx)
    lines += [f"  target {op}: {t} -> {m}: {verdict(met)}" + (" (quick data: indicative only)" if quick else "")
              for op, t, m, met in goals]
    return "\n".join(lines + notes)


# ---------------------------------------------------------------- main
def bench_section(sec: Section, tools: list[Tool], bench: RemoteBench, trash: Trash) -> dict:
    ds, runs = sec.ds, bench.runs(sec)
    # each tool: its source data and cache, then a remote and a clone a run; the floors: cp -r once and twice
    copies = 2 * (2 + 3 * runs) + 3 * runs + (2 * runs if PULL_NO_FSYNC in sec.floor_of else 0)
    copies += copies_beside(runs) * sum(sec.floor_of.get(op) in COPY_FLOORS for op in ("push", "pull", PULL_NO_FSYNC))
    make_room(ds.disk_bytes() * copies + 4 * GIB, f"the {sec.name} section", trash)
    ensure_dataset(ds, trash)
    ops = OPS + [PULL_NO_FSYNC] if PULL_NO_FSYNC in sec.floor_of else OPS
    res = {"dataset": asdict(ds), "runs": runs, "ops": ops, "tools": {}, "floors": {}}
    groups: list[tuple[str, Tool | None]] = [(t.name, t) for t in tools] + [("floors", None)]
    for name, tool in groups:
        print(f"  {clock()} {sec.name}: {name} ...", flush=True)
        if tool is not None and tool.name == "mlx":
            res["mlx_rev"] = source_rev(tool.exe)
        try:
            bench.server = S3Server(bench.python) if sec.s3 else None
            result = bench.floors(sec) if tool is None else bench.tool_ops(tool, sec)
        except SetupError as e:
            result = {op: {"failed": f"set-up: {e}"} for op in (OPS if tool else set(sec.floor_of.values()))}
        finally:
            if bench.server:
                bench.server.stop()
                bench.server = None
        if tool is None:
            res["floors"] = result
        else:
            res["tools"][name] = result
    return res


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="10^4 local files, 10^3 S3 files, a 64 MiB file")
    p.add_argument("--only", default="local,s3small,s3large", help="comma-separated sections")
    p.add_argument("--runs", type=int, help="timed runs per operation (default 5, --quick 3; s3large: at most 3)")
    p.add_argument("--out", type=Path, help="write every raw timing to this JSON file")
    p.add_argument("--mlx", default=str(DEFAULT_MLX), help="mlx executable")
    return p.parse_args()


def main() -> int:
    args = parse_args()
    args.runs = args.runs or (3 if args.quick else 5)
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    sections = make_sections(args.quick)
    unknown = set(only) - set(sections)
    if unknown:
        sys.exit(f"unknown section(s): {', '.join(sorted(unknown))}")
    for name in [n for n in os.environ if n.startswith("AWS_")]:  # never a real account or profile
        del os.environ[name]
    os.environ.update(AWS_ENV)
    trash, t0 = Trash(), time.time()
    if SESSION.exists():
        trash.discard(SESSION)
    trash.empty_now()  # left over from an earlier run; settle() then waits
    SESSION.mkdir(parents=True)
    args.mlx = str(Path(args.mlx).absolute())  # the set-ups run in other directories
    dvc_exe, mlx_ver = ensure_dvc(), mlx_version(args.mlx)
    ensure_dvc_s3()
    tools = make_tools(args.mlx if mlx_ver else None, dvc_exe)
    python = Path(args.mlx).parent / "python"  # mlx's interpreter: moto, s3fs and boto3 are installed there
    python = str(python) if python.exists() else sys.executable
    print(f"mlx: {mlx_ver or f'not available ({args.mlx})'}; dvc: {DVC_PIN} with dvc-s3 {DVC_S3_PIN}; "
          f"{os.cpu_count()} cores; {'quick' if args.quick else 'full'} mode", flush=True)
    bench, report = RemoteBench(args.runs, trash, python), {}
    for name in [n for n in sections if n in only]:
        report[name] = bench_section(sections[name], tools, bench, trash)
        print(render(sections[name], report[name], args.quick) + "\n", flush=True)
    trash.discard(SESSION)
    trash.empty_later()
    print(f"total {time.time() - t0:.0f} s")
    if args.out:
        meta = {"date": datetime.datetime.now().isoformat(timespec="seconds"), "quick": args.quick,
                "runs": args.runs, "mlx": mlx_ver, "dvc": DVC_PIN, "dvc_s3": DVC_S3_PIN,
                "cores": os.cpu_count(), "targets": {n: targets(sections[n], r) for n, r in report.items()}}
        args.out.write_text(json.dumps({"meta": meta, **report}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
