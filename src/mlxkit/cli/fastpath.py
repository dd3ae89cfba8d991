"""`mlx repro` and `mlx repro --frozen` when there is nothing to do, answered without typer or rich.

That is what CI runs on every push, and importing typer and rich there costs more than the check
itself. So, for exactly these two command lines, the check runs here first, through the same
pipeline code the commands use:

- `mlx repro`: the runner's dry run (what `repro --dry` decides with: the params and output
  ownership checks, then each stage's reasons), under the repository lock that `repro` takes.
- `mlx repro --frozen`: `api.pipeline_status(as_committed=True)`, as the command calls it.

`mlx repro` first asks the memo of the last no-op (pipeline/noop.py), which answers from stats alone
without importing the pipeline code; when the memo does not hold, the dry run decides, and a no-op
with nothing to warn about writes a new memo.

When every stage is up to date, this prints what the command prints then (the same lines through
`render`; a no-op `repro` shows no stage lines, on a terminal or not) and writes what it writes
(the stat cache, the lock's files in .mlx/tmp; no run record, mlx.lock untouched). Anything else -
a stage to run, restore or report, a frozen stage (its line carries a timestamp), a lock entry to
drop, any error, anything unexpected - returns None before printing a byte, and the normal command
runs from scratch: it decides again, and renders any error exactly as it always does.
"""

from __future__ import annotations

import os
import sys

COMMAND_LINES = (["repro"], ["repro", "--frozen"])


def answer(args: list[str]) -> int | None:
    """The exit code when `args` is a no-op repro that has been answered here; None when the normal
    command must run. Shell completion (an environment variable ending in _COMPLETE) always goes to typer."""
    if args not in COMMAND_LINES or any(name.endswith("_COMPLETE") for name in os.environ):
        return None
    if args == ["repro"] and (code := _answer_from_memo()) is not None:
        return code
    from mlxkit.cli.signals import Signalled, raise_on_signals

    raise_on_signals()  # as cli.app.run: the lock is released; the same message and codes
    try:
        answered = _answered(args)
        if answered is not None:
            from mlxkit.cli import render

            render.settings.verbose = render.settings.quiet = False  # what the typer callback sets without -v, -q
            warnings, text = answered
            render.warnings(warnings)
            render.line(text)
    except Signalled as exc:
        sys.stderr.write("mlx: interrupted\n")
        return exc.code
    return None if answered is None else 0


def _answer_from_memo() -> int | None:
    """0 once the memo's line is printed; None when the memo does not hold. It reads, and writes
    nothing, so an interrupt needs no clean-up: it only exits as the commands do."""
    from mlxkit.pipeline import noop

    try:
        text = noop.answer(os.getcwd())
    except KeyboardInterrupt:
        sys.stderr.write("mlx: interrupted\n")
        return 130
    except Exception:  # noqa: BLE001 - any doubt: the decision is made in full
        return None
    if text is None:
        return None
    sys.stdout.write(text + "\n")
    return 0


def _answered(args: list[str]) -> tuple[list[str], str] | None:
    """(warnings, the line to print) when there is nothing to do; None when the normal command must run."""
    try:
        return _check_frozen() if args == ["repro", "--frozen"] else _check_repro()
    except Exception:  # noqa: BLE001 - any doubt: the normal command decides, and reports the error
        return None


def _check_repro() -> tuple[list[str], str] | None:
    """(warnings, the line) when `mlx repro` would find every stage up to date and change nothing."""
    import time
    from pathlib import Path

    from mlxkit.cli.render import plural
    from mlxkit.pipeline import noop
    from mlxkit.pipeline.runner import UP_TO_DATE, Runner, RunOptions
    from mlxkit.repo.repository import find_repository

    repo = find_repository(Path.cwd(), command="mlx repro")  # as api.run opens it for the command
    try:
        with repo.lock(wait=None):
            started_ns = time.time_ns()
            runner = Runner(repo, RunOptions(dry=True), os.environ)
            outcomes = runner.run()
            if any(outcome.state != UP_TO_DATE for outcome in outcomes):
                return None
            if set(runner.lock.stages) - set(runner.graph.stages):
                return None  # a real run drops these entries from mlx.lock
            warnings = [*repo.state.warnings, *runner.run_cache.problems]  # what pipeline.run reports
            text = f"Everything is up to date ({plural(len(outcomes), 'stage')})."
            if not warnings:
                noop.record(repo, runner.graph, os.environ, started_ns, text)
    finally:
        repo.close()
    return warnings, text


def _check_frozen() -> tuple[list[str], str] | None:
    """([], the line) when `mlx repro --frozen` passes."""
    from mlxkit import api
    from mlxkit.cli.render import plural

    report = api.pipeline_status(None, as_committed=True, environ=os.environ)
    if report is None or not report.is_clean:
        return None
    return [], f"mlx.lock is up to date ({plural(len(report.stages), 'stage')})."
