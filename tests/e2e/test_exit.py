"""How the `mlx` executable ends (mlxkit.cli.entry): without the interpreter's teardown, but with
everything that teardown does that anyone can see. Python buffers stdout when it is not a terminal
(unless PYTHONUNBUFFERED is set, as it is on some machines that run this suite: these tests unset
it), so output still in the buffer must reach its file, and a stdout that cannot take it must
still fail the command."""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.conftest import mlx_executable


def run_to(target, *args: str, cwd) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if key != "PYTHONUNBUFFERED"}
    with open(target, "wb") as out:
        return subprocess.run([mlx_executable(), *args], cwd=cwd, env=env, stdout=out, stderr=subprocess.PIPE,
                              stdin=subprocess.DEVNULL, text=True, check=False, timeout=120)


@pytest.mark.parametrize("args", [("--version",), ("config", "core.jobs")], ids=["version", "a command"])
def test_buffered_output_reaches_a_file(repo, mlx, args):
    assert mlx("config", "core.jobs", "3").code == 0

    done = run_to(repo.path / "out.txt", *args, cwd=repo.path)

    assert (done.returncode, done.stderr) == (0, "")
    assert (repo.path / "out.txt").read_text() == ("mlx 0.1.0\n" if args == ("--version",) else "3\n")


def test_a_stdout_that_cannot_take_the_output_fails_the_command(tmp_path):
    """/dev/full refuses every write: Python's own exit reports it (exit 120), and so does mlx's."""
    if not os.path.exists("/dev/full"):
        pytest.skip("needs /dev/full")

    done = run_to("/dev/full", "--version", cwd=tmp_path)

    assert done.returncode == 120, done
    assert "No space left on device" in done.stderr and "Traceback" not in done.stderr, done
