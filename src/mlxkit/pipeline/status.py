"""Which stages are out of date, and why, without running anything: `mlx status` and `repro --frozen`.

`mlx status` judges the workspace: a stage is stale when its inputs or outputs differ from its
lockfile entry, or when a stage upstream of it is stale.

`repro --frozen` judges the committed lockfile, on a clone that may hold no data at all: outputs that
are absent are not a difference (they can be pulled), a dep is checked through its pointer file or,
when another stage writes it, through that stage's lockfile entry; `always_changed` is not a
difference, and frozen stages are not checked. It passes when mlx.lock describes mlx.yaml, the
params and every dep that is present.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from mlxkit.pipeline.changes import Inspector
from mlxkit.pipeline.lockfile import read_lock
from mlxkit.pipeline.select import load_graph, select
from mlxkit.repo.repository import Repository

STALE, FRESH, FROZEN = "stale", "up to date", "frozen"


@dataclass(frozen=True)
class StageCheck:
    name: str
    state: str
    reasons: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class PipelineReport:
    stages: list[StageCheck]
    unknown_in_lock: list[str]  # mlx.lock entries for stages mlx.yaml does not define
    counters: dict[str, int]

    @property
    def is_clean(self) -> bool:
        return not self.unknown_in_lock and all(check.state != STALE for check in self.stages)

    @property
    def stale(self) -> list[StageCheck]:
        return [check for check in self.stages if check.state == STALE]


def pipeline_status(
    repo: Repository, environ: Mapping[str, str], targets: list[str] | None = None, *, as_committed: bool = False
) -> PipelineReport:
    graph = load_graph(repo)
    lock = read_lock(repo.root)
    inspector = Inspector(repo, lock, environ, outs_may_be_absent=as_committed)
    checks: dict[str, StageCheck] = {}
    for name in select(graph, targets or []):
        stage = graph.stages[name]
        if stage.frozen:
            checks[name] = StageCheck(name, FROZEN)
            continue
        reasons = inspector.reasons(stage, inspector.inputs(stage))
        if as_committed:
            reasons = [reason for reason in reasons if reason != "always_changed is set"]
        else:
            reasons += [f"upstream stage '{up}' is stale" for up in graph.upstream(name) if up in checks and checks[up].state == STALE]
        checks[name] = StageCheck(name, STALE if reasons else FRESH, reasons)
    unknown = sorted(set(lock.stages) - set(graph.stages)) if not targets else []
    return PipelineReport(list(checks.values()), unknown, inspector.counters.as_dict())
