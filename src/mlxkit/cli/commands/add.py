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
        render.info(f"next: git add {' '.join(_shell_words(to_stage))}")


def _shell_words(paths: list[str], most: int = 10) -> list[str]:
    """`paths` quoted for a shell; beyond `most`, the pointer files of a folder as one glob
    (`mlx add data/*.csv` must not print 4,000 names back)."""
    if len(paths) <= most:
        return [shlex.quote(path) for path in paths]
    words: dict[str, None] = {}
    for path in paths:
        folder, _slash, name = path.rpartition("/")
        glob = f"{shlex.quote(folder + '/') if folder else ''}*.mlx"
        words[glob if name.endswith(".mlx") else shlex.quote(path)] = None
    return list(words)


def register(app: typer.Typer) -> None:
    app.command(epilog=examples("mlx add data/raw", "mlx add models/model.joblib data/labels.csv"))(add)
