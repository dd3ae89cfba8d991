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
        "write back the indexes this clone has a good copy of; remove from the remote what is damaged (objects, "
        "missing or truncated packs, other unreadable indexes) and the trees listing what it lost, for 'mlx push' "
        "to send again."
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
        invalid = f" ({result.invalid_indexes} invalid)" if result.invalid_indexes else ""
        what = (f"{render.plural(result.indexes, 'index file')}{invalid}, {render.plural(result.packs, 'pack')}, "
                f"{result.loose} loose")
        read = f"; re-hashed {render.plural(result.objects_checked, 'object')} ({render.size(result.bytes_checked)})" if result.read_data else ""
        verdict = "no problems." if result.is_clean else f"{render.plural(len(result.problems), 'problem')}."
        render.line(f"Remote '{result.remote}': {what}{read}: {verdict}")
        if result.repaired is not None:
            _repair_lines(result)
    if result.remaining:
        raise IntegrityError(
            f"remote '{result.remote}' is damaged",
            hint=f"run 'mlx fsck --remote {result.remote} --read-data --repair', then 'mlx push' from a clone that has the objects",
        )


def _repair_lines(result: RemoteFsckResult) -> None:
    repaired = result.repaired
    assert repaired is not None
    kinds = (  # each line's label, what it lists, and how the summary counts them
        ("removed damaged", repaired.objects, "damaged object", ""),
        ("removed tree listing a lost object", repaired.trees, "tree", " listing a lost object"),
        ("removed from the indexes", repaired.packs, "missing or truncated pack", ""),
        ("deleted unreadable index", repaired.indexes_deleted, "unreadable index file", ""),
    )
    for label, items, _noun, _rest in kinds:
        for item in items:
            render.line(f"{label}: {item}")
    for index in repaired.indexes_restored:
        render.line(f"restored from this clone's good copy: {index}")
    if not repaired.changed:
        render.line("Nothing to repair.")
        return
    done = []
    if repaired.indexes_restored:
        done.append(f"restored {render.plural(len(repaired.indexes_restored), 'index file')} from this clone's good copy")
    if repaired.removed:
        removed = [render.plural(len(items), noun) + rest for _label, items, noun, rest in kinds if items]
        done.append(
            f"removed {', '.join(removed)} ({repaired.loose_deleted} loose, {repaired.entries_dropped} packed; "
            f"{render.plural(repaired.indexes_rewritten, 'index file')} rewritten)"
        )
    render.line(f"Repaired '{result.remote}': {'; '.join(done)}.")
    if repaired.removed:
        render.line("'mlx push' from a clone whose cache holds the lost objects sends them again; "
                    "'mlx gc --cloud --all-commits' frees what is left of them in packs.")


def register(app: typer.Typer) -> None:
    app.command(epilog=examples(
        "mlx fsck", "mlx fsck --repair", "mlx fsck --remote origin --read-data", "mlx fsck --remote origin --read-data --repair"
    ))(fsck)
