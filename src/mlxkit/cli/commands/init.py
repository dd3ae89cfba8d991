from __future__ import annotations

from typing import Annotated

import typer

from mlxkit.cli import render
from mlxkit.cli.options import Json, examples


def init(
    no_git: Annotated[bool, typer.Option("--no-git", help="Use mlx in a directory that is not a git repository.")] = False,
    json: Json = False,
) -> None:
    """Create .mlx/ (configuration, cache) in the current directory."""
    from mlxkit import api

    result = api.init(no_git=no_git)
    if json:
        render.emit_json(result)
        return
    verb = "Reinitialized existing" if result.reinitialized else "Initialized"
    render.line(f"{verb} mlx repository in {result.root}/.mlx")
    if result.to_commit:
        render.info(f"next: git add {' '.join(result.to_commit)} && git commit -m 'Initialize mlx'")
    else:
        render.info("git-only features (gc across history, diffs at revisions) need a git repository")


def register(app: typer.Typer) -> None:
    app.command(epilog=examples("git init && mlx init", "mlx init --no-git"))(init)
