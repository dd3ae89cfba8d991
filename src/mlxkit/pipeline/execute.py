"""Run one stage's commands: through the shell, in the stage's working directory, in a process group
of its own, with its output streamed line by line and its tail kept for the error message.

A stage runs in its own session, so a Ctrl-C in the terminal reaches mlx only; mlx then terminates the
stage's whole process group (SIGTERM, then SIGKILL after a grace period), so that no grandchild (a
training script's data loader workers) outlives the run.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

TAIL_LINES = 20
GRACE_SECONDS = 5.0

OnLine = Callable[[str], None]


@dataclass(frozen=True)
class Execution:
    exit_code: int  # of the first command that failed, or 0
    failed_command: str | None
    tail: tuple[str, ...]  # the last lines of output, for the error message
    seconds: float


class StageProcess:
    """The commands of one stage, run one after another in a background thread."""

    def __init__(self, commands: tuple[str, ...], cwd: Path, environ: Mapping[str, str], on_line: OnLine) -> None:
        self._commands = commands
        self._cwd = cwd
        self._environ = dict(environ)
        self._on_line = on_line
        self._tail: deque[str] = deque(maxlen=TAIL_LINES)
        self._process: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()
        self._cancelled = False
        self.result: Execution | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self, on_done: Callable[[StageProcess], None]) -> None:
        self._on_done = on_done
        self._thread.start()

    def _run(self) -> None:
        started = time.monotonic()
        exit_code, failed = 0, None
        try:
            for command in self._commands:
                exit_code = self._run_one(command)
                if exit_code != 0:
                    failed = command
                    break
        except OSError as exc:  # the shell itself could not start (a missing wdir, say)
            self._tail.append(str(exc))
            exit_code, failed = 127, self._commands[0]
        self.result = Execution(exit_code, failed, tuple(self._tail), time.monotonic() - started)
        self._on_done(self)

    def _run_one(self, command: str) -> int:
        with self._lock:
            if self._cancelled:
                return -signal.SIGTERM
            self._process = subprocess.Popen(
                ["/bin/sh", "-c", command],
                cwd=self._cwd,
                env=self._environ,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        assert self._process.stdout is not None
        for raw in self._process.stdout:
            text = raw.decode("utf-8", "replace").rstrip("\r\n")
            self._tail.append(text)
            self._on_line(text)
        return self._process.wait()

    def cancel(self) -> None:
        """Terminate the running command's whole process group and run no further command."""
        with self._lock:
            self._cancelled = True
            process = self._process
        if process is None or process.poll() is not None:
            return
        _signal_group(process.pid, signal.SIGTERM)
        try:
            process.wait(GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            _signal_group(process.pid, signal.SIGKILL)
            process.wait()

    def join(self) -> None:
        self._thread.join()


def _signal_group(pgid: int, signum: int) -> None:
    try:
        os.killpg(pgid, signum)
    except ProcessLookupError:
        pass
