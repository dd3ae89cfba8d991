from __future__ import annotations

from typing import Annotated

import typer

from mlxkit.cli import render
from mlxkit.cli.options import Json, Targets, examples

SHOWN = 10


def status(
    targets: Targets = None,
    exit_code: Annotated[bool, typer.Option("--exit-code", help="Exit 1 when anything is not clean (for CI).")] = False,
    json: Json = False,
) -> None:
    """Show tracked paths that are modified, missing, or not in the cache."""
    from mlxkit import api

    report = api.status(targets, progress=render.progress(not json))
    render.warnings(report.warnings)
    if json:
        render.emit_json(report)
    elif report.is_clean:
        render.line(f"Everything is up to date ({render.plural(report.tracked, 'tracked path')}).")
    else:
        for entry in report.paths:
            render.line(f"{', '.join(entry.changes)}: {entry.path}" + (f" ({entry.problem})" if entry.problem else ""))
            for label, files in (("added", entry.added), ("modified", entry.modified), ("deleted", entry.deleted)):
                for name in files[:SHOWN]:
                    render.line(f"    {label}: {entry.path}/{name}")
                if len(files) > SHOWN:
                    render.line(f"    ... and {len(files) - SHOWN} more {label}")
            if entry.missing_objects:
                render.line(f"    {render.plural(entry.missing_objects, 'object')} not in the cache")
    if exit_code and not report.is_clean:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command(epilog=examples("mlx status", "mlx status data/raw --json", "mlx status --exit-code   # in CI"))(status)
