"""Drawing plots data with matplotlib: an image per plots file, and one HTML report that opens offline.

matplotlib is imported only here, when a command draws, and used through its object API (a Figure
and a canvas, never pyplot), inside a style and rc context: nothing global changes, and a user's
matplotlibrc does not change the pictures. Output is reproducible byte for byte: the SVG has no
metadata (which would hold the date) and ids salted with the plot's path, the PNG no 'Software'.

index.html is one file: each plot's SVG inlined, its text drawn as paths (no font to fetch), no
script, no link, no image URL, and a Content-Security-Policy that forbids fetching anything.
Each revision has one colour in every plot and in the report's list of revisions.
"""

from __future__ import annotations

import html
import io
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlxkit.compare.plots import Cell, Plot, PlotsData, Revision, Series, read_plots
from mlxkit.errors import UsageError
from mlxkit.fs.atomic import write_atomic

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from mlxkit.repo.repository import Repository

FORMATS = ("png", "svg")
INDEX = "index.html"
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")
_LINE_STYLES = ("-", "--", ":", "-.")  # one per y column; colour tells the revision
_MARKERS = ("o", "s", "^", "D", "v", "P")
_HATCHES = ("", "//", "..", "xx", "\\\\", "++")
_RC = {"svg.fonttype": "path", "figure.dpi": 100, "savefig.dpi": 100, "axes.titlesize": "large", "legend.fontsize": "small"}
_METADATA: dict[str, dict[str, Any]] = {"png": {"Software": None}, "svg": {"Date": None, "Creator": None, "Format": None, "Type": None}}
_TABLE_ROWS = 500  # rows per revision in a report's data table


@dataclass(frozen=True)
class PlotsReport:
    """What `mlx plots show|diff` wrote: index.html, one image per plot, and the data drawn."""

    html: str
    images: tuple[str, ...]
    revisions: tuple[Revision, ...]
    plots: tuple[Plot, ...]
    problems: tuple[str, ...]


def plots_report(
    repo: Repository, revisions: list[str], targets: list[str] | None, out: str | os.PathLike[str], image_format: str = "png", *,
    cwd: Path | None = None,
) -> PlotsReport:
    """Read the plots data of `revisions` and draw it into `out` (relative to `cwd`)."""
    _check_format(image_format)
    data = read_plots(repo, revisions, targets, cwd=cwd)
    return write_plots(data, (cwd or Path.cwd()) / out, image_format)


def _check_format(image_format: str) -> None:
    if image_format not in FORMATS:
        raise UsageError(f"'{image_format}' is not an image format mlx writes", hint="use png or svg")


def write_plots(data: PlotsData, out: Path, image_format: str = "png") -> PlotsReport:
    """Draw every plot into `out` as `<plots file>.<image_format>`, and `out/index.html`."""
    _check_format(image_format)
    if out.exists() and not out.is_dir():
        raise UsageError(f"'{out}' is not a directory", hint="name a directory for the report with -o")
    out.mkdir(parents=True, exist_ok=True)
    names = tuple(revision.name for revision in data.revisions)
    images, svgs = [], []
    for plot in data.plots:
        drawn = draw(plot, names, ("svg",) if image_format == "svg" else ("svg", image_format))
        image = out / f"{plot.path}.{image_format}"
        image.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(image, drawn[image_format], durable=False)
        images.append(str(image))
        svgs.append(drawn["svg"])
    index = out / INDEX
    write_atomic(index, html_report(data, svgs).encode(), durable=False)
    return PlotsReport(str(index), tuple(images), data.revisions, data.plots, data.problems)


def draw(plot: Plot, revisions: tuple[str, ...], formats: tuple[str, ...]) -> dict[str, bytes]:
    """The plot's image in each of `formats`; `revisions` (all those compared) decides the colours."""
    import matplotlib
    import matplotlib.style
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    with matplotlib.style.context("default"), matplotlib.rc_context({**_RC, "svg.hashsalt": f"mlx:{plot.path}"}):
        confusion = plot.template.startswith("confusion")
        figure = Figure(figsize=_confusion_size(plot) if confusion else (8, 4.5), layout="constrained")
        FigureCanvasAgg(figure)
        colours = {name: PALETTE[index % len(PALETTE)] for index, name in enumerate(revisions)}
        _DRAWERS[plot.template](figure, plot, colours)
        drawn = {}
        for image_format in formats:
            buffer = io.BytesIO()
            figure.savefig(buffer, format=image_format, metadata=_METADATA[image_format])
            drawn[image_format] = buffer.getvalue()
    return drawn


def _text(value: object) -> str:
    """Text as matplotlib should show it: a '$' is a dollar sign, not the start of mathematics."""
    return str(value).replace("$", r"\$")


def _legend(axes: Axes, plot: Plot) -> None:
    entries = len(plot.series) * len(plot.y)
    if entries <= 4:
        axes.legend(loc="best")
    else:  # beside the plot, where it hides no data
        axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)


def _decorate(axes: Axes, plot: Plot) -> None:
    axes.set_title(_text(plot.title))
    axes.set_xlabel(_text(plot.x_label))
    axes.set_ylabel(_text(plot.y_label))
    axes.grid(True, alpha=0.3)
    _legend(axes, plot)


def _label(plot: Plot, series: Series, column: str) -> str:
    return _text(series.revision if len(plot.y) == 1 else f"{series.revision}: {column}")


def _xs(plot: Plot, series: Series) -> list[Any]:
    """x values: numbers, or text for every revision when any revision has text (categories)."""
    if any(isinstance(value, str) for other in plot.series for value in other.x):
        return [_text("" if value is None else value) for value in series.x]
    return [float("nan") if value is None else value for value in series.x]


def _ys(values: tuple[float | None, ...]) -> list[float]:
    return [float("nan") if value is None else value for value in values]


def _linear(figure: Figure, plot: Plot, colours: dict[str, str], *, scatter: bool = False) -> None:
    axes = figure.add_subplot()
    for series in plot.series:
        xs = _xs(plot, series)
        for index, column in enumerate(plot.y):
            style = {"color": colours[series.revision], "label": _label(plot, series, column)}
            if scatter:
                axes.scatter(xs, _ys(series.y[column]), marker=_MARKERS[index % len(_MARKERS)], s=22, alpha=0.8, **style)
            else:
                marker = "o" if len(xs) <= 30 else None
                axes.plot(xs, _ys(series.y[column]), linestyle=_LINE_STYLES[index % len(_LINE_STYLES)], marker=marker, markersize=3.5, **style)
    if all(type(value) is int for series in plot.series for value in series.x):  # steps, epochs: no tick at 0.25
        from matplotlib.ticker import MaxNLocator

        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    _decorate(axes, plot)


def _bar(figure: Figure, plot: Plot, colours: dict[str, str]) -> None:
    """Grouped bars: one group per x value, one bar per (revision, y column) in each group."""
    axes = figure.add_subplot()
    categories = list(dict.fromkeys(_category(value) for series in plot.series for value in series.x))
    position = {name: index for index, name in enumerate(categories)}
    bars = [(series, index, column) for series in plot.series for index, column in enumerate(plot.y)]
    width = 0.8 / len(bars)
    for slot, (series, index, column) in enumerate(bars):
        xs = [position[_category(value)] - 0.4 + width * (slot + 0.5) for value in series.x]
        axes.bar(
            xs, _ys(series.y[column]), width, color=colours[series.revision], hatch=_HATCHES[index % len(_HATCHES)],
            edgecolor="white", linewidth=0.5, label=_label(plot, series, column),
        )  # fmt: skip
    axes.set_xticks(range(len(categories)), [_text(name) for name in categories])
    if len(categories) > 8 or max(map(len, categories), default=0) > 10:
        axes.tick_params(axis="x", labelrotation=45)
        for tick in axes.get_xticklabels():
            tick.set_horizontalalignment("right")
    _decorate(axes, plot)
    axes.grid(False, axis="x")


def _category(value: Cell) -> str:
    return "" if value is None else str(value)


def _confusion_size(plot: Plot) -> tuple[float, float]:
    side = max(3.8, 1.6 + 0.45 * len(plot.classes))
    return side * len(plot.series) + 0.4, side + 0.6


def _confusion(figure: Figure, plot: Plot, colours: dict[str, str], *, normalized: bool = False) -> None:
    """One matrix per revision, side by side: actual classes (x) down, predicted (y) across, as
    scikit-learn draws them; each cell shows its count (normalized: the share of its row, and the count)."""
    import numpy as np

    counts = [np.array(series.counts, dtype=float).reshape(len(plot.classes), len(plot.classes)) for series in plot.series]
    if normalized:
        values = [matrix / np.where(matrix.sum(axis=1, keepdims=True) == 0, 1, matrix.sum(axis=1, keepdims=True)) for matrix in counts]
        top = 1.0
    else:
        values = counts
        top = max(float(matrix.max(initial=0)) for matrix in counts) or 1.0
    ticks, names = [index + 0.5 for index in range(len(plot.classes))], [_text(name) for name in plot.classes]
    size = max(6.0, 11.0 - 0.25 * len(plot.classes))
    for index, (axes, series) in enumerate(zip(figure.subplots(1, len(plot.series), squeeze=False)[0], plot.series, strict=True)):
        axes.pcolormesh(values[index], cmap="Blues", vmin=0.0, vmax=top)  # vector cells: no embedded bitmap in the SVG
        axes.set_aspect("equal")
        axes.invert_yaxis()  # the first class at the top
        axes.set_xticks(ticks, names)
        axes.set_yticks(ticks, names)
        axes.set_xlabel(_text(plot.y_label))
        axes.set_ylabel(_text(plot.x_label) if index == 0 else "")
        axes.set_title(_text(series.revision), color=colours[series.revision], fontweight="bold")
        for (row, column), value in np.ndenumerate(values[index]):
            count = int(counts[index][row, column])
            text = f"{value:.2f}\n({count})" if normalized else str(count)
            axes.text(column + 0.5, row + 0.5, text, ha="center", va="center", fontsize=size, color="white" if value > 0.5 * top else "black")
    figure.suptitle(_text(plot.title), fontsize="large")


_DRAWERS: dict[str, Callable[[Figure, Plot, dict[str, str]], None]] = {
    "linear": _linear,
    "scatter": lambda figure, plot, colours: _linear(figure, plot, colours, scatter=True),
    "bar": _bar,
    "confusion": _confusion,
    "confusion_normalized": lambda figure, plot, colours: _confusion(figure, plot, colours, normalized=True),
}

# -- the report ----------------------------------------------------------------------------------

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 70rem; padding: 0 1rem; color: #222; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.2rem; margin-bottom: 0.2rem; }
.meta { color: #555; margin-top: 0; } .swatch { display: inline-block; width: 0.8em; height: 0.8em; margin-right: 0.3em; }
section.plot { border-top: 1px solid #ddd; padding-top: 1rem; margin-top: 1.5rem; }
figure { margin: 0.5rem 0; } figure svg { max-width: 100%; height: auto; }
table { border-collapse: collapse; font-size: 0.85rem; } td, th { border: 1px solid #ddd; padding: 0.15rem 0.5rem; text-align: right; }
.problems { color: #a40000; }
"""
_CSP = "default-src 'none'; style-src 'unsafe-inline'"  # nothing may be fetched: no network, no file
_SVG_NAMESPACES = re.compile(r'\s+xmlns(?::xlink)?="[^"]*"')
_GROUP_IDS = re.compile(r'\sid="[A-Za-z][A-Za-z0-9.]*_\d+"')  # 'figure_1', 'line2d_3': in every SVG, and never referenced


def html_report(data: PlotsData, svgs: list[bytes]) -> str:
    """index.html: the revisions (with their colours), the problems, then each plot and its data."""
    e = html.escape
    colours = {revision.name: PALETTE[index % len(PALETTE)] for index, revision in enumerate(data.revisions)}
    names = ", ".join(revision.name for revision in data.revisions)
    parts = [
        f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<meta http-equiv="Content-Security-Policy" content="{_CSP}">\n'
        f"<title>mlx plots: {e(names)}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n<h1>mlx plots</h1>\n<ul>\n"
    ]
    for revision in data.revisions:
        commit = f" <code>{revision.commit[:10]}</code>" if revision.commit else ""
        parts.append(f'<li><span class="swatch" style="background: {colours[revision.name]}"></span>{e(revision.name)}{commit}</li>\n')
    parts.append("</ul>\n")
    if data.problems:
        parts.append('<section class="problems"><h2>Problems</h2>\n<ul>\n')
        parts += [f"<li>{e(problem)}</li>\n" for problem in data.problems]
        parts.append("</ul>\n</section>\n")
    for plot, svg in zip(data.plots, svgs, strict=True):
        parts.append(f'<section class="plot">\n<h2>{e(plot.title)}</h2>\n<p class="meta"><code>{e(plot.path)}</code> &middot; {e(plot.template)}')
        parts.append(f" &middot; x: {e(plot.x)} &middot; y: {e(', '.join(plot.y))}</p>\n<figure>{_inline(svg)}</figure>\n")
        parts.append(_data_table(plot))
        parts.append("</section>\n")
    parts.append("</body>\n</html>\n")
    return "".join(parts)


def _inline(svg: bytes) -> str:
    """An SVG file as an element of the page: without the XML prolog and DOCTYPE (whose DTD is a
    URL), without namespace declarations, which HTML's parser supplies, and without the group ids
    that every plot repeats (the ids that are referenced are salted per plot, or name one glyph)."""
    text = svg.decode("utf-8")
    text = text[text.index("<svg") :]
    end = text.index(">")
    return _GROUP_IDS.sub("", _SVG_NAMESPACES.sub("", text[:end]) + text[end:])


def _data_table(plot: Plot) -> str:
    e = html.escape
    if plot.classes:
        header = ["revision", plot.x, plot.y[0], "count"]
        rows = [
            [series.revision, actual, predicted, str(count)]
            for series in plot.series
            for actual, counts in zip(plot.classes, series.counts, strict=True)
            for predicted, count in zip(plot.classes, counts, strict=True)
            if count
        ]
        shown, total = rows, len(rows)
    else:
        header = ["revision", plot.x, *plot.y]
        rows = [
            [series.revision, _category(x), *(_category(series.y[column][index]) for column in plot.y)]
            for series in plot.series
            for index, x in enumerate(series.x)
            if index < _TABLE_ROWS
        ]
        shown, total = rows, sum(len(series.x) for series in plot.series)
    more = f", the first {_TABLE_ROWS} of each revision shown" if len(shown) < total else ""
    head = "".join(f"<th>{e(name)}</th>" for name in header)
    body = "".join("<tr>" + "".join(f"<td>{e(cell)}</td>" for cell in row) + "</tr>\n" for row in shown)
    return f"<details>\n<summary>Data ({total} rows{more})</summary>\n<table>\n<tr>{head}</tr>\n{body}</table>\n</details>\n"
