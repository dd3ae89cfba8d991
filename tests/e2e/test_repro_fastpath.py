"""`mlx repro` and `mlx repro --frozen` with nothing to do skip typer and rich (cli/fastpath.py).

Each test runs the installed `mlx` (which takes the fast path when it can) and the typer command
itself (`cli.app.run`, which never does) on twin repositories, and compares what they print, exit
with and leave on disk.
"""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import sys
from pathlib import Path

import pytest

from mlxkit.repo.lock import RepoLock

from .test_startup import imported_modules, top_level

STAGES = 3
TYPER_PATH = "import sys; from mlxkit.cli.app import run; sys.exit(run(sys.argv[1:]))"


def pipeline_yaml(stages: int = STAGES) -> str:
    """A chain as in benchmarks/bench_pipeline.py: stage i copies the previous output and its param."""
    lines = ["stages:"]
    for i in range(1, stages + 1):
        previous = "seed.txt" if i == 1 else f"out/s{i - 1}.txt"
        command = f"sh -c 'cat {previous}; grep ^k{i}: params.yaml' > out/s{i}.txt"
        lines += [f"  s{i}:", f"    cmd: {json.dumps(command)}",
                  f"    deps: [{previous}]", f"    params: [k{i}]", f"    outs: [out/s{i}.txt]"]  # fmt: skip
    return "\n".join(lines) + "\n"


def build_chain(path: Path, mlx) -> Path:
    """A git repository holding the chain, run once and committed."""
    if not (path / ".mlx").is_dir():  # the `repo` fixture's is already a repository
        path.mkdir()
        subprocess.run(["git", "init", "-q", "-b", "main"], cwd=path, check=True)
        assert mlx("init", cwd=path).code == 0
    (path / "out").mkdir()
    (path / "seed.txt").write_text("seed\n")
    (path / "params.yaml").write_text("".join(f"k{i}: {7 * i}\n" for i in range(1, STAGES + 1)))
    (path / "mlx.yaml").write_text(pipeline_yaml())
    first = mlx("repro", cwd=path)
    assert first.code == 0, first
    subprocess.run(["git", "add", "-A"], cwd=path, check=True)
    subprocess.run(["git", "commit", "-q", "-m", "chain"], cwd=path, check=True)
    return path


@pytest.fixture
def chain(repo, mlx) -> Path:
    return build_chain(repo.path, mlx)


@pytest.fixture
def twin(tmp_path, mlx) -> Path:
    return build_chain(tmp_path / "twin", mlx)


def typer_path(*args: str, cwd: Path) -> tuple[int, str, str]:
    proc = subprocess.run([sys.executable, "-c", TYPER_PATH, *args], cwd=cwd, capture_output=True, text=True, check=False)
    return proc.returncode, proc.stdout, proc.stderr


def both(mlx, *args: str, cwd: Path, twin: Path | None = None) -> tuple[tuple[int, str, str], tuple[int, str, str]]:
    """(the installed mlx in `cwd`, the typer command in `twin` or else in `cwd` afterwards)."""
    fast = mlx(*args, cwd=cwd)
    return (fast.code, fast.out, fast.err), typer_path(*args, cwd=twin or cwd)


def runs_of(path: Path) -> list[str]:
    runs = path / ".mlx" / "runs"
    return sorted(p.name for p in runs.iterdir()) if runs.is_dir() else []


def steady(text: str) -> str:
    """Output without what changes from one run to the next: clock times, durations, run ids."""
    text = re.sub(r"^\d\d:\d\d:\d\d ", "HH:MM:SS ", text, flags=re.MULTILINE)
    text = re.sub(r"ran in \d+\.\d s", "ran in N s", text)
    return re.sub(r"recorded run \S+;", "recorded run ID;", text)


@pytest.mark.parametrize(
    ("args", "line"),
    [(("repro",), "Everything is up to date (3 stages).\n"), (("repro", "--frozen"), "mlx.lock is up to date (3 stages).\n")],
)
def test_a_noop_repro_prints_what_the_typer_command_prints_and_writes_nothing(chain, mlx, args, line):
    lock, runs = (chain / "mlx.lock").read_bytes(), runs_of(chain)

    fast, slow = both(mlx, *args, cwd=chain)

    assert fast == slow == (0, line, "")
    assert (chain / "mlx.lock").read_bytes() == lock
    assert runs_of(chain) == runs
    assert not (chain / ".mlx" / "tmp" / "lock.json").exists()  # the repository lock was released


@pytest.mark.parametrize("args", [("repro",), ("repro", "--frozen")])
def test_a_noop_repro_on_a_terminal_prints_the_same_as_the_typer_command(chain, mlx_path, args):
    def on_a_terminal(command: list[str]) -> bytes:
        leader, follower = pty.openpty()
        proc = subprocess.Popen(command, cwd=chain, stdout=follower, stderr=follower, stdin=subprocess.DEVNULL)
        os.close(follower)
        assert proc.wait(timeout=60) == 0
        output = b""
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # EIO: the terminal is closed and drained
                break
            if not chunk:
                break
            output += chunk
        os.close(leader)
        return output

    fast = on_a_terminal([mlx_path, *args])
    slow = on_a_terminal([sys.executable, "-c", TYPER_PATH, *args])

    assert fast == slow
    assert fast.endswith(b"up to date (3 stages).\r\n")


@pytest.mark.parametrize("args", [("repro",), ("repro", "--frozen")])
def test_a_noop_repro_imports_neither_typer_nor_rich(chain, args):
    modules = imported_modules(*args, cwd=chain)

    assert top_level(modules) & {"typer", "click", "rich"} == set()
    assert "mlxkit.cli.app" not in modules


def test_a_stale_stage_runs_and_prints_as_before(chain, twin, mlx):
    for path in (chain, twin):
        (path / "params.yaml").write_text((path / "params.yaml").read_text().replace("k2: 14", "k2: 15"))

    fast, slow = both(mlx, "repro", cwd=chain, twin=twin)

    assert fast[0] == slow[0] == 0
    assert steady(fast[1]) == steady(slow[1]) == (
        "HH:MM:SS running 's2': param 'k2' changed (14 -> 15)\nHH:MM:SS 's2' ran in N s\n"
        "HH:MM:SS running 's3': dep 'out/s2.txt' changed\nHH:MM:SS 's3' ran in N s\n"
    )
    assert steady(fast[2]) == steady(slow[2]) == "recorded run ID; next: git add mlx.lock\n"
    assert (chain / "out" / "s3.txt").read_text() == "seed\nk1: 7\nk2: 15\nk3: 21\n"
    assert (chain / "mlx.lock").read_bytes() == (twin / "mlx.lock").read_bytes()
    assert len(runs_of(chain)) == len(runs_of(twin)) == 2


def test_frozen_with_a_stale_stage_fails_as_before_and_runs_nothing(chain, mlx):
    (chain / "params.yaml").write_text((chain / "params.yaml").read_text().replace("k2: 14", "k2: 15"))

    fast, slow = both(mlx, "repro", "--frozen", cwd=chain)

    assert fast == slow == (1, "stale: 's2': param 'k2' changed (14 -> 15)\n", "")
    assert (chain / "out" / "s2.txt").read_text() == "seed\nk1: 7\nk2: 14\n"


def test_a_frozen_stage_is_reported_as_before(chain, twin, mlx):
    for path in (chain, twin):
        assert mlx("freeze", "s3", cwd=path).code == 0

    fast, slow = both(mlx, "repro", cwd=chain, twin=twin)

    assert fast[0] == slow[0] == 0
    assert steady(fast[1]) == steady(slow[1]) == "HH:MM:SS 's3' is frozen: not run\nEverything is up to date (3 stages).\n"


def test_a_lock_entry_of_a_removed_stage_is_dropped_as_before(chain, twin, mlx):
    for path in (chain, twin):
        (path / "mlx.yaml").write_text(pipeline_yaml(2))

    fast, slow = both(mlx, "repro", cwd=chain, twin=twin)

    assert fast == slow == (0, "Everything is up to date (2 stages).\n", "")
    assert "s3:" not in (chain / "mlx.lock").read_text()
    assert (chain / "mlx.lock").read_bytes() == (twin / "mlx.lock").read_bytes()


def test_a_locked_repository_is_refused_as_before(chain, mlx):
    with RepoLock(chain / ".mlx" / "tmp", "mlx add data"):
        fast, slow = both(mlx, "repro", cwd=chain)

    assert fast == slow
    assert fast[0] == 11 and fast[2].startswith(f"mlx: the repository is locked by pid {os.getpid()} on "), fast


def test_an_output_tracked_by_a_pointer_file_is_refused_as_before(chain, mlx):
    (chain / "out" / "s1.txt.mlx").write_text("")

    fast, slow = both(mlx, "repro", cwd=chain)

    assert fast == slow == (
        30, "", "mlx: 'out/s1.txt' is an output of stage 's1' and is tracked by 'out/s1.txt.mlx'\n"
        "hint: stop tracking it ('mlx remove out/s1.txt.mlx'), or take it out of the stage's outs\n",
    )  # fmt: skip


@pytest.mark.parametrize("args", [("repro",), ("repro", "--frozen")])
def test_outside_a_repository_the_error_is_as_before(tmp_path, mlx, args):
    fast, slow = both(mlx, *args, cwd=tmp_path)

    assert fast == slow
    assert fast[0] == 10 and fast[2].startswith("mlx: not an mlx repository"), fast
