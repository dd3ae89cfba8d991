"""The stage graph: edges through paths, the errors named before anything runs, and a run order
that is the same every time."""

from __future__ import annotations

import graphlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlxkit.errors import PipelineError, UsageError
from mlxkit.fs.confine import RepoPath
from mlxkit.pipeline.graph import Graph, build_graph
from mlxkit.pipeline.model import Out, Pipeline, Stage


def stage(name: str, deps=(), outs=(), *, metrics=(), plots=(), line: int | None = None) -> Stage:
    return Stage(
        name,
        ("true",),
        deps=tuple(RepoPath.parse(dep) for dep in deps),
        outs=tuple(Out(RepoPath.parse(out)) for out in outs)
        + tuple(Out(RepoPath.parse(path), kind="metric", cache=False) for path in metrics)
        + tuple(Out(RepoPath.parse(path), kind="plot", cache=False) for path in plots),
        line=line,
    )


def graph_of(*stages: Stage) -> Graph:
    return build_graph(Pipeline({s.name: s for s in stages}))


def refusal(*stages: Stage) -> PipelineError:
    with pytest.raises(PipelineError) as info:
        graph_of(*stages)
    return info.value


# -- edges --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dep", "out"),
    [("data/prepared", "data/prepared"), ("data", "data/prepared"), ("data/prepared/x.csv", "data/prepared")],
)
def test_a_dep_that_equals_contains_or_lies_inside_an_out_is_an_edge(dep, out):
    graph = graph_of(stage("prepare", outs=[out]), stage("train", deps=[dep]))
    assert graph.upstream("train") == ("prepare",)
    assert graph.downstream("prepare") == ("train",)


@pytest.mark.parametrize("dep", ["data/x2", "data/x-y", "data/x.csv", "dat", "data/y", "x"])
def test_paths_that_only_share_a_prefix_of_characters_are_not_edges(dep):
    graph = graph_of(stage("a", outs=["data/x"]), stage("b", deps=[dep]))
    assert graph.upstream("b") == ()


def test_a_dep_containing_outs_of_several_stages_depends_on_each_once():
    graph = graph_of(
        stage("one", outs=["data/a", "data/b"]),
        stage("two", outs=["data-c", "data/c"]),
        stage("all", deps=["data", "data/a/x"]),
    )
    assert graph.upstream("all") == ("one", "two")


def test_metrics_and_plots_are_outputs_other_stages_can_depend_on():
    graph = graph_of(stage("train", metrics=["metrics.json"], plots=["plots/roc.csv"]), stage("report", deps=["plots"]),
                     stage("gate", deps=["metrics.json"]))  # fmt: skip
    assert graph.downstream("train") == ("report", "gate")


def test_upstream_and_downstream_are_listed_in_mlx_yaml_order():
    graph = graph_of(
        stage("z", deps=["b", "a"]),
        stage("b", outs=["b"]),
        stage("a", outs=["a"]),
        stage("y", deps=["a"]),
    )
    assert graph.upstream("z") == ("b", "a")
    assert graph.downstream("a") == ("z", "y")


# -- refusals -----------------------------------------------------------------------------------


def test_two_stages_writing_one_path_are_named_with_their_lines():
    error = refusal(stage("a", outs=["data/x"], line=2), stage("b", outs=["data/x"], line=7))
    assert error.message == "'data/x' is an output of both 'a' (mlx.yaml:2) and 'b' (mlx.yaml:7)"
    assert error.hint == "a path can be the output of one stage only"
    assert error.exit_code == 30


def test_two_stages_writing_one_path_without_lines_are_named_alone():
    error = refusal(stage("a", outs=["data/x"]), stage("b", metrics=["data/x"]))
    assert error.message == "'data/x' is an output of both 'a' and 'b'"


def test_foreach_items_writing_one_path_get_a_hint_to_use_the_item():
    error = refusal(stage("eval@small", outs=["scores.json"], line=4), stage("eval@large", outs=["scores.json"], line=4))
    assert error.message == "'scores.json' is an output of both 'eval@small' (mlx.yaml:4) and 'eval@large' (mlx.yaml:4)"
    assert error.hint == "use ${item} in the path so that each item writes its own output"


def test_one_stage_listing_a_path_twice_is_refused():
    error = refusal(stage("train", outs=["model.pkl"], metrics=["model.pkl"], line=3))
    assert error.message == "'model.pkl' is listed twice in the outputs of 'train' (mlx.yaml:3)"


def test_an_out_inside_an_out_of_another_stage_is_refused_whichever_comes_first():
    expected = "output 'data/prepared/x.csv' of 'b' (mlx.yaml:6) is inside output 'data/prepared' of 'a' (mlx.yaml:2)"
    assert refusal(stage("a", outs=["data/prepared"], line=2), stage("b", outs=["data/prepared/x.csv"], line=6)).message == expected
    assert refusal(stage("b", outs=["data/prepared/x.csv"], line=6), stage("a", outs=["data/prepared"], line=2)).message == expected


def test_an_out_inside_an_out_of_the_same_stage_is_refused():
    error = refusal(stage("a", outs=["data", "data/deep/x"], line=2))
    assert error.message == "output 'data/deep/x' of 'a' (mlx.yaml:2) is inside its output 'data'"
    assert error.hint == "an output directory belongs to one output whole: make the outputs separate paths"


@pytest.mark.parametrize(
    ("dep", "message"),
    [
        ("data/x", "'a' (mlx.yaml:2) lists its own output 'data/x' as a dependency"),
        ("data", "dependency 'data' of 'a' (mlx.yaml:2) contains its own output 'data/x'"),
        ("data/x/y", "dependency 'data/x/y' of 'a' (mlx.yaml:2) is inside its own output 'data/x'"),
    ],
)
def test_a_stage_reading_its_own_out_is_refused(dep, message):
    error = refusal(stage("a", deps=[dep], outs=["data/x"], line=2))
    assert error.message == message
    assert error.hint == "a stage cannot read what it writes: remove the dependency, or split the stage"


def test_cycle_is_named_with_arrows_and_the_links_that_make_it():
    error = refusal(stage("a", deps=["y"], outs=["x"], line=2), stage("b", deps=["x"], outs=["y"], line=6))
    assert error.message == "the stages form a cycle: a → b → a"
    assert error.hint == (
        "remove one of these dependencies: 'b' (mlx.yaml:6) depends on 'x' from 'a'; "
        "'a' (mlx.yaml:2) depends on 'y' from 'b'"
    )


def test_cycle_starts_at_its_first_stage_in_mlx_yaml_and_the_first_cycle_is_named():
    error = refusal(
        stage("start", outs=["s"]),
        stage("c", deps=["b"], outs=["c"]),
        stage("a", deps=["c", "s"], outs=["a"]),
        stage("b", deps=["a"], outs=["b"]),
        stage("q", deps=["p"], outs=["q"]),
        stage("p", deps=["q"], outs=["p"]),
    )
    assert error.message == "the stages form a cycle: c → a → b → c"


# -- order and reach ----------------------------------------------------------------------------


def test_order_puts_producers_first_and_breaks_ties_by_mlx_yaml_order():
    graph = graph_of(
        stage("report", deps=["m", "e"]),
        stage("lint"),
        stage("train", deps=["p"], outs=["m"]),
        stage("evaluate", deps=["m"], outs=["e"]),
        stage("prepare", outs=["p"]),
    )
    assert graph.order() == ["lint", "prepare", "train", "evaluate", "report"]
    assert graph.order({"report", "evaluate", "lint"}) == ["lint", "evaluate", "report"]


def test_ancestors_and_descendants_are_transitive_exclude_the_names_and_come_in_run_order():
    graph = graph_of(
        stage("c", deps=["b"], outs=["c"]),
        stage("b", deps=["a"], outs=["b"]),
        stage("a", outs=["a"]),
        stage("other", outs=["o"]),
        stage("d", deps=["c", "o"]),
    )
    assert graph.ancestors(["c"]) == ["a", "b"]
    assert graph.ancestors(["d", "b"]) == ["a", "b", "c", "other"]  # c is written before other
    assert graph.descendants(["a"]) == ["b", "c", "d"]
    assert graph.descendants(["d"]) == []


def test_producer_is_the_stage_whose_out_is_or_contains_the_path():
    graph = graph_of(stage("prepare", outs=["data/prepared"]), stage("train", metrics=["metrics.json"]))
    assert graph.producer(RepoPath.parse("data/prepared")) == "prepare"
    assert graph.producer(RepoPath.parse("data/prepared/train.csv")) == "prepare"
    assert graph.producer(RepoPath.parse("metrics.json")) == "train"
    assert graph.producer(RepoPath.parse("data")) is None
    assert graph.producer(RepoPath.parse("data/prepared2")) is None


def test_restrict_keeps_the_edges_between_the_kept_stages_only():
    graph = graph_of(stage("a", outs=["a"]), stage("b", deps=["a"], outs=["b"]), stage("c", deps=["a", "b"]))
    small = graph.restrict(["c", "a"])
    assert list(small.stages) == ["a", "c"]
    assert small.upstream("c") == ("a",)
    assert small.downstream("a") == ("c",)
    assert small.producer(RepoPath.parse("b")) is None


def test_an_unknown_stage_name_is_a_usage_error_with_a_suggestion():
    graph = graph_of(stage("train"), stage("evaluate"))
    with pytest.raises(UsageError) as info:
        graph.ancestors(["trian"])
    assert info.value.message == "there is no stage 'trian' in mlx.yaml"
    assert info.value.hint == "did you mean 'train'?"
    with pytest.raises(UsageError, match="^there is no stage 'zzz' in mlx.yaml$"):
        graph.order(["zzz"])


def test_an_empty_pipeline_has_an_empty_graph():
    graph = graph_of()
    assert graph.order() == []
    assert graph.ancestors([]) == []


def test_a_long_chain_of_wide_stages_builds_and_orders():
    stages = [stage(f"s{i}", deps=[f"d{i - 1}/f{j}" for j in range(30)] if i else [], outs=[f"d{i}"]) for i in range(400)]
    graph = graph_of(*reversed(stages))
    assert graph.order() == [f"s{i}" for i in range(400)]
    assert graph.upstream("s399") == ("s398",)


# -- the graph agrees with the definition, checked naively ----------------------------------

_POOL = ["a", "a/b", "a/b/c", "a/c", "ab", "a-b", "a.b", "b", "b/a"]


def _overlap(left: str, right: str) -> bool:
    return left == right or left.startswith(right + "/") or right.startswith(left + "/")


@settings(deadline=None, max_examples=300)  # timings are not what this property checks
@given(
    st.lists(
        st.tuples(st.lists(st.sampled_from(_POOL), max_size=3, unique=True), st.lists(st.sampled_from(_POOL), max_size=2, unique=True)),
        max_size=6,
    )
)
def test_graph_matches_the_quadratic_definition(specs):
    stages = [stage(f"s{i}", deps=deps, outs=outs) for i, (deps, outs) in enumerate(specs)]
    outs = [(s.name, o.path.posix) for s in stages for o in s.outs]
    valid = not any(_overlap(p, q) for i, (_, p) in enumerate(outs) for _, q in outs[i + 1 :])
    valid = valid and not any(_overlap(d.posix, o.path.posix) for s in stages for d in s.deps for o in s.outs)
    edges = {
        s.name: {t.name for t in stages if t is not s and any(_overlap(d.posix, o.path.posix) for d in s.deps for o in t.outs)}
        for s in stages
    }
    if valid:
        try:
            tuple(graphlib.TopologicalSorter(edges).static_order())
        except graphlib.CycleError:
            valid = False
    if not valid:
        with pytest.raises(PipelineError):
            graph_of(*stages)
        return
    graph = graph_of(*stages)
    assert {name: set(graph.upstream(name)) for name in graph.stages} == edges
    expected: list[str] = []  # the first stage in mlx.yaml order whose producers have all gone
    while len(expected) < len(stages):
        expected.append(next(s.name for s in stages if s.name not in expected and edges[s.name] <= set(expected)))
    assert graph.order() == expected
