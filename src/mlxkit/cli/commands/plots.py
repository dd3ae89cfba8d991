"""`mlx plots show|diff`: plots files drawn as images, and one HTML report that opens offline."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from mlxkit.cli import render
from mlxkit.cli.options import Json, examples

if TYPE_CHECKING:
    from mlxkit.compare.render_plots import PlotsReport

Out = Annotated[str, typer.Option("--out", "-o", metavar="DIR", help="The directory for index.html and the images.")]
Format = Annotated[str, typer.Option("--format", metavar="png|svg", help="The images' format (index.html always holds SVG).")]
Open = Annotated[bool, typer.Option("--open", help="Open index.html in the web browser.")]
Files = Annotated[Optional[list[str]], typer.Argument(help="Plots files (default: the 'plots' of mlx.yaml's stages).", show_default=False, metavar="[FILE]...")]  # noqa: UP007

plots_app = typer.Typer(help="Draw plots files (CSV, TSV, JSON, YAML) and compare them across revisions.", no_args_is_help=True)


@plots_app.command("show", epilog=examples(
    "mlx plots show",
    "mlx plots show plots/roc.csv --format svg -o report",
    "mlx plots show --json",
))  # fmt: skip
def show(targets: Files = None, out: Out = "mlx_plots", image_format: Format = "png", json: Json = False, open_: Open = False) -> None:
    """Draw the workspace's plots files: an image each, and index.html with every plot and its data."""
    from mlxkit import api

    _emit(api.plots_show(targets, out=out, image_format=image_format), json=json, open_=open_)


@plots_app.command("diff", epilog=examples(
    "mlx plots diff                 # HEAD and the workspace",
    "mlx plots diff main            # main and the workspace",
    "mlx plots diff v1 v2 main -t plots/loss.csv",
))  # fmt: skip
def diff(
    revs: Annotated[Optional[list[str]], typer.Argument(help="Revisions (default: HEAD; with one, it and the workspace).", show_default=False, metavar="[REV]...")] = None,  # noqa: UP007
    targets: Annotated[Optional[list[str]], typer.Option("--targets", "-t", metavar="FILE", help="A plots file to draw (repeatable; default: mlx.yaml's).")] = None,  # noqa: UP007
    out: Out = "mlx_plots",
    image_format: Format = "png",
    json: Json = False,
    open_: Open = False,
) -> None:
    """Draw plots files of several revisions overlaid, one colour per revision ('workspace' names the files on disk)."""
    from mlxkit import api

    _emit(api.plots_diff(revs, targets=targets, out=out, image_format=image_format), json=json, open_=open_)


def _emit(report: PlotsReport, *, json: bool, open_: bool) -> None:
    render.warnings(list(report.problems))
    if json:
        render.emit_json(report)
    else:
        for path in (report.html, *report.images):
            render.line(_shown(path))
    if open_:
        import webbrowser
        from pathlib import Path

        webbrowser.open(Path(report.html).resolve().as_uri())


def _shown(path: str) -> str:
    """A path relative to the current directory when it is below it."""
    relative = os.path.relpath(path)
    return path if relative.startswith("..") else relative


def register(app: typer.Typer) -> None:
    app.add_typer(plots_app, name="plots")
