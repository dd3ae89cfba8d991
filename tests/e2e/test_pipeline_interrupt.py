"""Ctrl-C during `mlx run` stops the running stage's whole process group, and leaves mlx.lock and the
cache consistent: completed stages are recorded, the interrupted one is not, and a rerun finishes."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest
import yaml

PIPELINE = """\
stages:
  first:
    cmd: echo one > one.txt
    outs: [one.txt]
  slow:
    cmd: sleep 300 & echo $! > ../grandchild.pid; echo started; wait
    deps: [one.txt]
    outs: [two.txt]
"""


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is dead for our purpose
    with open(f"/proc/{pid}/stat") as handle:
        return handle.read().split(") ", 1)[1][0] != "Z"


def wait_for(path, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists() or not path.read_text().strip():
        if time.monotonic() > deadline:
            pytest.fail(f"{path} did not appear")
        time.sleep(0.05)


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_stops_the_stage_process_group_and_keeps_the_lockfile_consistent(repo, mlx, mlx_path, signum, code):
    repo.gen({"mlx.yaml": PIPELINE})
    pid_file = repo.path.parent / "grandchild.pid"
    proc = subprocess.Popen([mlx_path, "run"], cwd=repo.path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for(pid_file)
    grandchild = int(pid_file.read_text())

    proc.send_signal(signum)
    out, err = proc.communicate(timeout=30)

    assert proc.returncode == code, (out, err)
    assert err.endswith("mlx: interrupted\n"), err
    deadline = time.monotonic() + 10
    while alive(grandchild) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(grandchild), "the stage's background process outlived the run"
    assert list(yaml.safe_load((repo / "mlx.lock").read_text())["stages"]) == ["first"]
    assert not list(repo.path.rglob(".mlx-tmp-*"))

    (repo / "mlx.yaml").write_text(PIPELINE.replace("sleep 300 & echo $! > ../grandchild.pid; echo started; wait", "echo two > two.txt"))
    rerun = mlx("run")
    assert rerun.code == 0, rerun
    assert list(yaml.safe_load((repo / "mlx.lock").read_text())["stages"]) == ["first", "slow"]
