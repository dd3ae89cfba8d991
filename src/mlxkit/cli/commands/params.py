"""`mlx params diff`: params that changed between two revisions (or a revision and the workspace)."""

from __future__ import annotations

import typer

from mlxkit.cli import render
from mlxkit.cli.commands.metrics import All, Csv, Markdown, New, Old, emit_table, output_format, problem_lines
from mlxkit.cli.options import Json, examples

params_app = typer.Typer(help="Compare params across revisions.", no_args_is_help=True)


@params_app.command("diff", epilog=examples(
    "mlx params diff                  # HEAD against the workspace",
    "mlx params diff main --md",
    "mlx params diff HEAD~3 HEAD --all --json",
))  # fmt: skip
def diff(old: Old = None, new: New = None, all: All = False, json: Json = False, md: Markdown = False, csv: Csv = False) -> None:  # noqa: A002
    """Show params that changed from A to B, in params.yaml and every params file of the pipeline.

    The exit code is 0 whether or not anything changed."""
    from mlxkit import api
    from mlxkit.compare.tables import cell

    form = output_format(json, md, csv)
    report = api.params_diff(old, new, all=all)
    render.warnings(problem_lines(report.problems))
    if form == "json":
        render.emit_json(report)
        return
    rows = [[row.file, row.key, cell(row.old, precision=None), cell(row.new, precision=None)] for row in report.rows]
    empty = f"no param changed between {report.old} and {report.new}" if not all else "no params"
    emit_table(form, ["Path", "Param", report.old, report.new], rows, empty)


def register(app: typer.Typer) -> None:
    app.add_typer(params_app, name="params")
