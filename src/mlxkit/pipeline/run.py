"""`mlx run` / `mlx repro`: set params, run the runner, and record the run for `mlx exp`.

A run that ran or restored at least one stage is recorded in `.mlx/runs/` (completed, failed or
interrupted); a run that found everything up to date, a dry run and a verification are not runs of
the pipeline and leave no record.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlxkit.errors import MlxError, UsageError
from mlxkit.gitrev import head_revision
from mlxkit.pipeline import LOCK_FILE
from mlxkit.pipeline.params import stage_params
from mlxkit.pipeline.runner import FAILED, RAN, RESTORED, OnEvent, Runner, RunOptions, StageOutcome, ignore_event
from mlxkit.repo.repository import Repository
from mlxkit.store.digest import Digest
from mlxkit.store.hashing import hash_bytes


@dataclass(frozen=True)
class RunReport:
    stages: list[StageOutcome]
    run_id: str | None
    counters: dict[str, int]
    lock_changed: bool = False
    warnings: list[str] = field(default_factory=list)

    @property
    def failed(self) -> list[StageOutcome]:
        return [outcome for outcome in self.stages if outcome.state == FAILED]

    @property
    def differing(self) -> list[StageOutcome]:
        return [outcome for outcome in self.stages if outcome.differences]


def run(
    repo: Repository,
    options: RunOptions,
    environ: Mapping[str, str],
    *,
    assignments: list[str] | None = None,
    command: str = "mlx run",
    on_event: OnEvent = ignore_event,
) -> RunReport:
    if assignments:
        _set_params(repo, options, assignments)
    started = _now()
    runner = Runner(repo, options, environ, on_event)
    status = "interrupted"
    outcomes: list[StageOutcome] = []
    try:
        outcomes = runner.run()
        status = "failed" if any(o.state == FAILED for o in outcomes) else "completed"
    finally:
        ended = list(runner.outcomes.values())
        if not options.dry and not options.verify and any(o.state in (RAN, RESTORED) for o in ended):
            run_id = _record(repo, runner, ended, status, command, started)
        else:
            run_id = None
    warnings = [*repo.state.warnings, *runner.run_cache.problems]
    return RunReport(outcomes, run_id, runner.inspector.counters.as_dict(), runner.lock_written, warnings)


def _set_params(repo: Repository, options: RunOptions, assignments: list[str]) -> None:
    """Write `-S` values, once the command is known to be able to run: a mistyped stage or a cycle
    must not leave params.yaml changed."""
    from mlxkit.pipeline.select import load_graph, select
    from mlxkit.pipeline.setparams import parse_assignment, set_params

    if options.dry or options.verify:
        raise UsageError("-S changes the params file, which --dry and --verify never do", hint="run 'mlx run -S ...' without them")
    for text in assignments:
        parse_assignment(text)
    select(load_graph(repo), options.targets, single=options.single, downstream=options.downstream)
    set_params(repo.root, assignments)


def _record(repo: Repository, runner: Runner, ended: list[StageOutcome], status: str, command: str, started: dt.datetime) -> str:
    from mlxkit.pipeline.records import RunRecord, new_run_id, read_metrics_file, utc_timestamp, write_record

    params: dict[str, dict[str, Any]] = {}
    metrics: dict[str, dict[str, Any]] = {}
    for stage in runner.graph.stages.values():
        try:
            for file, values in stage_params(repo.root, stage).items():
                params.setdefault(file, {}).update(values)
        except MlxError:
            pass  # a run that failed on its params still gets its record
        for out in stage.outs:
            path = out.path.on_disk(repo.root)
            if out.kind == "metric" and path.is_file():
                try:
                    metrics[out.path.posix] = read_metrics_file(path)
                except MlxError:
                    pass
    revision, dirty = head_revision(repo.root) if repo.is_git else (None, None)
    lock_path = repo.root / LOCK_FILE
    record = RunRecord(
        id=new_run_id(started),
        started=utc_timestamp(started),
        finished=utc_timestamp(_now()),
        command=command,
        git_revision=revision,
        git_dirty=dirty,
        params=params,
        metrics=metrics,
        stages_run=[o.name for o in ended if o.state == RAN],
        stages_cached=[o.name for o in ended if o.state == RESTORED],
        status=status,
        lock_digest=_digest_of(lock_path),
    )
    write_record(repo.mlx_dir / "runs", record)
    return record.id


def _digest_of(path: Path) -> Digest | None:
    try:
        return hash_bytes(path.read_bytes())
    except FileNotFoundError:
        return None


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)
