from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Optional

import typer

from mlxkit.cli import render
from mlxkit.cli.options import Json, Wait, examples
from mlxkit.errors import IntegrityError, MissingObjectError

if TYPE_CHECKING:
    from mlxkit.tracking.fsck import FsckProblem
    from mlxkit.tracking.fsck_remote import RemoteFsckResult


def fsck(
    repair: Annotated[bool, typer.Option("--repair", help="Move bad objects out of the cache; remove leftover temp files.")] = False,
    remote: Annotated[Optional[str], typer.Option("--remote", "-r", help="Check this remote instead of the cache.")] = None,  # noqa: UP007
    read_data: Annotated[bool, typer.Option("--read-data", help="With --remote: read back and re-hash every object.")] = False,
    json: Json = False,
    wait: Wait = None,
) -> None:
    """Re-hash every cache object and check that every pointer's objects are there; or check a remote."""
    from mlxkit import api

    if remote is not None:
        _remote(api.fsck_remote(remote, read_data=read_data, progress=render.progress(not json)), json=json)
        return
    if read_data:
        raise typer.BadParameter("--read-data goes with --remote", param_hint="--read-data")
    result = api.fsck(repair=repair, wait=wait, progress=render.progress(not json))
    if json:
        render.emit_json(result)
    else:
        for problem in result.problems:
            render.line(_problem_line(problem))
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


def _problem_line(problem: FsckProblem) -> str:
    return f"{problem.kind}: {problem.object or ''} {problem.where} {problem.detail}".replace("  ", " ").strip()


def _remote(result: RemoteFsckResult, *, json: bool) -> None:
    if json:
        render.emit_json(result)
    else:
        for problem in result.problems:
            render.line(_problem_line(problem))
        for name in result.garbage:
            render.line(f"garbage: {name}")
        if result.garbage:
            render.line(f"{render.plural(len(result.garbage), 'garbage file')} ({render.size(result.garbage_bytes)}): "
                        "'mlx gc --cloud --all-commits' removes them (temp files once a day old)")
        what = (f"{render.plural(result.indexes, 'index file')}, {render.plural(result.packs, 'pack')}, "
                f"{result.loose} loose")
        read = f"; re-hashed {render.plural(result.objects_checked, 'object')} ({render.size(result.bytes_checked)})" if result.read_data else ""
        verdict = "no problems." if result.is_clean else f"{render.plural(len(result.problems), 'problem')}."
        render.line(f"Remote '{result.remote}': {what}{read}: {verdict}")
    if any(problem.kind in ("corrupt", "truncated pack", "missing pack", "invalid index") for problem in result.problems):
        raise IntegrityError(
            f"remote '{result.remote}' is damaged",
            hint="push again from a clone that has the objects; 'mlx gc --cloud' then removes what no index names",
        )


def register(app: typer.Typer) -> None:
    app.command(epilog=examples("mlx fsck", "mlx fsck --repair", "mlx fsck --remote origin --read-data"))(fsck)
