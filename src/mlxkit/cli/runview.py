"""How `mlx run` and `mlx repro` show a run while it happens.

- On a terminal (`mlx run`): the stages' own output scrolls, and a live table at the bottom shows each
  stage's state and elapsed time.
- Otherwise (CI logs, `mlx repro`): plain lines, each with a UTC timestamp when `timestamps` is set.
With several stages running at once (`-j`), each output line is prefixed with its stage's name.
With --json the stages' output goes to stderr, so that stdout holds only the JSON report.
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

from mlxkit.cli import render
from mlxkit.pipeline.runner import FAILED, FROZEN, RAN, RESTORED, UP_TO_DATE, Event, StageOutcome


def describe(outcome: StageOutcome) -> str:
    """One line for a stage that ended."""
    name = f"'{outcome.name}'"
    if outcome.state == RAN:
        return f"{name} ran in {outcome.seconds:.1f} s"
    if outcome.state == RESTORED:
        return f"{name} {outcome.reasons[-1]}" if outcome.reasons else f"{name} restored"
    if outcome.state == FAILED:
        return f"{name} failed: {outcome.error}"
    if outcome.state == FROZEN:
        return f"{name} is frozen: not run"
    reasons = f": {'; '.join(outcome.reasons)}" if outcome.reasons else ""
    return f"{name} {outcome.state}{reasons}"


class RunView:
    def __init__(self, *, live: bool, prefix: bool, timestamps: bool, to_stderr: bool = False) -> None:
        self.prefix = prefix
        self.timestamps = timestamps
        self.out: TextIO = sys.stderr if to_stderr else sys.stdout
        self._live: Any = None
        self._states: dict[str, tuple[str, float]] = {}
        if live and not render.settings.quiet:
            from rich.console import Console
            from rich.live import Live

            self._console = Console(file=self.out, highlight=False)
            self._live = Live(self._table(), console=self._console, transient=True, auto_refresh=True, refresh_per_second=4)
            self._live.start()

    def __call__(self, event: Event) -> None:
        if event.kind == "start":
            self._states[event.stage] = ("running", time.monotonic())
            self._say(f"running '{event.stage}': {event.text}")
        elif event.kind == "line":
            self._output(f"{event.stage} | {event.text}" if self.prefix else event.text)
        elif event.outcome is not None:
            self._states[event.stage] = (event.outcome.state, self._states.get(event.stage, ("", time.monotonic()))[1])
            if event.outcome.state != UP_TO_DATE or render.settings.verbose:
                self._say(describe(event.outcome))
        if self._live is not None:
            self._live.update(self._table())

    def close(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None

    def _say(self, text: str) -> None:
        if render.settings.quiet:
            return
        if self.timestamps:
            text = time.strftime("%H:%M:%S ", time.gmtime()) + text
        self._output(text)

    def _output(self, text: str) -> None:
        if self._live is not None:
            self._console.print(text, markup=False, highlight=False, soft_wrap=True)
        elif not render.settings.quiet:
            self.out.write(text + "\n")
            self.out.flush()

    def _table(self) -> Any:
        from rich.table import Table

        table = Table(show_header=False, show_edge=False, box=None)
        now = time.monotonic()
        for name, (state, started) in self._states.items():
            elapsed = f"{now - started:5.1f} s" if state == "running" else ""
            table.add_row(name, state, elapsed)
        return table
