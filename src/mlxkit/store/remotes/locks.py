"""Who is using a remote: pushes hold it shared (they only add files, named by content, so any
number run at once), `gc --cloud` holds it exclusive (it deletes what no index names, which a
running push is about to name).

There is no flock on an object store, so a lock is a file, `locks/<64 random hex>.json`, as in
restic: write our lock, then list `locks/`. Two lockers that race both see each other and both
give up, never both proceed. While the command runs, a thread rewrites its lock every
`REFRESH_EVERY` with a new `refreshed` time; a lock not refreshed for `STALE_AFTER` is stale (its
holder is most likely dead). It is broken only when asked (`force`), since its holder might still
be running (restic#3126), so a holder checks that its lock is still there (`HeldLock.check`)
before it makes visible what a breaker may have deleted meanwhile. (A breaker that deletes the lock
between the refresher's look and its write sees it come back; a push also checks that what it
uploaded is still there before it publishes.)
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from mlxkit.errors import InvalidFileError, LockedError, RemoteError
from mlxkit.formats.jsonio import load_json
from mlxkit.store.remotes.fs import RemoteFS, RemoteNotFoundError
from mlxkit.store.remotes.layout import LOCKS

STALE_AFTER = timedelta(hours=1)  # without a refresh; an old lock (no `refreshed`) counts from `started`
REFRESH_EVERY = 300.0  # seconds between two refreshes of a held lock
_LOCK_NAME = re.compile(r"[0-9a-f]{64}\.json")
_IDENTITY = ("command", "exclusive", "host", "pid", "started")  # what a refresh never changes


@dataclass(frozen=True)
class Holder:
    """What a lock file says; `started` is None when the file could not be read."""

    name: str
    host: str
    pid: int
    command: str
    started: datetime | None
    exclusive: bool
    refreshed: datetime | None = None  # None: a lock of an mlx that did not refresh its locks

    def describe(self) -> str:
        if self.started is None:
            return f"an unreadable lock file '{LOCKS}/{self.name}'"
        return f"pid {self.pid} on {self.host} ('{self.command}', since {_iso(self.started)})"

    def is_stale(self, now: datetime) -> bool:
        if self.started is None:
            return True
        return now - (self.refreshed or self.started) > STALE_AFTER


class HeldLock:
    """Our lock while the command runs: refreshed by a thread of its own until `release`."""

    def __init__(self, fs: RemoteFS, exclusive: bool, command: str) -> None:
        self.fs = fs
        self.path = f"{LOCKS}/{os.urandom(32).hex()}.json"
        now = _iso(datetime.now(timezone.utc))
        self._document: dict[str, Any] = {
            "command": command, "exclusive": exclusive, "host": os.uname().nodename, "pid": os.getpid(), "started": now,
            "refreshed": now,
        }  # fmt: skip
        self._stop = threading.Event()
        self._refresher = threading.Thread(target=self._refresh_until_released, name="mlx-lock", daemon=True)

    @property
    def name(self) -> str:
        return self.path.removeprefix(f"{LOCKS}/")

    def write(self) -> None:
        self.fs.write(self.path, json.dumps(self._document, sort_keys=True).encode())

    def start_refreshing(self) -> None:
        self._refresher.start()

    def check(self, before: str, hint: str) -> None:
        """RemoteError (exit 22) unless our lock file is still there as we wrote it: another
        command broke it (`--force`), and may have deleted what this one wrote. `before` says what
        is not done because of it."""
        try:
            document = load_json(self.fs.read(self.path), self.path)
        except (RemoteNotFoundError, InvalidFileError):
            document = None
        if not isinstance(document, dict) or any(document.get(key) != self._document[key] for key in _IDENTITY):
            raise RemoteError(
                f"the lock of this command on remote '{self.fs.name}' ({self.path}) was broken by another command, "
                f"so {before}",
                hint=hint,
            )

    def release(self) -> None:
        self._stop.set()
        if self._refresher.is_alive():
            self._refresher.join()
        self.fs.delete([self.path])

    def _refresh_until_released(self) -> None:
        while not self._stop.wait(_refresh_every()):
            try:
                if not self.fs.exists(self.path):  # broken: writing it again would hide that
                    return
                self._document["refreshed"] = _iso(datetime.now(timezone.utc))
                self.write()
            except Exception:  # noqa: BLE001 - a failed refresh is tried again; check() has the last word
                continue


def _refresh_every() -> float:
    """REFRESH_EVERY, or MLX_REMOTE_LOCK_REFRESH where it is a number of seconds above 0: tests set
    it to see a refresh happen; a user has no reason to."""
    try:
        seconds = float(os.environ.get("MLX_REMOTE_LOCK_REFRESH", REFRESH_EVERY))
    except ValueError:
        return REFRESH_EVERY
    return seconds if 0 < seconds < float("inf") else REFRESH_EVERY


@contextmanager
def remote_lock(fs: RemoteFS, exclusive: bool, command: str, force: bool = False) -> Iterator[HeldLock]:
    """Hold the remote shared or `exclusive` while the block runs; LockedError (exit 11) naming
    the holder when another command's lock conflicts. `force` removes conflicting stale locks."""
    lock = HeldLock(fs, exclusive, command)
    lock.write()
    try:
        _check_others(fs, lock.name, exclusive, force)
        lock.start_refreshing()
        yield lock
    except BaseException:
        with suppress(RemoteError):  # the first failure is the one to report
            lock.release()
        raise
    lock.release()


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
            age = "" if holder.started is None else ": the lock has not been refreshed for over an hour"
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
    exclusive = document.get("exclusive")
    if not (isinstance(host, str) and type(pid) is int and isinstance(command, str) and isinstance(exclusive, bool)):
        return unreadable
    started = _moment(document.get("started"))
    if started is None:
        return unreadable
    return Holder(name, host, pid, command, started, exclusive, _moment(document.get("refreshed")))


def _moment(text: object) -> datetime | None:
    """An ISO 8601 time (UTC when it names no zone), or None."""
    try:
        when = datetime.fromisoformat(text) if isinstance(text, str) else None
    except ValueError:
        return None
    if when is not None and when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec="seconds")
