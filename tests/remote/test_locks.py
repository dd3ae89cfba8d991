"""Remote locks: pushes share the remote, `gc --cloud` has it alone, a conflict names the holder,
and a lock older than an hour is broken only when asked (force)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

import pytest

from mlxkit.errors import LockedError
from mlxkit.store.remotes.fs import RemoteFS
from mlxkit.store.remotes.locks import REFRESH_EVERY, _refresh_every, remote_lock
from tests.remote_fixtures import RemoteSpec

HOST = os.uname().nodename


def foreign_lock(
    fs: RemoteFS, *, exclusive: bool, age: timedelta = timedelta(minutes=5), command: str = "mlx gc --cloud",
    refreshed: timedelta | None = None,
) -> str:
    """A lock written by another process (pid 4242 on 'other-host') `age` ago, last refreshed
    `refreshed` ago (None: an mlx that wrote no `refreshed`); returns its path."""
    now = datetime.now(timezone.utc)
    started = (now - age).isoformat(timespec="seconds")
    document = {"command": command, "exclusive": exclusive, "host": "other-host", "pid": 4242, "started": started}
    if refreshed is not None:
        document["refreshed"] = (now - refreshed).isoformat(timespec="seconds")
    path = f"locks/{os.urandom(32).hex()}.json"
    fs.write(path, json.dumps(document).encode())
    return path


def started_of(fs: RemoteFS, path: str) -> str:
    return json.loads(fs.read(path))["started"]


def test_a_lock_is_a_file_describing_the_holder_removed_on_exit(remote_url: RemoteSpec):
    fs = remote_url.open()

    with remote_lock(fs, exclusive=True, command="mlx gc --cloud"):
        listed = fs.list("locks")
        assert len(listed) == 1
        document = json.loads(fs.read(f"locks/{next(iter(listed))}"))

    assert fs.list("locks") == {}
    assert document.keys() == {"command", "exclusive", "host", "pid", "refreshed", "started"}
    assert document["refreshed"] == document["started"]
    assert (document["command"], document["exclusive"], document["host"], document["pid"]) == ("mlx gc --cloud", True, HOST, os.getpid())
    started = datetime.fromisoformat(document["started"])
    assert started.utcoffset() == timedelta(0) and document["started"].endswith("+00:00")


def test_shared_locks_do_not_conflict(remote_url: RemoteSpec):
    fs = remote_url.open()
    foreign_lock(fs, exclusive=False, command="mlx push")

    with remote_lock(fs, exclusive=False, command="mlx push"):
        with remote_lock(fs, exclusive=False, command="mlx push"):
            assert len(fs.list("locks")) == 3

    assert len(fs.list("locks")) == 1


@pytest.mark.parametrize(("theirs", "mine"), [(True, False), (False, True), (True, True)])
def test_an_exclusive_lock_on_either_side_conflicts_and_names_the_holder(remote_url: RemoteSpec, theirs, mine):
    fs = remote_url.open()
    path = foreign_lock(fs, exclusive=theirs, command="mlx push" if not theirs else "mlx gc --cloud")

    with pytest.raises(LockedError) as caught:
        with remote_lock(fs, exclusive=mine, command="mlx push"):
            pytest.fail("the block ran under a conflicting lock")

    command = "mlx gc --cloud" if theirs else "mlx push"
    assert caught.value.message == f"remote 'origin' is locked by pid 4242 on other-host ('{command}', since {started_of(fs, path)})"
    assert caught.value.hint == "wait for that command to finish, then run again"
    assert caught.value.exit_code == 11
    assert list(fs.list("locks")) == [path.removeprefix("locks/")]  # ours is gone, theirs stays


def test_a_stale_lock_blocks_until_forced(remote_url: RemoteSpec):
    fs = remote_url.open()
    path = foreign_lock(fs, exclusive=True, age=timedelta(hours=2))

    with pytest.raises(LockedError) as caught:
        with remote_lock(fs, exclusive=False, command="mlx push"):
            pass

    assert caught.value.message == (
        f"remote 'origin' is locked by pid 4242 on other-host ('mlx gc --cloud', since {started_of(fs, path)}): "
        "the lock has not been refreshed for over an hour"
    )
    assert caught.value.hint == "if that command is no longer running, run again with --force to break its lock"

    with remote_lock(fs, exclusive=False, command="mlx push", force=True):
        assert not fs.exists(path)


def test_force_never_breaks_a_fresh_lock(remote_url: RemoteSpec):
    fs = remote_url.open()
    path = foreign_lock(fs, exclusive=False, age=timedelta(minutes=59), command="mlx push")

    with pytest.raises(LockedError):
        with remote_lock(fs, exclusive=True, command="mlx gc --cloud", force=True):
            pass

    assert fs.exists(path)


def test_a_stale_shared_lock_does_not_block_a_push(remote_url: RemoteSpec):
    fs = remote_url.open()
    path = foreign_lock(fs, exclusive=False, age=timedelta(days=3), command="mlx push")

    with remote_lock(fs, exclusive=False, command="mlx push"):
        pass

    assert fs.exists(path)


def test_an_unreadable_lock_is_named_and_removed_only_by_force(remote_url: RemoteSpec):
    fs = remote_url.open()
    name = f"{'9' * 64}.json"
    fs.write(f"locks/{name}", b"\x00 not json")

    with pytest.raises(LockedError) as caught:
        with remote_lock(fs, exclusive=False, command="mlx push"):
            pass

    assert caught.value.message == f"remote 'origin' is locked by an unreadable lock file 'locks/{name}'"
    with remote_lock(fs, exclusive=False, command="mlx push", force=True):
        pass
    assert fs.list("locks") == {}


def test_the_lock_is_released_when_the_block_fails(remote_url: RemoteSpec):
    fs = remote_url.open()

    with pytest.raises(ZeroDivisionError):
        with remote_lock(fs, exclusive=True, command="mlx gc --cloud"):
            1 / 0

    assert fs.list("locks") == {}


def test_files_in_locks_that_are_not_lock_names_are_ignored(remote_url: RemoteSpec):
    fs = remote_url.open()
    fs.write("locks/README", b"not a lock")

    with remote_lock(fs, exclusive=True, command="mlx gc --cloud"):
        pass

    assert fs.list("locks") == {"README": 10}


def test_a_lock_refreshed_lately_is_not_stale_however_old(remote_url: RemoteSpec):
    fs = remote_url.open()
    path = foreign_lock(fs, exclusive=False, age=timedelta(days=2), refreshed=timedelta(minutes=4), command="mlx push")

    with pytest.raises(LockedError) as caught:
        with remote_lock(fs, exclusive=True, command="mlx gc --cloud", force=True):
            pytest.fail("a running push's lock was broken")

    assert caught.value.hint == "wait for that command to finish, then run again"
    assert fs.exists(path)


def test_a_lock_not_refreshed_for_an_hour_is_stale(remote_url: RemoteSpec):
    fs = remote_url.open()
    path = foreign_lock(fs, exclusive=False, age=timedelta(hours=3), refreshed=timedelta(minutes=61), command="mlx push")

    with pytest.raises(LockedError) as caught:
        with remote_lock(fs, exclusive=True, command="mlx gc --cloud"):
            pass
    assert caught.value.message.endswith(": the lock has not been refreshed for over an hour")

    with remote_lock(fs, exclusive=True, command="mlx gc --cloud", force=True):
        assert not fs.exists(path)


HOLD = """
import pathlib, sys, time
from mlxkit.store.remotes.location import open_remote
from mlxkit.store.remotes.locks import REFRESH_EVERY, _refresh_every, remote_lock

fs = open_remote("origin", sys.argv[1], {}, None)
with remote_lock(fs, exclusive=False, command="mlx push"):
    print("held", flush=True)
    while not pathlib.Path(sys.argv[2]).exists():
        time.sleep(0.05)
"""


def test_a_held_lock_is_refreshed_until_released(tmp_path):
    remote, stop = tmp_path / "remote", tmp_path / "stop"
    environment = {**os.environ, "MLX_REMOTE_LOCK_REFRESH": "0.1"}
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(remote), str(stop)], stdout=subprocess.PIPE, text=True, env=environment
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        (lock,) = (remote / "locks").iterdir()
        first = json.loads(lock.read_text())
        deadline = time.monotonic() + 60  # a bound on a hang, not a timing assertion
        while json.loads(lock.read_text())["refreshed"] == first["refreshed"] and time.monotonic() < deadline:
            time.sleep(0.05)
        later = json.loads(lock.read_text())
    finally:
        stop.touch()
        holder.wait(timeout=60)

    assert later["refreshed"] > first["refreshed"]
    assert {key: later[key] for key in later if key != "refreshed"} == {key: first[key] for key in first if key != "refreshed"}
    assert holder.returncode == 0
    assert list((remote / "locks").iterdir()) == []


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("0.1", 0.1), ("x", REFRESH_EVERY), ("0", REFRESH_EVERY), ("-5", REFRESH_EVERY), ("nan", REFRESH_EVERY), ("inf", REFRESH_EVERY)],
)
def test_the_refresh_interval_of_the_environment_is_taken_only_when_it_is_a_positive_number(monkeypatch, value, seconds):
    # 'x' made every push and gc an internal error (the module parsed it on import); '0' a busy loop
    monkeypatch.setenv("MLX_REMOTE_LOCK_REFRESH", value)

    assert _refresh_every() == seconds
