"""One writer at a time: a second writer fails fast naming the holder, or queues with --wait;
a holder that dies releases the lock; readers take no lock."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

HOLDER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from mlxkit.repo.lock import RepoLock

    with RepoLock(Path(sys.argv[1]), "mlx add data/holder"):
        print("locked", flush=True)
        sys.stdin.read()  # hold until the test closes our stdin
    print("released", flush=True)
    """
)
HINT = "hint: wait for that command to finish, or pass --wait SECONDS to queue behind it"


def wait_for(condition, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


@pytest.fixture
def holder(repo):
    """A process that holds the repository lock until its stdin is closed."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(repo / ".mlx" / "tmp")],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    assert proc.stdout.readline() == "locked\n"
    yield proc
    if proc.poll() is None:
        proc.kill()
    proc.wait(timeout=10)
    for pipe in (proc.stdin, proc.stdout):
        if not pipe.closed:
            pipe.close()


def holds_open(pid: int, path: Path) -> bool:
    fd_dir = Path(f"/proc/{pid}/fd")
    try:
        return any(os.readlink(fd) == str(path) for fd in fd_dir.iterdir())
    except (FileNotFoundError, ProcessLookupError):
        return False


def test_second_writer_fails_fast_naming_the_holder(repo, mlx, holder):
    repo.gen({"data": {"a.csv": "a\n"}})

    result = mlx("add", "data")

    assert result.code == 11, result
    first, hint = result.err_lines
    host = re.escape(socket.gethostname())
    assert re.fullmatch(
        rf"mlx: the repository is locked by pid {holder.pid} on {host} \('mlx add data/holder', since \S+\)", first
    ), first
    assert hint == HINT
    assert not (repo / "data.mlx").exists()
    assert repo.objects() == set()


@pytest.mark.parametrize("command", [("checkout",), ("gc",), ("fsck", "--repair"), ("config", "core.jobs", "2")])
def test_every_writer_takes_the_lock(repo, mlx, holder, command):
    result = mlx(*command)

    assert result.code == 11, result
    assert result.err_lines[1] == HINT


def test_readers_take_no_lock(repo, mlx, holder):
    repo.gen({"a.csv": "a\n"})

    assert mlx("status").code == 0
    assert mlx("fsck").code == 0
    assert mlx("config", "--list").code == 0


def test_wait_times_out_naming_the_holder(repo, mlx, holder):
    result = mlx("gc", "--wait", "0.3")

    assert result.code == 11, result
    assert result.err_lines[0].startswith(f"mlx: the repository is locked after waiting 0.3s by pid {holder.pid} ")


@pytest.mark.parametrize("seconds", ["-1", "nan"])
def test_wait_refuses_what_is_not_a_number_of_seconds(repo, mlx, holder, seconds):
    # nan used to wait forever (no deadline is ever reached) and -1 not at all
    result = mlx("gc", "--wait", seconds)

    assert result.code == 2, result
    assert "is not a number of seconds" in result.err


def test_wait_queues_behind_the_holder_and_then_succeeds(repo, mlx_path, holder):
    repo.gen({"data": {"a.csv": "a\n"}})
    waiter = subprocess.Popen(
        [mlx_path, "add", "--wait", "30", "data"], cwd=repo.path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        # The waiter has opened the lock file, so it is now polling for the lock the holder has.
        wait_for(lambda: holds_open(waiter.pid, repo / ".mlx" / "tmp" / "lock") or waiter.poll() is not None, "the waiter")
        assert waiter.poll() is None, waiter.communicate()
        assert not (repo / "data.mlx").exists()

        holder.stdin.close()
        out, err = waiter.communicate(timeout=60)
    finally:
        if waiter.poll() is None:
            waiter.kill()
    assert holder.wait(timeout=10) == 0
    assert waiter.returncode == 0, err
    assert out == "added     data (1 file, 2 B) -> data.mlx\n"
    assert (repo / "data.mlx").is_file()


def test_a_killed_holder_releases_the_lock(repo, mlx, holder):
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=10)
    assert (repo / ".mlx" / "tmp" / "lock.json").exists()  # stale holder details stay behind...
    repo.gen({"a.csv": "a\n"})

    result = mlx("add", "a.csv")  # ...and do not block anyone

    assert result.code == 0, result
    assert not (repo / ".mlx" / "tmp" / "lock.json").exists()


def test_two_real_writers_never_both_write(repo, mlx_path):
    # Two `mlx add` of different data at once: each either succeeds or fails with exit 11, and
    # whatever succeeded is complete and consistent.
    repo.gen({"one": {f"{i}.txt": f"one {i}\n" for i in range(300)}, "two": {f"{i}.txt": f"two {i}\n" for i in range(300)}})
    procs = [
        subprocess.Popen([mlx_path, "add", name], cwd=repo.path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for name in ("one", "two")
    ]
    results = [(p.wait(timeout=120), p.stderr.read()) for p in procs]
    for proc in procs:
        proc.stdout.close()
        proc.stderr.close()

    codes = sorted(code for code, _ in results)
    assert codes in ([0, 0], [0, 11]), results
    for (code, err), name in zip(results, ("one", "two")):
        assert (repo / f"{name}.mlx").exists() == (code == 0)
        if code == 11:  # the holder may not have written its details yet: the message then says so
            assert err.startswith("mlx: the repository is locked by "), err
    status = subprocess.run([mlx_path, "status", "--json"], cwd=repo.path, capture_output=True, text=True, check=True)
    assert '"is_clean": true' in status.stdout
