"""`mlx install [--uninstall]`, and `mlx merge-driver`, the hidden command git runs to merge mlx.lock."""

from __future__ import annotations

from typing import Annotated

import typer

from mlxkit.cli import render
from mlxkit.cli.options import Json, examples

_SAID = {
    "created": "created", "added": "added to your hook", "updated": "updated", "unchanged": "up to date",
    "skipped": "left alone", "removed": "removed from", "deleted": "deleted", "absent": "nothing to remove in",
}  # fmt: skip


def install(
    uninstall: Annotated[
        bool, typer.Option("--uninstall", help="Remove mlx's hook blocks, the merge driver and the .gitattributes line.")
    ] = False,
    json: Json = False,
) -> None:
    """Add git hooks beside any you have (post-checkout: mlx checkout; pre-commit: warn when data or mlx.lock is
    stale; pre-push: mlx push, which must succeed for git to push) and a merge driver for mlx.lock."""
    from mlxkit import api

    result = api.install(uninstall=uninstall)
    render.warnings(result.warnings)
    if json:
        render.emit_json(result)
        return
    for change in result.hooks:
        render.line(f"{change.hook} hook: {_SAID[change.action]} {change.path}")
    render.line(f"merge driver 'mlx-lock' in git config: {result.merge_driver}")
    render.line(f"'mlx.lock merge=mlx-lock' in .gitattributes: {result.attributes}")
    if result.to_commit:
        render.info(f"next: git add {' '.join(result.to_commit)}")


def merge_driver(
    base: Annotated[str, typer.Argument(help="The common ancestor's mlx.lock (git's %O).", show_default=False, metavar="BASE")],
    ours: Annotated[str, typer.Argument(help="Our mlx.lock (%A), replaced by the merge.", show_default=False, metavar="OURS")],
    theirs: Annotated[str, typer.Argument(help="Their mlx.lock (%B).", show_default=False, metavar="THEIRS")],
    path: Annotated[str, typer.Argument(help="The file's path in the repository (%P).", metavar="[PATH]")] = "mlx.lock",
) -> None:
    """Merge mlx.lock stage by stage into OURS; exit 1 when a stage changed differently on both sides."""
    from mlxkit import api

    result = api.merge_lock(base, ours, theirs, name=path)
    if result.problem is not None:
        render.warnings([f"cannot merge '{path}' stage by stage, so it is left as ours: {result.problem}"])
    for stage in result.conflicts:
        render.info(f"mlx: stage '{stage}' changed differently on both sides of '{path}'")
    if not result.is_clean:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command(epilog=examples("mlx install", "mlx install --uninstall"))(install)
    app.command("merge-driver", hidden=True)(merge_driver)
