"""Who is using a remote: pushes hold it shared (they only add files, named by content, so any
number run at once), `gc --cloud` holds it exclusive (it deletes what no index names, which a
running push is about to name).

There is no flock on an object store, so a lock is a file, `locks/<64 random hex>.json`, as in
restic: write our lock, then list `locks/`. Two lockers that race both see each other and both
give up, never both proceed. A lock older than an hour is stale; it is broken only when asked
(`force`), since its holder might still be running (restic#3126).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from mlxkit.errors import InvalidFileError, LockedError, RemoteError
from mlxkit.formats.jsonio import load_json
from mlxkit.store.remotes.fs import RemoteFS, RemoteNotFoundError
from mlxkit.store.remotes.layout import LOCKS

STALE_AFTER = timedelta(hours=1)
_LOCK_NAME = re.compile(r"[0-9a-f]{64}\.json")


@dataclass(frozen=True)
class Holder:
    """What a lock file says; `started` is None when the file could not be read."""

    name: str
    host: str
    pid: int
    command: str
    started: datetime | None
    exclusive: bool

    def describe(self) -> str:
        if self.started is None:
            return f"an unreadable lock file '{LOCKS}/{self.name}'"
        return f"pid {self.pid} on {self.host} ('{self.command}', since {_iso(self.started)})"

    def is_stale(self, now: datetime) -> bool:
        return self.started is None or now - self.started > STALE_AFTER


@contextmanager
def remote_lock(fs: RemoteFS, exclusive: bool, command: str, force: bool = False) -> Iterator[None]:
    """Hold the remote shared or `exclusive` while the block runs; LockedError (exit 11) naming
    the holder when another command's lock conflicts. `force` removes conflicting stale locks."""
    now = datetime.now(timezone.utc)
    name = f"{os.urandom(32).hex()}.json"
    document = {"command": command, "exclusive": exclusive, "host": os.uname().nodename, "pid": os.getpid(), "started": _iso(now)}
    fs.write(f"{LOCKS}/{name}", json.dumps(document, sort_keys=True).encode())
    try:
        _check_others(fs, name, exclusive, force)
        yield
    except BaseException:
        with suppress(RemoteError):  # the first failure is the one to report
            fs.delete([f"{LOCKS}/{name}"])
        raise
    fs.delete([f"{LOCKS}/{name}"])


def _check_others(fs: RemoteFS, mine: str, exclusive: bool, force: bool) -> None:
    now = datetime.now(timezone.utc)
    for name in sorted(fs.list(LOCKS)):
        if name == mine or _LOCK_NAME.fullmatch(name) is None:
            continue
        holder = _read_holder(fs, name)
        if holder is None or not (exclusive or holder.exclusive):
            continue
        if holder.is_stale(now):
            if force:
                fs.delete([f"{LOCKS}/{name}"])
                continue
            age = "" if holder.started is None else ": the lock is over an hour old"
            raise LockedError(
                f"remote '{fs.name}' is locked by {holder.describe()}{age}",
                hint="if that command is no longer running, run again with --force to break its lock",
            )
        raise LockedError(
            f"remote '{fs.name}' is locked by {holder.describe()}",
            hint="wait for that command to finish, then run again",
        )


def _read_holder(fs: RemoteFS, name: str) -> Holder | None:
    """The lock's holder; None if the lock was released meanwhile."""
    try:
        data = fs.read(f"{LOCKS}/{name}")
    except RemoteNotFoundError:
        return None
    unreadable = Holder(name, "?", 0, "?", None, True)
    try:
        document = load_json(data, f"{LOCKS}/{name}")
    except InvalidFileError:
        return unreadable
    if not isinstance(document, dict):
        return unreadable
    host, pid, command = document.get("host"), document.get("pid"), document.get("command")
    started, exclusive = document.get("started"), document.get("exclusive")
    if not (isinstance(host, str) and type(pid) is int and isinstance(command, str) and isinstance(exclusive, bool)):
        return unreadable
    try:
        when = datetime.fromisoformat(started) if isinstance(started, str) else None
    except ValueError:
        when = None
    if when is None:
        return unreadable
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return Holder(name, host, pid, command, when, exclusive)


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec="seconds")
