"""`mlx metrics show|diff`: metrics at revisions and in the workspace, as a table, markdown, CSV or JSON.

Also the output options that `mlx params diff` shares (cli/commands/params.py imports them).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from mlxkit.cli import render
from mlxkit.cli.options import Json, examples, history_scope

if TYPE_CHECKING:
    from mlxkit.compare.metrics import MetricsDiff, MetricsShow

Markdown = Annotated[bool, typer.Option("--md", help="Print a GitHub-flavoured markdown table (for a CI comment).")]
Csv = Annotated[bool, typer.Option("--csv", help="Print CSV with a header row.")]
Precision = Annotated[int, typer.Option("--precision", "-p", min=1, metavar="N", help="Significant digits of decimal numbers in tables.")]
AllRows = Annotated[bool, typer.Option("--all-rows", help="Every row of CSV/TSV metrics files (as row.N.column), not only the last.")]
All = Annotated[bool, typer.Option("--all", help="Include unchanged ones too.")]
Old = Annotated[Optional[str], typer.Argument(help="The old revision (default: HEAD).", show_default=False, metavar="[A]")]  # noqa: UP007
New = Annotated[Optional[str], typer.Argument(help="The new revision (default: the workspace; 'workspace' names it).", show_default=False, metavar="[B]")]  # noqa: UP007

metrics_app = typer.Typer(help="Show metrics at revisions and compare them.", no_args_is_help=True)
PROBLEMS_NAMED_PER_FILE = 3  # revisions named on stderr per unreadable file (`show -A` may cover 10^3 commits)


def output_format(json: bool, md: bool, csv: bool) -> str:
    """'json', 'md', 'csv' or 'table'; at most one of the flags."""
    from mlxkit.errors import UsageError

    chosen = [name for name, on in (("json", json), ("md", md), ("csv", csv)) if on]
    if len(chosen) > 1:
        raise UsageError(f"--{chosen[0]} and --{chosen[1]} cannot be combined", hint="choose one output format")
    return chosen[0] if chosen else "table"


def emit_table(form: str, columns: list[str], rows: list[list[str]], empty: str) -> None:
    """The rows as markdown, CSV, or a table: rich on a terminal, plain aligned columns in a pipe
    (rich would fold a wide table to 80 columns there); `empty` on stderr when there are none."""
    from mlxkit.compare.tables import aligned, csv_text, markdown

    if form == "md":
        sys.stdout.write(markdown(columns, rows))  # data, like --json: printed even with -q
    elif form == "csv":
        sys.stdout.write(csv_text(columns, rows))
    elif not rows:
        render.info(empty)
    elif sys.stdout.isatty():
        render.table(None, columns, rows)
    else:
        render.line(aligned(columns, rows).rstrip("\n"))


def show_problem_lines(report: MetricsShow) -> list[str]:
    """A line for each file that a revision could not read, at most PROBLEMS_NAMED_PER_FILE of them
    per file, then one that counts the rest (--json lists every one)."""
    by_file: dict[str, list[str]] = {}
    for revision in report.revisions:
        for file, message in revision.problems.items():
            by_file.setdefault(file, []).append(message)
    lines = []
    for file, messages in by_file.items():
        lines += messages[:PROBLEMS_NAMED_PER_FILE]
        if len(messages) > PROBLEMS_NAMED_PER_FILE:
            more = len(messages) - PROBLEMS_NAMED_PER_FILE
            lines.append(f"'{file}' could not be read at {more} more revision{'s' if more > 1 else ''} (--json lists them)")
    return lines


def problem_lines(problems: dict[str, dict[str, str]]) -> list[str]:
    return [message for by_file in problems.values() for message in by_file.values()]


@metrics_app.command("show", epilog=examples(
    "mlx metrics show",
    "mlx metrics show -r HEAD~1 -r main --md",
    "mlx metrics show --all-commits --csv > history.csv",
    "mlx metrics show eval/scores.csv --all-rows",
))  # fmt: skip
def show(
    targets: Annotated[Optional[list[str]], typer.Argument(help="Metrics files (default: the 'metrics' of mlx.yaml's stages).", show_default=False, metavar="[TARGET]...")] = None,  # noqa: UP007
    rev: Annotated[Optional[list[str]], typer.Option("--rev", "-r", metavar="REV", help="A revision to show (repeatable; default: the workspace).")] = None,  # noqa: UP007
    all_branches: Annotated[bool, typer.Option("--all-branches", "-a", help="Also the tip of every branch.")] = False,
    all_tags: Annotated[bool, typer.Option("--all-tags", "-T", help="Also every tag.")] = False,
    all_commits: Annotated[bool, typer.Option("--all-commits", "-A", help="Also every commit.")] = False,
    all_rows: AllRows = False,
    precision: Precision = 5,
    json: Json = False,
    md: Markdown = False,
    csv: Csv = False,
) -> None:
    """Show metrics: a row per revision and metrics file, a column per metric.

    Files that cannot be read at a revision are named on stderr; the exit code is 0 all the same."""
    from mlxkit import api

    form = output_format(json, md, csv)
    report = api.metrics_show(targets, revs=rev, scope=history_scope(all_branches, all_tags, all_commits), all_rows=all_rows)
    render.warnings(show_problem_lines(report))
    if form == "json":
        render.emit_json(report)
        return
    columns, rows = _show_rows(report, precision)
    emit_table(form, columns, rows, "no metrics: name files, or declare 'metrics' in mlx.yaml's stages")


def _show_rows(report: MetricsShow, precision: int) -> tuple[list[str], list[list[str]]]:
    from mlxkit.compare.tables import cell, key_order

    keys = sorted({key for revision in report.revisions for flat in revision.files.values() for key in flat}, key=key_order)
    rows = [
        [revision.revision, file, *(cell(flat.get(key), precision) for key in keys)]
        for revision in report.revisions
        for file, flat in revision.files.items()
    ]
    return ["Revision", "Path", *keys], rows


@metrics_app.command("diff", epilog=examples(
    "mlx metrics diff                 # HEAD against the workspace",
    "mlx metrics diff main --md       # a table for a pull request comment",
    "mlx metrics diff v1 v2 --all --json",
))  # fmt: skip
def diff(
    old: Old = None,
    new: New = None,
    targets: Annotated[Optional[list[str]], typer.Option("--targets", "-t", metavar="FILE", help="Metrics files to compare (repeatable; default: mlx.yaml's).")] = None,  # noqa: UP007
    all: All = False,  # noqa: A002
    all_rows: AllRows = False,
    precision: Precision = 5,
    json: Json = False,
    md: Markdown = False,
    csv: Csv = False,
) -> None:
    """Show how metrics changed from A to B: old and new values, the change and the relative change.

    The exit code is 0 whether or not anything changed."""
    from mlxkit import api

    form = output_format(json, md, csv)
    report = api.metrics_diff(old, new, targets=targets, all=all, all_rows=all_rows)
    render.warnings(problem_lines(report.problems))
    if form == "json":
        render.emit_json(report)
        return
    columns, rows = _diff_rows(report, precision)
    emit_table(form, columns, rows, f"no metric changed between {report.old} and {report.new}" if not all else "no metrics")


def _diff_rows(report: MetricsDiff, precision: int) -> tuple[list[str], list[list[str]]]:
    from mlxkit.compare.tables import cell, percent

    rows = [
        [row.file, row.key, cell(row.old, precision), cell(row.new, precision), cell(row.change, precision), percent(row.relative, precision)]
        for row in report.rows
    ]
    return ["Path", "Metric", report.old, report.new, "Change", "Relative"], rows


def register(app: typer.Typer) -> None:
    app.add_typer(metrics_app, name="metrics")
