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
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
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
TIME = shutil.which("time", path="/usr/bin:/bin")  # GNU time, to read a command's peak RSS
KIB, MIB, GIB = 1 << 10, 1 << 20, 1 << 30
SETTLE_S = 361         # ext4 without a journal skips inodes freed < 60 s ago, < 360 s while their block is dirty (README)
START = time.time()
SLOW_S = 10.0          # an operation whose first run takes longer gets 3 runs, not --runs
# `cp -r` and DVC make nothing durable; mlx does by default (core.fsync batch). "add, no fsync" is
# mlx with `core.fsync never`: the target's comparison like for like (mlx only, information).
ADD_NO_FSYNC = "add, no fsync"
OPS = ["add", "add again", "status", "status changed",
       "checkout copy", "checkout hardlink", "gc", ADD_NO_FSYNC]
FLOOR_OF = {"add": "cp -r", "status": "git status",
            "checkout copy": "cp -r", "checkout hardlink": "cp -al", ADD_NO_FSYNC: "cp -r"}
# add waits until its objects are on disk before it writes the pointer (RELIABILITY.md §2); `cp -r`
# leaves its writes to the kernel. This floor pays for the same durability: one syncfs at the end.
DURABLE_CP = "cp -r; sync -f"
COPY_FLOORS = {"cp -r": ["cp", "-r"], "cp -al": ["cp", "-al"]}  # of the dataset's tree into a new folder


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

    def disk_bytes(self) -> int:
        """A copy's blocks: whole 4 KiB blocks per file (sizes uniform over the range), a
        directory entry each, and a tenth more (the 10^5-file tree takes 648 MB; this says 736)."""
        blocks = statistics.mean(-(-size // 4096) for size in range(self.min_size, self.max_size + 1))
        return int(self.files * (blocks * 4096 + 256) * 1.1)

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
    """Big trees are renamed in here; deleted only before or after all timings.

    Deleting is slow here (online discard: ~0.5-2 ms per file, but discards run in
    parallel), so files are unlinked by 6 `rm` at once, and the trash of a run is deleted by
    a detached low-priority shell at its end; the next run waits for it.
    """

    def __init__(self) -> None:
        TRASH.mkdir(parents=True, exist_ok=True)
        self.n = 0

    def discard(self, path: Path) -> None:
        self.n += 1
        os.rename(path, TRASH / f"{os.getpid()}-{time.time_ns()}-{self.n}")

    def empty_now(self) -> None:
        """Before timing: finish any deletion left over from an earlier run."""
        if not any(WORK.glob("deleting-*")) and not any(TRASH.iterdir()):
            return
        print("waiting for the trash of an earlier run to be deleted ...", flush=True)
        while any(WORK.glob("deleting-*")) and deleter_alive():
            time.sleep(5)
        for path in [TRASH] + sorted(WORK.glob("deleting-*")):  # what the deleter left, if it died
            subprocess.run(["sh", "-c", delete_command(path)], check=True)
        TRASH.mkdir()
        STAMP.write_text(str(time.time()))

    def empty_later(self) -> None:
        """After timing: hand the trash to a detached `nice rm -rf`."""
        target = WORK / f"deleting-{time.time_ns()}"
        os.rename(TRASH, target)
        TRASH.mkdir()
        script = f"{delete_command(target)} && date +%s > {shlex.quote(str(STAMP))}"
        proc = subprocess.Popen(["nice", "-n", "19", "sh", "-c", script], start_new_session=True,
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        (WORK / "deleter.pid").write_text(str(proc.pid))
        print(f"the trash is being deleted in the background (pid {proc.pid}, {target.name})")


def make_room(needed: int, what: str, trash: Trash) -> None:
    """Before a section: `needed` bytes free in WORK (emptying the trash if that helps), or stop
    with a one-line message, rather than fail half-way through the section with ENOSPC."""
    if shutil.disk_usage(WORK).free >= needed:
        return
    trash.empty_now()
    free = shutil.disk_usage(WORK).free
    if free < needed:
        sys.exit(f"{what} needs {needed / GIB:.1f} GiB free in {WORK}; there are {free / GIB:.1f} GiB "
                 "(free some space, or run with --quick)")


def delete_command(path: Path) -> str:
    quoted = shlex.quote(str(path))
    return f"find {quoted} -type f -print0 | xargs -0 -r -P 6 -n 500 rm -f && rm -rf {quoted}"


def deleter_alive() -> bool:
    try:
        pid = int((WORK / "deleter.pid").read_text())
        return b"deleting-" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return False


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
    foreign_cpu: float  # CPU seconds other processes used meanwhile


def last_line(*paths: Path) -> str:
    for path in paths:
        lines = [ln.strip() for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
        if lines:
            return lines[-1][:160]
    return ""


SERVER_PIDS: set[int] = set()  # servers the timed commands talk to (bench_remote's S3 server)


def cpu_busy() -> float:
    """CPU seconds all processes here used since boot: user, nice, system, irq, softirq.

    Less those of SERVER_PIDS: a server's work for the timed command is part of that command,
    not another process's burst.
    """
    with open("/proc/stat") as f:
        ticks = [int(x) for x in f.readline().split()[1:8]]
    served = sum(process_ticks(pid) for pid in SERVER_PIDS)
    return (sum(ticks[:3]) + ticks[5] + ticks[6] - served) / os.sysconf("SC_CLK_TCK")


def process_ticks(pid: int) -> int:
    """User and system clock ticks of one process and its waited-for children (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0
    return sum(int(x) for x in fields[11:15])  # utime, stime, cutime, cstime


def wait_quiet(limit: float = 3.0) -> None:
    """Let other processes' bursts (a test suite, write-back) pass, for up to `limit` s."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        before = cpu_busy()
        time.sleep(0.1)
        if cpu_busy() - before < 0.1 * 0.25:  # under a quarter of one core
            return


def spawn(argv: list[str], cwd: Path, env: dict) -> Sample:
    """Run one process: wall time from spawn to exit; peak RSS of the command.

    RSS: os.wait4 on a child of this Python process reports at least this process's
    own RSS (the kernel carries it over at exec), so GNU time, a tiny launcher, reads
    the command's ru_maxrss with wait4 and writes it to a file.
    """
    out, err, rss = SESSION / "last.stdout", SESSION / "last.stderr", SESSION / "last.rss"
    launcher = [TIME, "-q", "-f", "%M", "-o", str(rss)] if TIME else []
    with open(out, "wb") as fo, open(err, "wb") as fe:
        busy0, t0 = cpu_busy(), time.perf_counter()
        proc = subprocess.Popen(launcher + argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=fo, stderr=fe)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - t0
        foreign = cpu_busy() - busy0 - usage.ru_utime - usage.ru_stime
    proc.returncode = rc = os.waitstatus_to_exitcode(status)
    message = (last_line(err, out) or f"exit code {rc}") if rc else ""
    rss_kib = int(last_line(rss) or 0) if TIME else usage.ru_maxrss
    return Sample(seconds, rss_kib, rc, message, max(0.0, foreign))


def check(argv: list[str], cwd: Path, env: dict | None = None) -> None:
    """Untimed set-up step; raises SetupError with the last stderr line."""
    s = spawn(argv, cwd, env or os.environ.copy())
    if s.rc:
        raise SetupError(f"{' '.join(map(str, argv[:3]))}: {s.err}")


class RunFailed(Exception):
    pass


@dataclass(frozen=True)
class Floor:
    """A floor timed side by side with an operation: each run of the one beside a run of the other."""
    name: str
    argv: list[str]
    prepare: Callable[[], Path]  # the cwd of a run (untimed set-up)
    reads: Reads  # what a run reads in bulk, read before it (see warm)


def copy_floor(floor: str | None, ds: Dataset, prepare: Callable[[], Path]) -> Floor | None:
    """`floor` as a Floor that copies `ds`'s tree into `data` of the folder prepare() makes, if it
    is one of COPY_FLOORS (the others need set-up of their own)."""
    if floor not in COPY_FLOORS:
        return None
    return Floor(floor, [*COPY_FLOORS[floor], str(ds.data), "data"], prepare, the_dataset(ds))


def slug(op: str) -> str:
    """An operation's name as part of a folder name ("add, no fsync" -> "add-no-fsync")."""
    return op.replace(",", "").replace(" ", "-")


# What a run reads in bulk, given its cwd: the files and folders that warm() reads before the run.
Reads = Callable[[Path], list[Path]]


def the_folder(cwd: Path) -> list[Path]:
    """A tool's run reads the repository it runs in (its workspace, or its cache)."""
    return [cwd]


def the_dataset(ds: Dataset) -> Reads:
    """A floor's run reads the dataset's tree, which it copies."""
    return lambda cwd: [ds.data]


def warm(paths: list[Path]) -> None:
    """Read every file at or under `paths`, so that the run after this reads them from memory.

    This VM pages out file pages that nothing has touched for about a minute (a DAMON `pageout`
    scheme on unmapped pages: /sys/kernel/mm/damon/admin/kdamonds/0). Without this, whether a
    run's input was still in memory depended on what ran before it: `cp -r` of the tree right
    after another `cp -r` read 75 MiB from disk, after 90 s idle 594 MiB and took twice as long,
    and every pair's ratio depended on its order (benchmarks/README.md)."""
    for top in paths:
        read_through(top)
        for folder, _, names in os.walk(top):  # nothing for a file
            for name in names:
                read_through(os.path.join(folder, name))


def read_through(path: str | Path) -> None:
    """Read a regular file to its end (not a link, a folder or something else); unreadable: the run
    will say so."""
    if not os.path.isfile(path) or os.path.islink(path):
        return
    try:
        with open(path, "rb", buffering=0) as f:
            while f.read(1 << 20):
                pass
    except OSError:
        pass


def timed(argv, prepare, env: dict, what: str = "", reads: Reads | None = None) -> Sample:
    """One run after set-up; RunFailed (with `what` failed, if given) when it exits non-zero.
    With `reads`, the files the run reads in bulk are read first (warm)."""
    cwd = prepare()
    os.sync()  # no write-back left over from set-up or the previous run
    if reads is not None:
        warm(reads(cwd))
    wait_quiet()
    s = spawn(argv, cwd, env)
    if s.rc:
        raise RunFailed(f"{what}: {s.err}" if what else s.err)
    return s


def paired_runs(runs: int) -> int:
    """How many runs a row timed beside its floor makes: `runs`, made even (see measure)."""
    return runs + runs % 2


def copies_beside(runs: int) -> int:
    """The copies a row timed beside a copy floor makes beyond `runs` (for a section's disk
    estimate): the floor's runs, and the tool's runs added to make them even."""
    return 2 * paired_runs(runs) - runs


def measure(argv, prepare, runs: int, env: dict, warmup: bool, creates: bool = False,
            floor: Floor | None = None, reads: Reads | None = None) -> dict:
    """Median of `runs` timed runs; prepare() (untimed) returns the cwd of each run, and the
    files reads(cwd) names are read before each run (see warm).

    With `floor`, every run is paired with a run of the floor, in the order ABBA (the operation
    first in even pairs, the floor first in odd ones), and an odd `runs` is made even so that
    each order counts as often. This machine's speed drifts by up to 2x within a minute, so a
    ratio is only fair between runs taken side by side: the result's "paired" holds the floor's
    runs, the median of the pairs' ratios for each order, and their geometric mean, the ratio."""
    if floor is not None:
        runs = paired_runs(runs)
    if creates:
        settle()
    samples: list[Sample] = []
    beside: list[Sample] = []
    try:
        if warmup:
            s = spawn(argv, prepare(), env)
            if s.rc:
                return {"failed": s.err}
        slow_runs = min(runs, 3 if floor is None else 4)  # paired: as many in each order
        while len(samples) < (runs if not samples or samples[0].seconds < SLOW_S else slow_runs):
            pair = [lambda: samples.append(timed(argv, prepare, env, reads=reads))]
            if floor is not None:
                pair.append(lambda: beside.append(timed(floor.argv, floor.prepare, os.environ.copy(),
                                                        f"floor {floor.name}", floor.reads)))
            for run in pair if len(samples) % 2 == 0 else reversed(pair):
                run()
    except RunFailed as e:
        return {"failed": str(e)}
    except (SetupError, OSError) as e:
        return {"failed": f"set-up: {e}"}
    res = summary(samples)
    if floor is not None:
        ratios = [s.seconds / f.seconds for s, f in zip(samples, beside)]
        first, second = statistics.median(ratios[0::2]), statistics.median(ratios[1::2] or ratios)
        res["paired"] = summary(beside) | {"floor": floor.name, "ratios": ratios, "ratio_tool_first": first,
                                           "ratio_floor_first": second, "ratio": (first * second) ** 0.5}
    return res


def summary(samples: list[Sample]) -> dict:
    times = [s.seconds for s in samples]
    noisy = sum(s.foreign_cpu > 0.3 * s.seconds for s in samples)
    return {"median": statistics.median(times), "times": times, "runs": len(times), "noisy": noisy,
            "foreign_cpu_s": [round(s.foreign_cpu, 3) for s in samples],
            "rss_kib": [s.rss_kib for s in samples],
            "peak_rss_mib": max(s.rss_kib for s in samples) / 1024}


def plain_copies(tree: Path, files: int) -> bool:
    """All `files` files are there, writable, and linked nowhere else."""
    seen = 0
    for folder, _, names in os.walk(tree):
        for name in names:
            st = os.stat(os.path.join(folder, name))
            if st.st_nlink != 1 or not st.st_mode & 0o200:
                return False
            seen += 1
    return seen == files


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
    if exe.exists() and subprocess.run([exe, "--version"], capture_output=True, text=True).stdout.strip() == DVC_PIN:
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


def source_rev(exe: str) -> str | None:
    """The git commit of the source an editable mlx runs from (it may change during a run)."""
    root = Path(exe).resolve().parent.parent.parent
    r = subprocess.run(["git", "-C", str(root), "log", "-1", "--format=%h"], capture_output=True, text=True)
    if r.returncode or not r.stdout.strip():
        return None
    dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--", "src"],
                           capture_output=True, text=True).stdout.strip()
    return r.stdout.strip() + ("+dirty" if dirty else "")


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

    def new_repo(self, tool: Tool, ds: Dataset, old: Path | None, config: tuple[str, str] | None = None) -> Path:
        """Untimed: git init + tool init in a new folder, with a copy of the data.

        The previous cold-add run's data/ is moved over when it is still plain copies
        (add leaves them alone in copy mode): fewer files to create now and delete later.
        """
        repo = self.new_dir("repos", ds.name, tool.name)
        check(["git", "init", "-q"], repo)
        for args in tool.init + [["config", "cache.type", "copy"]] + ([["config", *config]] if config else []):
            check(tool.argv(*args), repo, tool.env)
        if old is not None and plain_copies(old / "data", ds.files):
            os.rename(old / "data", repo / "data")
        else:
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

        def fresh(config: tuple[str, str] | None = None) -> Path:
            old = box.get("repo")
            box["repo"] = self.new_repo(tool, ds, old, config)
            if old is not None:
                self.trash.discard(old)
            return box["repo"]

        def repo() -> Path:
            return box["repo"]

        add, status, checkout = tool.argv("add", "data"), tool.argv("status"), tool.argv("checkout")
        res = {"add": measure(add, fresh, runs, tool.env, warmup=False, creates=True,
                              floor=self.floor_beside(tool, ds, "add"), reads=the_folder)}
        if "failed" in res["add"] or "repo" not in box:
            return res | {op: {"failed": "skipped: add failed"} for op in OPS[1:]}
        res["add again"] = measure(add, repo, runs, tool.env, warmup=True)
        res["status"] = measure(status, repo, runs, tool.env, warmup=True)
        res["status changed"] = measure(status, lambda: self.edit(ds, repo()), runs, tool.env, warmup=True,
                                        reads=the_folder)
        for mode in ("copy", "hardlink"):
            try:
                check(tool.argv("config", "cache.type", mode), repo(), tool.env)
            except SetupError as e:
                res[f"checkout {mode}"] = {"failed": f"set-up: {e}"}
                continue
            res[f"checkout {mode}"] = measure(checkout, lambda: self.move_aside(repo()), runs, tool.env,
                                              warmup=False, creates=True, reads=the_folder,
                                              floor=self.floor_beside(tool, ds, f"checkout {mode}"))
        res["gc"] = measure(tool.argv(*tool.gc), repo, runs, tool.env, warmup=True)
        if tool.name == "mlx" and ds.name == "small":
            res[ADD_NO_FSYNC] = measure(add, lambda: fresh(("core.fsync", "never")), runs, tool.env,
                                        warmup=False, creates=True, floor=self.floor_beside(tool, ds, ADD_NO_FSYNC),
                                        reads=the_folder)
        return res

    def floor_beside(self, tool: Tool, ds: Dataset, op: str) -> Floor | None:
        """The copy that `op`'s target compares mlx with, to be timed beside it (see measure)."""
        if tool.name != "mlx" or ds.name != "small":
            return None
        return copy_floor(FLOOR_OF.get(op), ds, lambda: self.new_dir("paired", ds.name, slug(op)))

    def floors(self, ds: Dataset) -> dict:
        runs, env, last = self.runs(ds), os.environ.copy(), {}

        def fresh(kind: str) -> Path:
            last[kind] = self.new_dir("floors", ds.name, kind)
            return last[kind]

        src, the_tree = str(ds.data), the_dataset(ds)
        res = {"cp -r": measure([*COPY_FLOORS["cp -r"], src, "data"], lambda: fresh("cp"), runs, env, False, True,
                                reads=the_tree),
               DURABLE_CP: measure(["sh", "-c", 'cp -r "$0" data && sync -f data', src], lambda: fresh("cps"),
                                   runs, env, False, True, reads=the_tree),
               "cp -al": measure([*COPY_FLOORS["cp -al"], src, "data"], lambda: fresh("ln"), runs, env, False, True,
                                 reads=the_tree)}
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


def against_floor(r: dict | None, floors: dict, floor: str | None) -> tuple[dict | None, float | None]:
    """The floor's result that `r` is compared with, and the ratio r/floor: from the runs paired
    with r's when there are any (see measure), else from the floors measured on their own."""
    if r and "paired" in r:
        return r["paired"], r["paired"]["ratio"]
    f = floors.get(floor) if floor else None
    return f, ratio(f, r)


def paired_note(mlx: dict | None) -> list[str]:
    paired = {op: r["paired"] for op, r in (mlx or {}).items() if "paired" in r}
    if not paired:
        return []
    orders = "; ".join(f"{op} {p['ratio_tool_first']:.2f}x and {p['ratio_floor_first']:.2f}x" for op, p in paired.items())
    return [f"  mlx/floor of {', '.join(paired)}: each mlx run timed beside a run of its floor (ABBA, as many "
            "pairs in each order), the geometric mean of each order's median ratio",
            f"  mlx/floor with mlx first, and with the floor first: {orders}"]


def fmt_ratio(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}x"


def targets(name: str, res: dict) -> list[tuple[str, str, str, bool | None]]:
    """(operation, target, measured, met) for mlx on this dataset."""
    mlx, floors, out = res["tools"].get("mlx"), res["floors"], []
    if mlx is None:
        return out
    if name == "small":
        for op, limit in (("add", 1.3), ("status", 2.0), ("checkout copy", 1.5), ("checkout hardlink", 2.0)):
            x = against_floor(mlx.get(op), floors, FLOOR_OF[op])[1]
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


def throughput(ds: Dataset, tools: dict, floors: dict) -> dict:
    size = (ds.data / ds.edit_path).stat().st_size
    speeds = {t: {op: size / 1e9 / r[op]["median"] for op in ("add", "status changed") if "median" in r[op]}
              for t, r in tools.items()}
    if "median" in floors.get(DURABLE_CP, {}):
        speeds["floor"] = {DURABLE_CP: size / 1e9 / floors[DURABLE_CP]["median"]}
    return speeds


def verdict(met: bool | None) -> str:
    return "met" if met else "MISSED" if met is False else "n/a"


def table_row(op: str, m: dict | None, d: dict | None, floors: dict, target: tuple | None) -> str:
    floor = FLOOR_OF.get(op) if floors else None
    f, x = against_floor(m, floors, floor)
    return (f"{op:<18} {cell(m):>8} {cell(m, 'peak_rss_mib', '{:.0f}'):>8} {cell(d):>8} "
            f"{cell(d, 'peak_rss_mib', '{:.0f}'):>8} {fmt_ratio(ratio(m, d)):>8}  {floor or '':<14} "
            f"{cell(f) if floor else '':>8} {fmt_ratio(x) if floor else '':>9}  "
            f"{f'{target[1]}: {verdict(target[3])}' if target else ''}")


def row_notes(op: str, tool: str, r: dict | None, runs: int) -> list[str]:
    """FAILED with the last stderr line; fewer or more runs than asked; other processes busy."""
    if not r:
        return []
    if "failed" in r:
        return [f"  {tool} {op} FAILED: {r['failed']}"]
    why = f"first run > {SLOW_S:.0f} s" if r["runs"] < runs else "timed beside its floor: as many pairs in each order"
    notes = [f"  {tool} {op}: median of {r['runs']} runs ({why})"] if r["runs"] != runs else []
    if r.get("noisy"):
        load = statistics.mean(f / t for f, t in zip(r["foreign_cpu_s"], r["times"]))
        notes.append(f"  {tool} {op}: other processes busy in {r['noisy']} of {r['runs']} runs "
                     f"(on average {load:.1f} cores besides the command)")
    return notes


def render(name: str, ds: Dataset | None, res: dict, quick: bool) -> str:
    mlx, dvc, floors = res["tools"].get("mlx"), res["tools"].get("dvc"), res["floors"]
    goals = targets(name, res)
    title = f"== {name}: {ds.describe()}" if ds else f"== {name}"
    title += f"  [mlx {res['mlx_rev']}]" if res.get("mlx_rev") else ""
    lines = [f"{title}  (median of {res['runs']} runs; whole processes, spawn to exit)",
             f"{'operation':<18} {'mlx s':>8} {'mlx MiB':>8} {'dvc s':>8} {'dvc MiB':>8} {'dvc/mlx':>8}"
             f"  {'floor':<14} {'floor s':>8} {'mlx/floor':>9}  target"]
    notes = []
    for op in res["ops"]:
        m, d = (mlx.get(op) if mlx else None), (dvc.get(op) if dvc else None)
        target = next((g for g in goals if g[0] == op), None)
        lines.append(table_row(op, m, d, floors, target))
        notes += row_notes(op, "mlx", m, res["runs"]) + row_notes(op, "dvc", d, res["runs"])
    for floor, r in floors.items():
        lines.append(f"{'floor':<18} {'':>44}  {floor:<14} {cell(r):>8}")
        notes += row_notes(floor, "floor", r, res["runs"])
    for tool, ops in res.get("throughput_gbps", {}).items():
        lines.append(f"  {tool} throughput: " + ", ".join(f"{op} {v:.2f} GB/s" for op, v in ops.items()))
    durable = ratio(floors.get(DURABLE_CP), mlx.get("add") if mlx else None)
    if durable is not None:
        lines.append(f"  mlx add: {fmt_ratio(durable)} {DURABLE_CP} (not a target: the same durability as mlx's barrier)")
    unsynced = against_floor(mlx.get(ADD_NO_FSYNC) if mlx else None, floors, "cp -r")[1]
    if unsynced is not None:
        lines.append(f"  mlx {ADD_NO_FSYNC}: {fmt_ratio(unsynced)} cp -r (not a target: core.fsync never, "
                     "as durable as cp -r and DVC)")
    lines += paired_note(mlx)
    lines += [f"  target {op}: {t} -> {m}: {verdict(met)}" + (" (quick data: indicative only)" if quick else "")
              for op, t, m, met in goals if op == "all" or name == "large"]
    return "\n".join(lines + notes)


# ---------------------------------------------------------------- main
def bench_dataset(ds: Dataset, tools: list[Tool], bench: Bench, trash: Trash) -> dict:
    ops = [op for op in OPS if op != ADD_NO_FSYNC or ds.name == "small"]
    rows = sum(FLOOR_OF.get(op) == "cp -r" for op in ops) if ds.name == "small" else 0  # Bench.floor_beside
    paired = copies_beside(bench.runs(ds)) * rows
    make_room(ds.disk_bytes() * (9 * bench.runs(ds) + 8 + paired) + 4 * GIB, f"the {ds.name} section", trash)
    ensure_dataset(ds, trash)
    res = {"dataset": asdict(ds), "runs": bench.runs(ds), "ops": ops, "tools": {}}
    for tool in tools:
        if tool.name == "mlx":
            res["mlx_rev"] = source_rev(tool.exe)
        print(f"  {clock()} {ds.name}: {tool.name} ...", flush=True)
        res["tools"][tool.name] = bench.tool_ops(tool, ds)
    print(f"  {clock()} {ds.name}: floors ...", flush=True)
    res["floors"] = bench.floors(ds)
    if ds.name == "large":
        res["throughput_gbps"] = throughput(ds, res["tools"], res["floors"])
    return res


def clock() -> str:
    return f"[{time.time() - START:4.0f} s]"


def bench_startup(tools: list[Tool], runs: int) -> dict:
    res = {"runs": runs, "ops": ["--version"], "tools": {}, "floors": {}}
    for tool in tools:
        res["tools"][tool.name] = {"--version": measure(tool.argv("--version"), lambda: SESSION, runs,
                                                        tool.env, warmup=True)}
    python = Path(tools[0].exe).parent / "python"  # the interpreter mlx runs on, if it is there
    python = str(python) if tools[0].name == "mlx" and python.exists() else sys.executable
    res["floors"]["python -c pass"] = measure([python, "-c", "pass"], lambda: SESSION, runs,
                                              os.environ.copy(), warmup=True)
    return res


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="10^4 small files, 128 MiB large, 200 medium")
    p.add_argument("--only", default="small,medium,large,startup", help="comma-separated sections")
    p.add_argument("--runs", type=int, help="timed runs per operation (default 5, --quick 3; large: at most 3)")
    p.add_argument("--out", type=Path, help="write every raw timing to this JSON file")
    p.add_argument("--mlx", default=str(DEFAULT_MLX), help="mlx executable")
    return p.parse_args()


def main() -> int:
    args = parse_args()
    args.runs = args.runs or (3 if args.quick else 5)
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    datasets = make_datasets(args.quick)
    unknown = set(only) - set(datasets) - {"startup"}
    if unknown:
        sys.exit(f"unknown section(s): {', '.join(sorted(unknown))}")
    trash, t0 = Trash(), time.time()
    if SESSION.exists():
        trash.discard(SESSION)
    trash.empty_now()  # left over from an earlier run; settle() then waits
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
    trash.empty_later()
    print(f"total {time.time() - t0:.0f} s")
    if args.out:
        meta = {"date": datetime.datetime.now().isoformat(timespec="seconds"), "quick": args.quick,
                "runs": args.runs, "mlx": mlx_ver, "dvc": DVC_PIN, "cores": os.cpu_count(),
                "targets": {n: targets(n, r) for n, r in report.items()}}
        args.out.write_text(json.dumps({"meta": meta, **report}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
