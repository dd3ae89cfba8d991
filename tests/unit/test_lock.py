"""RepoLock: one writer at a time; the second fails fast naming the holder, or waits; a crash frees it."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlxkit.errors import LockedError
from mlxkit.repo.lock import RepoLock, describe_holder

HOLDER = """
import sys
from pathlib import Path
from mlxkit.repo.lock import RepoLock
lock = RepoLock(Path(sys.argv[1]), sys.argv[2])
lock.acquire()
print("locked", flush=True)
sys.stdin.read()  # hold the lock until the test closes our stdin
lock.release()
print("released", flush=True)
"""
STARTED = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00"


@pytest.fixture
def tmp_dir(tmp_path: Path) -> Path:
    path = tmp_path / ".mlx" / "tmp"
    path.mkdir(parents=True)
    return path


@pytest.fixture
def holder(tmp_dir: Path) -> Iterator[subprocess.Popen[str]]:
    """Another process holding the lock as 'mlx gc --all'."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(tmp_dir), "mlx gc --all"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline() == "locked\n"
    yield proc
    if proc.poll() is None:
        proc.kill()
    proc.wait(30)


def test_lock_held_by_another_process_fails_fast_naming_pid_host_and_command(tmp_dir, holder):
    with pytest.raises(LockedError) as info:
        RepoLock(tmp_dir, "mlx add data").acquire()
    host = re.escape(os.uname().nodename)
    assert re.fullmatch(
        rf"the repository is locked by pid {holder.pid} on {host} \('mlx gc --all', since {STARTED}\)",
        info.value.message,
    ), info.value.message
    assert info.value.hint == "wait for that command to finish, or pass --wait SECONDS to queue behind it"
    assert LockedError.exit_code == 11
    assert json.loads((tmp_dir / "lock.json").read_text())["pid"] == holder.pid


def test_lock_waiting_less_than_the_holder_takes_fails_saying_how_long_it_waited(tmp_dir, holder):
    with pytest.raises(LockedError, match=rf"^the repository is locked after waiting 0.3s by pid {holder.pid} on "):
        RepoLock(tmp_dir, "mlx add data", wait=0.3).acquire()


def test_lock_with_wait_succeeds_once_the_holder_exits(tmp_dir, holder):
    with pytest.raises(LockedError):
        RepoLock(tmp_dir, "mlx add data").acquire()
    assert holder.stdin is not None
    releaser = threading.Timer(0.3, holder.stdin.close)
    releaser.start()
    try:
        with RepoLock(tmp_dir, "mlx add data", wait=60):
            info = json.loads((tmp_dir / "lock.json").read_text())
            assert (info["pid"], info["command"]) == (os.getpid(), "mlx add data")
    finally:
        releaser.join()
    assert holder.wait(30) == 0
    assert holder.stdout is not None
    assert holder.stdout.read() == "released\n"
    assert not (tmp_dir / "lock.json").exists()


def test_lock_is_released_by_the_kernel_when_the_holder_is_killed(tmp_dir, holder):
    holder.send_signal(signal.SIGKILL)
    assert holder.wait(30) == -signal.SIGKILL
    # The dead holder's description is left behind; the lock itself is free, without waiting.
    assert json.loads((tmp_dir / "lock.json").read_text())["pid"] == holder.pid
    with RepoLock(tmp_dir, "mlx add data"):
        assert json.loads((tmp_dir / "lock.json").read_text())["pid"] == os.getpid()


def test_lock_release_removes_the_holder_description_and_frees_the_lock(tmp_dir):
    with RepoLock(tmp_dir, "mlx add"):
        info = json.loads((tmp_dir / "lock.json").read_text())
        assert set(info) == {"pid", "host", "command", "started"}
        assert (info["pid"], info["host"], info["command"]) == (os.getpid(), os.uname().nodename, "mlx add")
        assert re.fullmatch(STARTED, info["started"])
    assert not (tmp_dir / "lock.json").exists()
    assert (tmp_dir / "lock").exists()
    with RepoLock(tmp_dir, "mlx add"):
        pass


def test_lock_is_exclusive_between_two_lock_objects_of_one_process(tmp_dir):
    with RepoLock(tmp_dir, "first"), pytest.raises(LockedError, match=rf"by pid {os.getpid()} on .*\('first', since"):
        RepoLock(tmp_dir, "second").acquire()


def test_release_without_acquire_is_harmless(tmp_dir):
    RepoLock(tmp_dir, "x").release()


@pytest.mark.parametrize("content", [None, "", "{not json", '{"pid": 1}', "[]"])
def test_describe_holder_without_readable_details_says_so(tmp_dir, content):
    if content is not None:
        (tmp_dir / "lock.json").write_text(content)
    assert describe_holder(tmp_dir) == "another mlx process (its details are not written yet)"


HOLDER_WITH_CHILD = """
import os, sys, time
from pathlib import Path
from mlxkit.repo.lock import RepoLock
lock = RepoLock(Path(sys.argv[1]), "mlx repro -j 2")
lock.acquire()
child = os.fork()
if child == 0:  # a worker process that outlives its parent
    time.sleep(120)
    os._exit(0)
print(child, flush=True)
sys.stdin.read()
"""


def test_lock_is_released_when_the_holder_is_killed_even_if_a_forked_worker_lives_on(tmp_dir):
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER_WITH_CHILD, str(tmp_dir)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    assert proc.stdout is not None
    child = int(proc.stdout.readline())
    try:
        with pytest.raises(LockedError, match=rf"by pid {proc.pid} on "):
            RepoLock(tmp_dir, "mlx add").acquire()
        proc.kill()
        proc.wait(30)
        os.kill(child, 0)  # the worker is still alive
        # The worker drops its copy right after fork; under load it may not have run yet: wait for it.
        with RepoLock(tmp_dir, "mlx add", wait=30):
            pass
    finally:
        os.kill(child, signal.SIGKILL)
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)
