from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Optional

import typer

from mlxkit.cli import render
from mlxkit.cli.options import Json, examples

if TYPE_CHECKING:
    from mlxkit.compare.diff import DiffReport

DiffTargets = Annotated[
    Optional[list[str]],  # noqa: UP007
    typer.Option("--targets", "-t", metavar="PATH", help="Only tracked paths at or below PATH (repeat for more).", show_default=False),
]


def diff(
    a: Annotated[Optional[str], typer.Argument(metavar="[A]", help="The old revision (default: HEAD).", show_default=False)] = None,  # noqa: UP007
    b: Annotated[
        Optional[str],  # noqa: UP007
        typer.Argument(metavar="[B]", help="The new revision (default: 'workspace', the files on disk now).", show_default=False),
    ] = None,
    targets: DiffTargets = None,
    md: Annotated[bool, typer.Option("--md", help="Print a markdown table (Status | Path).")] = False,
    hide_missing: Annotated[bool, typer.Option("--hide-missing", help="Leave out the 'Not in cache' list (trees missing from the cache).")] = False,
    json: Json = False,
) -> None:
    """Show tracked files added, modified, deleted or renamed between two revisions (HEAD and the workspace by default)."""
    from dataclasses import replace

    from mlxkit import api
    from mlxkit.errors import UsageError

    if json and md:
        raise UsageError("--json and --md cannot be used together")
    report = api.diff(a, b, targets=targets, progress=render.progress(not json))
    if hide_missing:
        report = replace(report, not_in_cache=[])
    render.warnings(report.warnings)
    if json:
        render.emit_json(report)
    elif report.is_clean:
        render.line(f"No changes between {report.a} and {report.b}.")
    elif md:
        _markdown(_rows(report))
    else:
        _text(report)


def _rows(report: DiffReport) -> list[tuple[str, str]]:
    """(status, path) in DVC's order: added, deleted, modified, renamed, not in cache."""
    rows = [(kind, _shown(c.path, c.is_dir)) for kind in ("added", "deleted", "modified") for c in getattr(report, kind)]
    rows += [("renamed", f"{_shown(r.old_path, r.is_dir)} -> {_shown(r.new_path, r.is_dir)}") for r in report.renamed]
    rows += [("not in cache", _shown(n.path, True)) for n in report.not_in_cache]
    return rows


def _text(report: DiffReport) -> None:
    notes = {n.path: f" (tree {n.digest.short} at {n.revision}: its files are not listed)" for n in report.not_in_cache}
    rows = _rows(report)
    for kind in ("added", "deleted", "modified", "renamed", "not in cache"):
        paths = [path for status, path in rows if status == kind]
        if paths:
            render.line(f"{kind.capitalize()}:")
            for path in paths:
                render.line(f"    {path}{notes.get(path.rstrip('/'), '') if kind == 'not in cache' else ''}")
            render.line()
    counts = {kind: sum(1 for c in getattr(report, kind) if not c.is_dir) for kind in ("added", "deleted", "modified")}
    counts["renamed"] = sum(1 for r in report.renamed if not r.is_dir)
    counts["not in cache"] = len(report.not_in_cache)
    summary = [f"{n} {kind}" for kind, n in counts.items() if n or kind in ("added", "deleted", "modified")]
    render.line(f"files summary: {', '.join(summary)}")
    if report.not_in_cache:
        render.info("hint: bring the missing trees with 'mlx fetch' at that revision (or 'mlx fetch --all-commits')")


def _markdown(rows: list[tuple[str, str]]) -> None:
    cells = [("Status", "Path"), *((status, path.replace("|", "\\|")) for status, path in rows)]
    width = [max(len(row[i]) for row in cells) for i in (0, 1)]
    for number, (status, path) in enumerate(cells):
        render.line(f"| {status.ljust(width[0])} | {path.ljust(width[1])} |")
        if number == 0:
            render.line(f"|{'-' * (width[0] + 2)}|{'-' * (width[1] + 2)}|")


def _shown(path: str, is_dir: bool) -> str:
    return path + "/" if is_dir else path


def register(app: typer.Typer) -> None:
    app.command(
        epilog=examples(
            "mlx diff", "mlx diff HEAD~1 HEAD", "mlx diff main -t data/raw", "mlx diff v1 v2 --md", "mlx diff --json | jq .modified"
        )
    )(diff)
