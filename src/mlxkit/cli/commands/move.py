from __future__ import annotations

from typing import Annotated

import typer

from mlxkit.cli import render
from mlxkit.cli.options import Json, Wait, examples


def move(
    source: Annotated[str, typer.Argument(help="A tracked path (or its pointer file).")],
    destination: Annotated[str, typer.Argument(help="The new path (or an existing directory to move into).")],
    json: Json = False,
    wait: Wait = None,
) -> None:
    """Move a tracked path together with its pointer file."""
    from mlxkit import api

    result = api.move(source, destination, wait=wait)
    if json:
        render.emit_json(result)
        return
    render.line(f"moved {result.source} -> {result.destination} ({result.pointer})")


def register(app: typer.Typer) -> None:
    app.command(epilog=examples("mlx move data/raw data/raw-2024", "mlx move model.joblib models/"))(move)
