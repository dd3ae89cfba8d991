from __future__ import annotations

from typing import Annotated

import typer

from mlxkit.cli import render
from mlxkit.cli.options import Json, Wait, examples
from mlxkit.errors import IntegrityError, MissingObjectError


def fsck(
    repair: Annotated[bool, typer.Option("--repair", help="Move bad objects out of the cache; remove leftover temp files.")] = False,
    json: Json = False,
    wait: Wait = None,
) -> None:
    """Re-hash every cache object and check that every pointer's objects are there."""
    from mlxkit import api

    result = api.fsck(repair=repair, wait=wait, progress=render.progress(not json))
    if json:
        render.emit_json(result)
    else:
        for problem in result.problems:
            render.line(f"{problem.kind}: {problem.object or ''} {problem.where} {problem.detail}".replace("  ", " ").strip())
        for name in result.garbage:
            render.line(f"garbage: {name}" + (" (removed)" if repair else ""))
        for digest in result.repaired:
            render.line(f"moved to cache/bad/: {digest}")
        render.line(f"Checked {render.plural(result.objects_checked, 'object')} ({render.size(result.bytes_checked)}): "
                    + ("no problems." if result.is_clean else f"{render.plural(len(result.problems), 'problem')}."))
    if result.has_corruption:
        raise IntegrityError("corrupt objects in the cache", hint="run 'mlx fsck --repair', then re-add the data")
    if any(p.kind == "missing" for p in result.remaining):
        raise MissingObjectError(
            "objects named by pointer files are missing", hint="re-add the data with 'mlx add' where you still have it"
        )
    if result.remaining:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command(epilog=examples("mlx fsck", "mlx fsck --repair"))(fsck)
