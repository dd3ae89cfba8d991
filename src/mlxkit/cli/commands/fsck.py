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
    repair: Annotated[bool, typer.Option("--repair", help=(
        "Move bad objects out of the cache; remove leftover temp files. With --remote (implies --read-data): "
        "remove the damaged objects, and the trees that list them, from the remote, for 'mlx push' to send again."
    ))] = False,  # fmt: skip
    remote: Annotated[Optional[str], typer.Option("--remote", "-r", help="Check this remote instead of the cache.")] = None,  # noqa: UP007
    read_data: Annotated[bool, typer.Option("--read-data", help="With --remote: read back and re-hash every object.")] = False,
    force: Annotated[bool, typer.Option("--force", help="With --remote --repair: break a lock not refreshed for an hour.")] = False,
    json: Json = False,
    wait: Wait = None,
) -> None:
    """Re-hash every cache object and check that every pointer's objects are there; or check a remote."""
    from mlxkit import api

    if force and not (remote is not None and repair):
        raise typer.BadParameter("--force goes with --remote --repair", param_hint="--force")
    if remote is not None:
        progress = render.progress(not json)
        _remote(api.fsck_remote(remote, read_data=read_data, repair=repair, force=force, progress=progress), json=json)
        return
    if read_data:
        raise typer.BadParameter("--read-data goes with --remote", param_hint="--read-data")
    result = api.fsck(repair=repair, wait=wait, progress=render.progress(not json))
    render.warnings(result.warnings)
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
            "objects named by pointer files or mlx.lock are missing",
            hint="fetch them ('mlx fetch'), re-add the data ('mlx add'), or run the stage that writes it again",
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
        if result.repaired is not None:
            _repair_lines(result)
    remaining = {problem.kind for problem in result.remaining}
    if "corrupt" in remaining:
        raise IntegrityError(
            f"remote '{result.remote}' is damaged",
            hint=f"run 'mlx fsck --remote {result.remote} --read-data --repair', then 'mlx push' from a clone that has the objects",
        )
    if remaining & {"truncated pack", "missing pack", "invalid index"}:
        raise IntegrityError(
            f"remote '{result.remote}' is damaged",
            hint="push again from a clone that has the objects; 'mlx gc --cloud' then removes what no index names",
        )


def _repair_lines(result: RemoteFsckResult) -> None:
    repaired = result.repaired
    assert repaired is not None
    for digest in repaired.objects:
        render.line(f"removed damaged: {digest}")
    for digest in repaired.trees:
        render.line(f"removed tree listing it: {digest}")
    if not repaired.changed:
        render.line("Nothing to repair.")
        return
    render.line(
        f"Repaired '{result.remote}': removed {render.plural(len(repaired.objects), 'damaged object')} and "
        f"{render.plural(len(repaired.trees), 'tree')} listing them ({repaired.loose_deleted} loose, "
        f"{repaired.entries_dropped} packed; {render.plural(repaired.indexes_rewritten, 'index file')} rewritten)."
    )
    render.line("'mlx push' from a clone whose cache holds them sends them again; "
                "'mlx gc --cloud --all-commits' frees what is left of them in packs.")


def register(app: typer.Typer) -> None:
    app.command(epilog=examples(
        "mlx fsck", "mlx fsck --repair", "mlx fsck --remote origin --read-data", "mlx fsck --remote origin --read-data --repair"
    ))(fsck)
