"""`mlx dag`: a terminal drawing from which every edge can be read back, Mermaid and dot."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from mlxkit.fs.confine import RepoPath
from mlxkit.pipeline.dag import render
from mlxkit.pipeline.graph import Graph, build_graph
from mlxkit.pipeline.model import Out, Pipeline, Stage


def stage(name: str, deps=(), outs=()) -> Stage:
    return Stage(
        name, ("true",), deps=tuple(RepoPath.parse(d) for d in deps), outs=tuple(Out(RepoPath.parse(o)) for o in outs)
    )


def graph_of(*stages: Stage) -> Graph:
    return build_graph(Pipeline({s.name: s for s in stages}))


EVALUATION = graph_of(
    stage("prepare", outs=["data/prepared"]),
    stage("featurize", deps=["data/prepared"], outs=["features"]),
    stage("train", deps=["features", "data/prepared"], outs=["model.pkl"]),
    stage("eval@small", deps=["model.pkl", "features"], outs=["eval/small.json"]),
    stage("eval@large", deps=["model.pkl", "features"], outs=["eval/large.json"]),
    stage("report", deps=["eval"]),
    stage("lint"),
    stage("docs"),
)


def test_drawing_of_a_pipeline_with_foreach_items_shows_every_edge():
    assert render(EVALUATION) == (
        "●         prepare\n"
        "├▶●       featurize\n"
        "│ ├▶┐\n"
        "└─┼▶●     train\n"
        "  │ ├▶┐\n"
        "  ├─┼▶●   eval@small\n"
        "  │ └─┼▶┐\n"
        "  └───┼▶● eval@large\n"
        "      │ │\n"
        "      └▶● report\n"
        "●         lint\n"
        "\n"
        "●         docs\n"
    )


def test_ascii_drawing_is_the_same_picture_in_ascii():
    text = render(EVALUATION, "ascii")
    assert text.isascii()
    assert text == render(EVALUATION).translate(str.maketrans("●│─▶┼├└┐┤", "*|->|++++"))


def test_a_chain_is_a_column_with_a_line_between_dots():
    graph = graph_of(stage("a", outs=["a"]), stage("b", deps=["a"], outs=["b"]), stage("c", deps=["b"]))
    assert render(graph) == "● a\n│\n● b\n│\n● c\n"


def test_drawing_of_the_targets_shows_only_what_they_need():
    assert render(EVALUATION, targets=["train"]) == "●   prepare\n├▶● featurize\n│ │\n└▶● train\n"


def test_drawing_of_an_empty_graph_is_empty():
    assert render(graph_of()) == ""


def test_mermaid_uses_safe_ids_and_quoted_labels():
    graph = graph_of(stage("end", outs=["x"]), stage("eval@v1.2-rc", deps=["x"]))
    assert render(graph, "mermaid") == (
        'flowchart TD\n    s0["end"]\n    s1["eval@v1.2-rc"]\n    s0 --> s1\n'
    )


def test_mermaid_of_the_targets_lists_their_ancestors_and_edges():
    text = render(EVALUATION, "mermaid", targets=["eval@small"])
    assert re.findall(r'\["(.+?)"\]', text) == ["prepare", "featurize", "train", "eval@small"]
    assert text.count("-->") == 5


def test_dot_quotes_every_name():
    graph = graph_of(stage("prepare", outs=["x"]), stage("eval@small", deps=["x"]))
    assert render(graph, "dot") == (
        "digraph pipeline {\n"
        "    node [shape=box];\n"
        '    "prepare";\n'
        '    "eval@small";\n'
        '    "prepare" -> "eval@small";\n'
        "}\n"
    )


def test_dot_escapes_quotes_and_backslashes():
    graph = build_graph(Pipeline({'we"ird\\': stage('we"ird\\')}))
    assert '    "we\\"ird\\\\";\n' in render(graph, "dot")


# -- every edge can be read back from the drawing -------------------------------------------


def read_edges(text: str) -> set[tuple[str, str]]:
    """Follow each stage's output down its column, and along every arm to the arrow's stage."""
    grid, names = [], {}
    for row, line in enumerate(text.splitlines()):
        if "●" in line:
            line, _, names[row] = line.rpartition(" ")
            assert line.count("●") == 1
        grid.append(line)

    def cell(row: int, column: int) -> str:
        return grid[row][column] if row < len(grid) and column < len(grid[row]) else " "

    def stage_below(row: int, column: int) -> str:
        while cell(row, column) != "●":
            assert cell(row, column) in "┐┤│"
            row += 1
        return names[row]

    edges = set()
    for row, name in names.items():
        column = grid[row].index("●")
        below = row + 1
        while cell(below, column) in "│├└┼┤●":
            glyph = cell(below, column)
            if glyph == "●":  # the output runs straight into the stage below
                edges.add((name, names[below]))
                break
            if glyph in "├└":  # an arm to the right, ending in an arrow
                right = column + 1
                while cell(below, right) != "▶":
                    assert cell(below, right) in "─┼"
                    right += 1
                edges.add((name, stage_below(below, right + 1)))
                if glyph == "└":
                    break
            below += 1
    return edges


_DAGS = st.integers(min_value=1, max_value=14).flatmap(
    lambda n: st.tuples(
        st.permutations(range(n)),  # the order of mlx.yaml
        st.sets(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)).filter(lambda e: e[0] < e[1]), max_size=3 * n),
    )
)


@settings(deadline=None, max_examples=300)  # timings are not what this property checks
@given(_DAGS)
def test_every_edge_is_read_back_from_the_drawing_and_nothing_else(dag):
    order, edges = dag
    stages = [stage(f"s{i}", deps=[f"o{a}" for a, b in sorted(edges) if b == i], outs=[f"o{i}"]) for i in order]
    graph = graph_of(*stages)
    drawn = render(graph)
    assert read_edges(drawn) == {(f"s{a}", f"s{b}") for a, b in edges}, drawn
    assert [line.rpartition(" ")[2] for line in drawn.splitlines() if "●" in line] == graph.order()
