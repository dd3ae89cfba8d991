"""One writer at a time: an flock on `.mlx/tmp/lock`, with the holder described in `lock.json`.

The kernel releases an flock when its process dies, so a crash never leaves the repository stuck,
and mlx never "breaks" a lock whose holder might be alive (restic#3126). Readers take no lock.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from datetime import datetime, timezone
from pathlib import Path
from types import TracebackType

from mlxkit.errors import LockedError
from mlxkit.fs.atomic import write_atomic

POLL_SECONDS = 0.1
_HELD: set[int] = set()  # descriptors of locks this process holds


def _close_in_child() -> None:
    """An flock belongs to the open file, which fork shares: a forked worker that outlived this
    process (kill -9) would keep the repository locked. The child closes its copy; the parent's
    lock is unaffected."""
    for fd in list(_HELD):
        try:
            os.close(fd)
        except OSError:
            pass
    _HELD.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_close_in_child)


class RepoLock:
    def __init__(self, tmp_dir: Path, command: str, *, wait: float | None = None) -> None:
        self.tmp_dir = tmp_dir
        self.command = command
        self.wait = wait
        self._fd: int | None = None

    def __enter__(self) -> RepoLock:
        self.acquire()
        return self

    def __exit__(self, *exc: tuple[type[BaseException] | None, BaseException | None, TracebackType | None]) -> None:
        self.release()

    def acquire(self) -> None:
        fd = os.open(self.tmp_dir / "lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        deadline = None if self.wait is None else time.monotonic() + self.wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if deadline is None or time.monotonic() >= deadline:
                    holder = describe_holder(self.tmp_dir)
                    os.close(fd)
                    waited = f" after waiting {self.wait:g}s" if self.wait else ""
                    raise LockedError(
                        f"the repository is locked{waited} by {holder}",
                        hint="wait for that command to finish, or pass --wait SECONDS to queue behind it",
                    ) from None
                time.sleep(POLL_SECONDS)
        self._fd = fd
        _HELD.add(fd)
        holder = {
            "pid": os.getpid(),
            "host": os.uname().nodename,
            "command": self.command,
            "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        write_atomic(self.tmp_dir / "lock.json", json.dumps(holder).encode(), durable=False)

    def release(self) -> None:
        if self._fd is None:
            return
        try:
            os.unlink(self.tmp_dir / "lock.json")
        except FileNotFoundError:
            pass
        _HELD.discard(self._fd)
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None


def describe_holder(tmp_dir: Path) -> str:
    try:
        info = json.loads((tmp_dir / "lock.json").read_text(encoding="utf-8"))
        return f"pid {info['pid']} on {info['host']} ('{info['command']}', since {info['started']})"
    except (OSError, ValueError, KeyError, TypeError):
        return "another mlx process (its details are not written yet)"

