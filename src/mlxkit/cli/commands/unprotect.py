from __future__ import annotations

from typing import Annotated

import typer

from mlxkit.cli import render
from mlxkit.cli.options import Json, Wait, examples


def unprotect(
    paths: Annotated[list[str], typer.Argument(help="Tracked files or directories to make editable.", show_default=False, metavar="PATH...")],
    json: Json = False,
    wait: Wait = None,
) -> None:
    """Replace read-only links into the cache with editable copies."""
    from mlxkit import api

    result = api.unprotect(paths, wait=wait)
    if json:
        render.emit_json(result)
        return
    render.line(f"{render.plural(result.copied, 'file')} made editable ({result.already_editable} already were).")


def register(app: typer.Typer) -> None:
    app.command(epilog=examples("mlx unprotect models/model.joblib"))(unprotect)
