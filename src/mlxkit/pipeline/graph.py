"""The stage graph: which stage needs which, checked before anything runs.

A stage B depends on a stage A when a dep of B equals, lies inside, or contains an out of A
(metrics and plots are outs too). `build_graph` refuses, naming the stages and their lines in
mlx.yaml: a path written by two stages, outs nested in one another, a stage reading its own out,
and cycles. Everything the runner asks afterwards (order, ancestors, upstream stages) is answered
in mlx.yaml order, so that two runs of one pipeline do the same things in the same order.

Paths are matched through a dict of outs and a sorted list of them (bisect), never by comparing
every dep with every out: a pipeline of hundreds of stages with dozens of paths each builds in
milliseconds.
"""

from __future__ import annotations

import bisect
import difflib
import heapq
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from mlxkit.errors import PipelineError, UsageError
from mlxkit.fs.confine import RepoPath
from mlxkit.pipeline.model import Pipeline, Stage


@dataclass(frozen=True)
class Graph:
    pipeline: Pipeline
    _upstream: dict[str, tuple[str, ...]] = field(repr=False)  # in mlx.yaml order
    _downstream: dict[str, tuple[str, ...]] = field(repr=False)
    _producers: dict[str, str] = field(repr=False)  # out path -> the stage that writes it
    _index: dict[str, int] = field(repr=False)  # stage -> position in mlx.yaml

    @property
    def stages(self) -> dict[str, Stage]:
        return self.pipeline.stages

    def upstream(self, name: str) -> tuple[str, ...]:
        """The stages whose outs `name` reads directly."""
        return self._upstream[self._known(name)]

    def downstream(self, name: str) -> tuple[str, ...]:
        """The stages that read an out of `name` directly."""
        return self._downstream[self._known(name)]

    def ancestors(self, names: Iterable[str]) -> list[str]:
        """Every stage that `names` need, directly or not (not `names` themselves unless one needs
        another), in the order they run."""
        return self.order(self._reach(names, self._upstream))

    def descendants(self, names: Iterable[str]) -> list[str]:
        """Every stage that needs one of `names`, directly or not, in the order they run."""
        return self.order(self._reach(names, self._downstream))

    def order(self, names: Iterable[str] | None = None) -> list[str]:
        """`names` (all stages when None) so that each comes after the stages it needs; among stages
        that could go next, the one written first in mlx.yaml goes first."""
        chosen = set(self.stages) if names is None else {self._known(name) for name in names}
        waiting = {name: sum(1 for up in self._upstream[name] if up in chosen) for name in chosen}
        heap = [(self._index[name], name) for name, count in waiting.items() if count == 0]
        heapq.heapify(heap)
        ordered: list[str] = []
        while heap:
            _, name = heapq.heappop(heap)
            ordered.append(name)
            for down in self._downstream[name]:
                if down in chosen:
                    waiting[down] -= 1
                    if waiting[down] == 0:
                        heapq.heappush(heap, (self._index[down], down))
        return ordered

    def producer(self, path: RepoPath) -> str | None:
        """The stage with an out that is `path` or contains it."""
        for prefix in _self_and_parents(path.posix):
            if prefix in self._producers:
                return self._producers[prefix]
        return None

    def restrict(self, names: Iterable[str]) -> Graph:
        """The graph of `names` alone, with the edges between them (what `mlx dag TARGET` draws)."""
        kept = {self._known(name) for name in names}
        stages = {name: stage for name, stage in self.stages.items() if name in kept}
        return Graph(
            Pipeline(stages, self.pipeline.source),
            {name: tuple(up for up in self._upstream[name] if up in kept) for name in stages},
            {name: tuple(down for down in self._downstream[name] if down in kept) for name in stages},
            {path: name for path, name in self._producers.items() if name in kept},
            {name: index for index, name in enumerate(stages)},
        )

    def _reach(self, names: Iterable[str], edges: dict[str, tuple[str, ...]]) -> set[str]:
        stack = [self._known(name) for name in names]
        found: set[str] = set()
        while stack:
            for other in edges[stack.pop()]:
                if other not in found:
                    found.add(other)
                    stack.append(other)
        return found

    def _known(self, name: str) -> str:
        if name not in self._index:
            close = difflib.get_close_matches(name, list(self.stages), n=1)
            raise UsageError(
                f"there is no stage '{name}' in {self.pipeline.source}",
                hint=f"did you mean '{close[0]}'?" if close else None,
            )
        return name


def build_graph(pipeline: Pipeline) -> Graph:
    """The graph of `pipeline`; PipelineError (exit 30) for anything that makes it impossible to run."""
    producers = _check_outs(pipeline)
    _check_own_deps(pipeline)
    upstream: dict[str, list[str]] = {name: [] for name in pipeline.stages}
    downstream: dict[str, list[str]] = {name: [] for name in pipeline.stages}
    index = {name: position for position, name in enumerate(pipeline.stages)}
    sorted_outs = sorted(producers)
    for name, stage in pipeline.stages.items():  # in mlx.yaml order, so downstream lists are too
        found: set[str] = set()
        for dep in stage.deps:
            found.update(_producers_of(dep.posix, producers, sorted_outs))
        for producer in sorted(found, key=index.__getitem__):
            upstream[name].append(producer)
            downstream[producer].append(name)
    graph = Graph(
        pipeline,
        {name: tuple(ups) for name, ups in upstream.items()},
        {name: tuple(downs) for name, downs in downstream.items()},
        producers,
        index,
    )
    _check_acyclic(graph)
    return graph


def _where(pipeline: Pipeline, name: str) -> str:
    line = pipeline.stages[name].line
    return f"'{name}' ({pipeline.source}:{line})" if line is not None else f"'{name}'"


def _self_and_parents(posix: str) -> Iterator[str]:
    yield posix
    while "/" in posix:
        posix = posix.rsplit("/", 1)[0]
        yield posix


def _check_outs(pipeline: Pipeline) -> dict[str, str]:
    """Out path -> its stage, refusing a path written twice and outs nested in one another."""
    producers: dict[str, str] = {}
    for name, stage in pipeline.stages.items():
        for out in stage.outs:
            path = out.path.posix
            owner = producers.get(path)
            if owner == name:
                raise PipelineError(
                    f"'{path}' is listed twice in the outputs of {_where(pipeline, name)}",
                    hint="list each output once (outs, metrics and plots are all outputs)",
                )
            if owner is not None:
                same_template = "@" in name and owner.split("@", 1)[0] == name.split("@", 1)[0]
                raise PipelineError(
                    f"'{path}' is an output of both {_where(pipeline, owner)} and {_where(pipeline, name)}",
                    hint="use ${item} in the path so that each item writes its own output"
                    if same_template
                    else "a path can be the output of one stage only",
                )
            producers[path] = name
    for name, stage in pipeline.stages.items():
        for out in stage.outs:
            for parent in list(_self_and_parents(out.path.posix))[1:]:
                owner = producers.get(parent)
                if owner is None:
                    continue
                whose = f"its output '{parent}'" if owner == name else f"output '{parent}' of {_where(pipeline, owner)}"
                raise PipelineError(
                    f"output '{out.path}' of {_where(pipeline, name)} is inside {whose}",
                    hint="an output directory belongs to one output whole: make the outputs separate paths",
                )
    return producers


def _check_own_deps(pipeline: Pipeline) -> None:
    for name, stage in pipeline.stages.items():
        outs = [out.path for out in stage.outs]
        for dep in stage.deps:
            for out in outs:
                if dep == out:
                    problem = f"{_where(pipeline, name)} lists its own output '{out}' as a dependency"
                elif out.is_within(dep):
                    problem = f"dependency '{dep}' of {_where(pipeline, name)} contains its own output '{out}'"
                elif dep.is_within(out):
                    problem = f"dependency '{dep}' of {_where(pipeline, name)} is inside its own output '{out}'"
                else:
                    continue
                raise PipelineError(problem, hint="a stage cannot read what it writes: remove the dependency, or split the stage")


def _producers_of(dep: str, producers: dict[str, str], sorted_outs: list[str]) -> Iterator[str]:
    """The stages with an out that is `dep`, contains it, or lies inside it."""
    for prefix in _self_and_parents(dep):
        if prefix in producers:
            yield producers[prefix]
    below = dep + "/"
    position = bisect.bisect_left(sorted_outs, below)
    while position < len(sorted_outs) and sorted_outs[position].startswith(below):
        yield producers[sorted_outs[position]]
        position += 1


def _check_acyclic(graph: Graph) -> None:
    """Refuse the first cycle a depth-first walk meets, starting from stages in mlx.yaml order."""
    state: dict[str, int] = {}  # 1: on the current path, 2: finished
    for start in graph.stages:
        if start in state:
            continue
        path = [start]
        branches = [iter(graph._downstream[start])]
        state[start] = 1
        while branches:
            following = next(branches[-1], None)
            if following is None:
                state[path.pop()] = 2
                branches.pop()
            elif state.get(following) == 1:
                _raise_cycle(graph, path[path.index(following) :])
            elif following not in state:
                state[following] = 1
                path.append(following)
                branches.append(iter(graph._downstream[following]))


def _raise_cycle(graph: Graph, cycle: list[str]) -> None:
    """`cycle` lists stages each feeding the next, the last feeding the first."""
    first = min(range(len(cycle)), key=lambda position: graph._index[cycle[position]])
    cycle = cycle[first:] + cycle[:first]
    links = []
    for producer, consumer in zip(cycle, cycle[1:] + cycle[:1]):
        dep = _linking_dep(graph, producer, consumer)
        links.append(f"{_where(graph.pipeline, consumer)} depends on '{dep}' from '{producer}'")
    raise PipelineError(
        f"the stages form a cycle: {' → '.join(cycle + cycle[:1])}",
        hint=f"remove one of these dependencies: {'; '.join(links)}",
    )


def _linking_dep(graph: Graph, producer: str, consumer: str) -> RepoPath:
    outs = [out.path for out in graph.stages[producer].outs]
    return next(dep for dep in graph.stages[consumer].deps if any(dep.is_within(o) or o.is_within(dep) for o in outs))
