"""Options shared by several commands."""

from __future__ import annotations

import math
import sys
from typing import TYPE_CHECKING, Annotated, Optional

import typer

if TYPE_CHECKING:
    from mlxkit.tracking.history import Scope

Json = Annotated[bool, typer.Option("--json", help="Print the result as JSON, for scripts.")]


def _seconds(value: float | None) -> float | None:
    if value is not None and (math.isnan(value) or value < 0):
        raise typer.BadParameter(f"{value:g} is not a number of seconds (0 or more, or inf)")
    return value


Wait = Annotated[
    Optional[float],  # noqa: UP007 - typer needs Optional here
    typer.Option(
        "--wait", metavar="SECONDS", callback=_seconds,
        help="If another mlx command holds the lock, wait up to SECONDS (inf: forever).",
    ),
]
Targets = Annotated[
    Optional[list[str]],  # noqa: UP007
    typer.Argument(help="Tracked paths or their .mlx pointer files (default: everything tracked).", show_default=False, metavar="[TARGET]..."),
]

# A part of git's history, beside the workspace (tracking/history.py's Scope)
AllBranches = Annotated[bool, typer.Option("--all-branches", "-a", help="Also what the tip of every branch references.")]
AllTags = Annotated[bool, typer.Option("--all-tags", "-T", help="Also what every tag references.")]
AllCommits = Annotated[bool, typer.Option("--all-commits", "-A", help="Also what every commit references.")]
Revs = Annotated[
    Optional[list[str]],  # noqa: UP007
    typer.Option(
        "--rev", metavar="REV",
        help="Also what commit REV references: a branch, a tag or a sha (repeatable); '-' reads one per line from stdin.",
    ),
]


def history_scope(all_branches: bool, all_tags: bool, all_commits: bool, rev: list[str] | None = None) -> Scope:
    """The Scope the history options above name. `--rev -` reads commit names from stdin, one a
    line: the pre-push hook passes every commit a push sends that way, more than a command line holds."""
    from mlxkit.tracking.history import Scope

    revs: list[str] = []
    for name in rev or ():
        if name == "-" and (sys.stdin is None or sys.stdin.isatty()):
            raise typer.BadParameter("'-' reads commit names from stdin: pipe them in", param_hint="--rev")
        revs += [line.strip() for line in sys.stdin if line.strip()] if name == "-" else [name]
    return Scope(all_branches, all_tags, all_commits, tuple(revs))


def examples(*lines: str) -> str:
    """An epilog listing example invocations, one per line (typer folds plain text)."""
    return "[bold]Examples[/bold]\n\n" + "\n\n".join(f"  {line}" for line in lines)
