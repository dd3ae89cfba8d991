"""`mlx dag`: the stage graph drawn for a terminal, or written as Mermaid or Graphviz dot.

The terminal drawing puts one stage per row, in the order `mlx run` would run them, with its dot
(`●`) in a column and its name at the right, as `git log --graph` does. A stage's output runs down
its column from the dot; a line that leaves an output column to the right and ends in an arrow
(`▶`) is an edge into the stage the arrow points at (several inputs join the stage's column one
row each). Lines never join where they cross: a crossing is always `┼`, a join is always a corner
or a tee with one horizontal arm, so every edge reads one way only:

    ●   prepare          featurize and train read prepare's output; train reads
    ├▶● featurize        featurize's too (its column), evaluate reads train's,
    │ │                  and lint reads nothing
    └▶● train
      │
      ● evaluate
    ●   lint

Two dots are never drawn in one column on adjacent rows: a row with a line between them is an
edge, an empty one is not. `ascii` draws the same picture with `* | - > +`.
Everything returns a string; the CLI prints it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from mlxkit.pipeline.graph import Graph

DagFormat = Literal["text", "ascii", "mermaid", "dot"]

_GLYPHS = {  # node, lane, line, arrow, crossing, branch (lane goes on), end (lane stops), stem start, stem join
    "text": dict(node="●", lane="│", line="─", arrow="▶", cross="┼", branch="├", end="└", start="┐", join="┤"),
    "ascii": dict(node="*", lane="|", line="-", arrow=">", cross="|", branch="+", end="+", start="+", join="+"),
}


def render(graph: Graph, fmt: DagFormat = "text", targets: Sequence[str] | None = None) -> str:
    """The graph (only `targets` and the stages they need, when given) in `fmt`."""
    scoped = _scope(graph, targets)
    if fmt == "mermaid":
        return _mermaid(scoped)
    if fmt == "dot":
        return _dot(scoped)
    return _drawing(scoped, _GLYPHS[fmt])


def _scope(graph: Graph, targets: Sequence[str] | None) -> Graph:
    if not targets:
        return graph
    return graph.restrict([*targets, *graph.ancestors(targets)])


def _drawing(graph: Graph, glyph: dict[str, str]) -> str:
    rows: list[tuple[str, str | None]] = []  # (the graph part, the stage named on that row)
    lanes: list[str | None] = []  # column -> the stage whose output runs down it
    column_of: dict[str, int] = {}
    waiting: dict[str, set[str]] = {}  # stage -> the stages below that still need its output
    previous: int | None = None  # the column of the last dot drawn

    def lane_cells() -> list[str]:
        cells = [" "] * (2 * len(lanes))
        for column, owner in enumerate(lanes):
            if owner is not None:
                cells[2 * column] = glyph["lane"]
        return cells

    for name in graph.order():
        inputs = {column_of[up]: up for up in graph.upstream(name)}
        ending = {column for column, up in inputs.items() if waiting[up] == {name}}
        going_on = [column for column, owner in enumerate(lanes) if owner is not None and column not in ending]
        # The stage's column lies right of every output that goes on below it, so that all inputs
        # arrive from the left; it reuses the column of an input that ends here when it can.
        column = max(max(ending, default=-1), max(going_on, default=-1) + 1)
        lanes.extend([None] * (column + 1 - len(lanes)))
        if previous == column:
            rows.append(("".join(lane_cells()), None))
        stem = column in ending  # the column already carries an input down to the dot
        joining = sorted((c for c in inputs if c != column), reverse=True)  # nearest first: fewer crossings
        for position, source in enumerate(joining):
            last = position == len(joining) - 1
            cells = lane_cells()
            cells[2 * source] = glyph["end"] if source in ending else glyph["branch"]
            for between in range(source + 1, column):
                cells[2 * between] = glyph["cross"] if lanes[between] is not None else glyph["line"]
            for gap in range(2 * source + 1, 2 * column - 1, 2):
                cells[gap] = glyph["line"]
            cells[2 * column - 1] = glyph["arrow"]
            cells[2 * column] = glyph["node"] if last else glyph["join"] if stem else glyph["start"]
            stem = True
            if source in ending:
                lanes[source] = None
            rows.append(("".join(cells), name if last else None))
        if not joining:
            cells = lane_cells()
            cells[2 * column] = glyph["node"]
            rows.append(("".join(cells), name))
        for up in inputs.values():
            waiting[up].discard(name)
        lanes[column] = None
        if graph.downstream(name):
            lanes[column] = name
            column_of[name] = column
            waiting[name] = set(graph.downstream(name))
        previous = column
    width = max((len(cells.rstrip()) for cells, _ in rows), default=0)
    lines = [f"{cells.rstrip().ljust(width)} {name}" if name else cells.rstrip() for cells, name in rows]
    return "".join(f"{line}\n" for line in lines)


def _mermaid(graph: Graph) -> str:
    """`flowchart TD` with ids s0, s1, ... (stage names may hold '@', '.', '-', and 'end' is a keyword)."""
    names = graph.order()
    ids = {name: f"s{position}" for position, name in enumerate(names)}
    lines = ["flowchart TD"]
    lines += [f'    {ids[name]}["{name.replace(chr(34), "#quot;")}"]' for name in names]
    lines += [f"    {ids[up]} --> {ids[name]}" for name in names for up in graph.upstream(name)]
    return "".join(f"{line}\n" for line in lines)


def _dot(graph: Graph) -> str:
    names = graph.order()
    lines = ["digraph pipeline {", "    node [shape=box];"]
    lines += [f"    {_quoted(name)};" for name in names]
    lines += [f"    {_quoted(up)} -> {_quoted(name)};" for name in names for up in graph.upstream(name)]
    lines.append("}")
    return "".join(f"{line}\n" for line in lines)


def _quoted(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
