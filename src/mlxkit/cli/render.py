"""All output goes through here: plain lines, rich tables, JSON, progress bars, errors.

Results arrive as dataclasses, so `--json` is their `asdict()` and cannot drift from the text.
Reports go to stdout; progress, warnings and errors to stderr. rich is imported only when a table or
a progress bar is drawn, which keeps the common one-line answers fast.
"""

from __future__ import annotations

import dataclasses
import json
import math
import sys
from dataclasses import dataclass
from typing import Any

from mlxkit.errors import MlxError
from mlxkit.fs.confine import RepoPath
from mlxkit.progress import NULL_PROGRESS, Progress
from mlxkit.store.digest import Digest


@dataclass
class Settings:
    verbose: bool = False
    quiet: bool = False


settings = Settings()


def line(text: str = "") -> None:
    if not settings.quiet:
        sys.stdout.write(text + "\n")


def info(text: str) -> None:
    """A side remark (what to do next, a warning) on stderr, silenced by -q."""
    if not settings.quiet:
        sys.stderr.write(text + "\n")


def warnings(items: list[str]) -> None:
    for item in items:
        warning(item)


def warning(item: str) -> None:
    sys.stderr.write(f"warning: {item}\n")


def as_data(value: Any) -> Any:
    if isinstance(value, (RepoPath, Digest)):  # values that are their text
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        data = {field.name: as_data(getattr(value, field.name)) for field in dataclasses.fields(value)}
        for name in ("is_clean",):
            if hasattr(type(value), name):
                data[name] = getattr(value, name)
        return data
    if isinstance(value, (list, tuple)):
        return [as_data(item) for item in value]
    if isinstance(value, dict):
        return {str(key): as_data(item) for key, item in value.items()}
    if isinstance(value, float) and not math.isfinite(value):
        return None  # JSON has no NaN or infinity: a reader's parser would refuse the whole report
    return value


def emit_json(value: Any) -> None:
    sys.stdout.write(json.dumps(as_data(value), indent=2, ensure_ascii=False) + "\n")


def table(title: str | None, columns: list[str], rows: list[list[str]], *, header: bool = True) -> None:
    if settings.quiet:
        return
    from rich.console import Console
    from rich.table import Table

    grid = Table(title=title, title_justify="left", show_edge=False, header_style="bold", show_header=header)
    for column in columns:
        grid.add_column(column, overflow="fold")
    for row in rows:
        grid.add_row(*row)
    Console(highlight=False).print(grid)


def size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError  # pragma: no cover


def plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def error(exc: MlxError) -> None:
    sys.stderr.write(f"mlx: {exc.message}\n")
    if exc.hint:
        sys.stderr.write(f"hint: {exc.hint}\n")


def internal_error(exc: BaseException) -> None:
    if settings.verbose:
        import traceback

        traceback.print_exception(exc)
    sys.stderr.write(f"mlx: internal error: {type(exc).__name__}: {exc}\nhint: this is a bug; rerun with -v for the traceback\n")


def progress(enabled: bool = True) -> Progress:
    """A live progress bar on stderr when it is a terminal, else nothing."""
    if not enabled or settings.quiet or not sys.stderr.isatty():
        return NULL_PROGRESS
    return _RichProgress()


class _RichProgress:
    def __init__(self) -> None:
        self._bar: Any = None
        self._task: Any = None

    def start(self, description: str, total: int | None = None, *, unit: str = "files") -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.finish()
        counter = DownloadColumn() if unit == "bytes" else MofNCompleteColumn()
        self._bar = Progress(
            TextColumn("{task.description}"), BarColumn(), counter, TimeElapsedColumn(), TimeRemainingColumn(),
            console=Console(stderr=True), transient=True,
        )
        self._bar.start()
        self._task = self._bar.add_task(description, total=total)

    def advance(self, amount: int = 1) -> None:
        if self._bar is not None:
            self._bar.advance(self._task, amount)

    def finish(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
