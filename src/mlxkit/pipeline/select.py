"""Which stages a command is about: the names the user gave, turned into an ordered list."""

from __future__ import annotations

import difflib

from mlxkit.errors import PipelineError, UsageError
from mlxkit.pipeline.graph import Graph, build_graph
from mlxkit.pipeline import PIPELINE_FILE
from mlxkit.pipeline.model import Pipeline
from mlxkit.pipeline.spec import load_pipeline
from mlxkit.repo.repository import Repository


def load_graph(repo: Repository) -> Graph:
    pipeline = load_pipeline(repo.root)
    if pipeline is None:
        raise PipelineError(
            f"there is no {PIPELINE_FILE} in '{repo.root}'",
            hint="declare stages with 'mlx stage add -n NAME -d DEP -o OUT CMD', or write mlx.yaml (docs/pipelines.md)",
        )
    return build_graph(pipeline)


def stage_names(pipeline: Pipeline, given: list[str]) -> list[str]:
    """Stage names from what the user typed; a foreach/matrix template name means all its items."""
    names: list[str] = []
    for text in given:
        if text in pipeline.stages:
            found = [text]
        else:
            found = [name for name in pipeline.stages if name.split("@", 1)[0] == text and "@" in name]
        if not found:
            close = difflib.get_close_matches(text, list(pipeline.stages), n=1)
            raise UsageError(
                f"there is no stage '{text}' in {PIPELINE_FILE}",
                hint=f"did you mean '{close[0]}'?" if close else "'mlx stage list' shows the stages",
            )
        names += [name for name in found if name not in names]
    return names


def select(graph: Graph, given: list[str], *, single: bool = False, downstream: bool = False) -> list[str]:
    """Stages in the order they run: the named ones with what they need (or, with `downstream`,
    with what needs them); all stages when none are named."""
    if not given:
        return graph.order()
    names = stage_names(graph.pipeline, given)
    if single:
        chosen = set(names)
    elif downstream:
        chosen = set(names) | set(graph.descendants(names))
    else:
        chosen = set(names) | set(graph.ancestors(names))
    return graph.order(chosen)
