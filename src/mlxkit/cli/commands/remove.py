from __future__ import annotations

from typing import Annotated

import typer

from mlxkit.cli import render
from mlxkit.cli.options import Json, Wait, examples


def remove(
    targets: Annotated[list[str], typer.Argument(help="Pointer files (or tracked paths) to stop tracking.", show_default=False, metavar="TARGET...")],
    outs: Annotated[bool, typer.Option("--outs", help="Delete the tracked data from the workspace too.")] = False,
    force: Annotated[bool, typer.Option("--force", "-f", help="With --outs: delete even data not in the cache.")] = False,
    json: Json = False,
    wait: Wait = None,
) -> None:
    """Stop tracking paths: remove their pointer files (the data stays unless --outs)."""
    from mlxkit import api

    result = api.remove(targets, outs=outs, force=force, wait=wait)
    if json:
        render.emit_json(result)
        return
    for path in result.removed:
        kept = result.kept.get(path)
        left = f"; kept {kept} file{'s' if kept > 1 else ''} in it that mlx does not track" if kept else ""
        render.line(f"untracked {path}" + (f" (deleted{left})" if path in result.outs_deleted else ""))


def register(app: typer.Typer) -> None:
    app.command(epilog=examples("mlx remove data/raw.mlx", "mlx remove data/raw.mlx --outs"))(remove)
