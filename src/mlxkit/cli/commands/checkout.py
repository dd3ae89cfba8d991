from __future__ import annotations

from typing import Annotated

import typer

from mlxkit.cli import render
from mlxkit.cli.options import Json, Targets, Wait, examples


def checkout(
    targets: Targets = None,
    force: Annotated[bool, typer.Option("--force", "-f", help="Overwrite files whose content is not in the cache.")] = False,
    relink: Annotated[bool, typer.Option("--relink", help="Re-place every file with the configured cache.type.")] = False,
    json: Json = False,
    wait: Wait = None,
) -> None:
    """Make the workspace match the pointer files, linking or copying from the cache."""
    from mlxkit import api
    from mlxkit.tracking.checkout import missing_error

    result = api.checkout(targets, force=force, relink=relink, wait=wait, progress=render.progress(not json))
    render.warnings(result.warnings)
    if json:
        render.emit_json(result)
    else:
        for path in result.paths:
            render.line(f"updated   {path}")
        kinds = ", ".join(f"{count} by {kind}" for kind, count in sorted(result.link_types.items()))
        summary = f"{render.plural(result.placed, 'file')} placed" + (f" ({kinds})" if kinds else "")
        render.line(f"{summary}, {result.deleted} deleted, {result.unchanged} unchanged.")
    if result.missing:
        raise missing_error(result.missing)


def register(app: typer.Typer) -> None:
    app.command(epilog=examples("mlx checkout", "mlx checkout data/raw --force", "mlx checkout --relink"))(checkout)
