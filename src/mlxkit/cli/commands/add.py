from __future__ import annotations

import shlex
from typing import Annotated

import typer

from mlxkit.cli import render
from mlxkit.cli.options import Json, Wait, examples


def add(
    paths: Annotated[list[str], typer.Argument(help="Files or directories to track.", show_default=False, metavar="PATH...")],
    json: Json = False,
    wait: Wait = None,
) -> None:
    """Snapshot files or directories into the cache and write PATH.mlx pointer files."""
    from mlxkit import api

    result = api.add(paths, wait=wait, progress=render.progress(not json))
    render.warnings(result.warnings)
    if json:
        render.emit_json(result)
        return
    for item in result.paths:
        what = render.plural(item.files, "file") + ", " if item.files is not None else ""
        render.line(f"{item.change:9} {item.path} ({what}{render.size(item.size)}) -> {item.pointer}")
    to_stage = [item.pointer for item in result.paths if item.change != "unchanged"] + result.gitignores_changed
    if to_stage:
        render.info(f"next: git add {' '.join(map(shlex.quote, to_stage))}")


def register(app: typer.Typer) -> None:
    app.command(epilog=examples("mlx add data/raw", "mlx add models/model.joblib data/labels.csv"))(add)
