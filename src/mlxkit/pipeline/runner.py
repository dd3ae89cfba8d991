"""`mlx run` and `mlx repro`: run the stages that are out of date, in graph order, `jobs` at a time.

A stage is decided when everything it needs has finished, so a stage whose upstream produced the
same outputs again is not run. A stale stage is restored from the cache instead of run when its
outputs are already known: its lockfile entry (same inputs) or the run cache (same fingerprint).
After each stage completes, its outs are committed to the cache and mlx.lock is rewritten with its
entry, so an interrupted or failed run leaves a lockfile that describes exactly the completed stages.
Each mlx.lock and run-cache entry is fsynced before its rename; their folders are fsynced once, when
the run ends (fs.atomic.sync_dirs): a machine crash mid-run may undo the newest renames, which only
means a completed stage runs (or is restored) again, never a lockfile naming what is not stored.

Commands run in background threads (one per running stage); everything else - the cache, the state
db, the lockfile, events for the CLI - happens in the calling thread.

What only a stage that acts needs (outputs.py and the checkout behind it, execute.py) is imported
when one does: a run with nothing to do is the common case, and start-up is most of its time.
"""

from __future__ import annotations

import queue
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlxkit.errors import MlxError, PipelineError
from mlxkit.fs.atomic import sync_dirs
from mlxkit.pipeline.changes import Inputs, Inspector
from mlxkit.pipeline.fingerprint import stage_fingerprint
from mlxkit.pipeline.graph import Graph
from mlxkit.pipeline.lockfile import read_lock, with_stage, write_lock
from mlxkit.pipeline.model import Lock, LockedPath, LockEntry, Stage
from mlxkit.pipeline.params import stage_params
from mlxkit.pipeline.runcache import RunCache
from mlxkit.pipeline.select import load_graph, select
from mlxkit.repo.repository import Repository
from mlxkit.store.digest import Digest
from mlxkit.tracking.pointer import pointer_file_for
from mlxkit.tracking.targets import tracking_ancestor
from mlxkit.tracking.workspace import Scanner

if TYPE_CHECKING:
    from mlxkit.pipeline.execute import StageProcess

# What became of a stage. "would run" only with dry; "differs" only with verify.
RAN, RESTORED, UP_TO_DATE, FROZEN, FAILED, SKIPPED, WOULD_RUN = (
    "ran", "restored", "up to date", "frozen", "failed", "skipped", "would run"
)  # fmt: skip
_SUCCEEDED = {RAN, RESTORED, UP_TO_DATE, FROZEN, WOULD_RUN}


@dataclass(frozen=True)
class StageOutcome:
    name: str
    state: str
    reasons: list[str] = field(default_factory=list)
    seconds: float = 0.0
    exit_code: int | None = None
    failed_command: str | None = None
    error: str | None = None
    tail: list[str] = field(default_factory=list)
    differences: list[str] = field(default_factory=list)  # --verify: outs whose hash differs from mlx.lock


@dataclass(frozen=True)
class RunOptions:
    targets: list[str] = field(default_factory=list)
    force: bool = False
    single: bool = False
    downstream: bool = False
    dry: bool = False
    jobs: int = 1
    keep_going: bool = False
    run_cache: bool = True
    verify: bool = False  # run everything, compare outs with mlx.lock, leave mlx.lock as it is


@dataclass(frozen=True)
class Event:
    """For the CLI: a stage started ('start'), printed a line ('line'), or ended ('end')."""

    kind: str
    stage: str
    text: str = ""
    outcome: StageOutcome | None = None


OnEvent = Callable[[Event], None]


def ignore_event(_event: Event) -> None:
    """The default OnEvent: a run without a screen to show it on."""


@dataclass
class _Running:
    stage: Stage
    inputs: Inputs
    reasons: list[str]
    process: StageProcess
    started: float


class Runner:
    def __init__(self, repo: Repository, options: RunOptions, environ: Mapping[str, str], on_event: OnEvent = ignore_event) -> None:
        self.repo = repo
        self.options = options
        self.environ = environ
        self.on_event = on_event
        self.graph: Graph = load_graph(repo)
        self.lock: Lock = read_lock(repo.root)
        self.committed_lock = self.lock
        self.inspector = Inspector(repo, self.lock, environ)
        self.storing = Scanner(repo, store=True, counters=self.inspector.counters)  # outs into the cache
        self.run_cache = RunCache(repo.cache_dir / "runs")
        self.outcomes: dict[str, StageOutcome] = {}
        self.lock_written = False
        self._events: queue.Queue[tuple[str, str, str]] = queue.Queue()
        self._running: dict[str, _Running] = {}
        self._params: dict[str, dict[str, dict[str, Any]]] = {}  # read by _check_params, until a command starts
        self._dir_syncs: set[Path] = set()  # mlx.lock's and run-cache entries' folders: fsynced once, at the end

    # -- the loop -----------------------------------------------------------------------------

    def run(self) -> list[StageOutcome]:
        order = select(self.graph, self.options.targets, single=self.options.single, downstream=self.options.downstream)
        self._check_params(order)
        self._check_ownership(order)
        chosen = set(order)
        pending = list(order)
        try:
            while True:
                ready = self._ready(pending, chosen)
                for name in ready:
                    pending.remove(name)
                    self._decide(self.graph.stages[name])
                if self._running:
                    self._wait()
                elif not ready:
                    break  # all decided, or what is left waits for stages that failed or were skipped
            for name in pending:
                self._end(StageOutcome(name, SKIPPED, [self._blocked_reason(name, chosen)]))
            if not self.options.targets:
                self._forget_removed_stages()
        finally:
            for running in self._running.values():
                running.process.cancel()
            for running in self._running.values():
                running.process.join()
            sync_dirs(self._dir_syncs)
        return [self.outcomes[name] for name in order]

    def _check_params(self, order: list[str]) -> None:
        """A param a stage names but its file lacks is a definition error: named before anything runs
        (unless a stage writes that params file). The values are kept for deciding the stage, as long
        as no command has started since (a command may change them)."""
        for name in order:
            stage = self.graph.stages[name]
            if not stage.frozen and not any(self.graph.producer(ref.file) for ref in stage.params):
                self._params[name] = stage_params(self.repo.root, stage)

    def _check_ownership(self, order: list[str]) -> None:
        """An output belongs to its stage: a path `mlx add` tracks (or one inside a tracked directory)
        cannot also be one, or the pointer file and mlx.lock would fight over it."""
        for name in order:
            for out in self.graph.stages[name].outs:
                pointer = pointer_file_for(out.path)
                owner = pointer if pointer.on_disk(self.repo.root).is_file() else None
                ancestor = tracking_ancestor(self.repo, out.path)
                if ancestor is not None:
                    owner = pointer_file_for(ancestor)
                if owner is not None:
                    raise PipelineError(
                        f"'{out.path}' is an output of stage '{name}' and is tracked by '{owner}'",
                        hint=f"stop tracking it ('mlx remove {owner}'), or take it out of the stage's outs",
                    )

    def _ready(self, pending: list[str], chosen: set[str]) -> list[str]:
        if self._stopping():
            return []
        ready = []
        for name in pending:
            upstream = [u for u in self.graph.upstream(name) if u in chosen]
            if all(self.outcomes.get(u) is not None and self.outcomes[u].state in _SUCCEEDED for u in upstream):
                if len(self._running) + len(ready) < max(1, self.options.jobs):
                    ready.append(name)
        return ready

    def _stopping(self) -> bool:
        return not self.options.keep_going and any(o.state == FAILED for o in self.outcomes.values())

    def _blocked_reason(self, name: str, chosen: set[str]) -> str:
        failed = [u for u in self.graph.ancestors([name]) if u in chosen and self.outcomes.get(u, None) is not None
                  and self.outcomes[u].state in (FAILED, SKIPPED)]  # fmt: skip
        if failed:
            return f"upstream stage '{failed[0]}' did not complete"
        return "another stage failed"

    # -- deciding one stage -------------------------------------------------------------------

    def _decide(self, stage: Stage) -> None:
        if stage.frozen and not self.options.verify:
            self._end(StageOutcome(stage.name, FROZEN, ["frozen: not checked"]))
            return
        try:
            inputs = self.inspector.inputs(stage, self._params.pop(stage.name, None))
            if self.options.force or self.options.verify:
                reasons = ["forced" if self.options.force else "verifying"]
            else:
                reasons = self.inspector.reasons(stage, inputs)
            if self.options.dry:
                reasons += [f"upstream stage '{u}' would run" for u in self.graph.upstream(stage.name)
                            if self.outcomes.get(u) is not None and self.outcomes[u].state == WOULD_RUN]  # fmt: skip
                self._end(StageOutcome(stage.name, WOULD_RUN if reasons else UP_TO_DATE, reasons))
                return
            if not reasons:
                self._end(StageOutcome(stage.name, UP_TO_DATE))
                return
            if self._restore(stage, inputs, reasons):
                return
            if inputs.absent:
                raise MlxError(
                    f"dep '{inputs.absent[0]}' of stage '{stage.name}' does not exist",
                    hint="create it, or declare the stage that writes it",
                )
            if inputs.unreadable:
                path, problem = inputs.unreadable[0]
                raise MlxError(
                    f"dep '{path}' of stage '{stage.name}' holds {problem}",
                    hint="mlx does not follow symbolic links: replace them with the files they point to",
                )
            if inputs.elsewhere:  # tracked, but not checked out: the command would not see it
                raise MlxError(
                    f"dep '{inputs.elsewhere[0]}' of stage '{stage.name}' is tracked but not in the workspace",
                    hint=f"run 'mlx checkout {inputs.elsewhere[0]}' (or 'mlx pull') first",
                )
            from mlxkit.pipeline.outputs import clear_outs

            clear_outs(self.repo, stage, self.storing)
        except MlxError as exc:
            self._end(StageOutcome(stage.name, FAILED, error=_one_line(exc)))
            return
        from mlxkit.pipeline.execute import StageProcess

        cwd = (stage.wdir.on_disk(self.repo.root) if stage.wdir else self.repo.root)
        process = StageProcess(stage.cmd, cwd, self.environ, lambda text, name=stage.name: self._events.put(("line", name, text)))
        self._running[stage.name] = _Running(stage, inputs, reasons, process, time.monotonic())
        self._params.clear()
        self.on_event(Event("start", stage.name, "; ".join(reasons)))
        process.start(lambda _p, name=stage.name: self._events.put(("done", name, "")))

    def _restore(self, stage: Stage, inputs: Inputs, reasons: list[str]) -> bool:
        from mlxkit.pipeline.outputs import can_restore, restore_outs

        if not self.options.run_cache or self.options.force or self.options.verify or stage.always_changed:
            return False
        locked = self.lock.stages.get(stage.name)
        now = inputs.entry
        if locked is not None and (locked.cmd, locked.deps, locked.params, locked.env) == (now.cmd, now.deps, now.params, now.env):
            known: tuple[LockedPath, ...] | None = locked.outs
            source = "mlx.lock"
        else:
            known = self.run_cache.get(self._fingerprint(inputs))
            source = "the run cache"
        declared = {out.path for out in stage.outs}
        if known is None or {out.path for out in known} != declared or not can_restore(self.repo, known):
            return False
        restore_outs(self.repo, stage, known, self.storing)
        self._complete(stage, LockEntry(now.cmd, now.deps, now.params, now.env, known))
        self._end(StageOutcome(stage.name, RESTORED, reasons + [f"outputs restored from {source}"]))
        return True

    # -- finishing ----------------------------------------------------------------------------

    def _wait(self) -> None:
        kind, name, text = self._events.get()
        if kind == "line":
            self.on_event(Event("line", name, text))
            return
        running = self._running.pop(name)
        running.process.join()
        result = running.process.result
        assert result is not None
        stage = running.stage  # its lines were all queued, and handled, before its "done"
        if result.exit_code != 0:
            self._end(StageOutcome(stage.name, FAILED, running.reasons, result.seconds, result.exit_code,
                                   result.failed_command, f"'{result.failed_command}' exited with {_exit_text(result.exit_code)}",
                                   list(result.tail)))  # fmt: skip
            return
        from mlxkit.pipeline.outputs import commit_outs

        try:
            outs = commit_outs(self.repo, stage, self.storing)
        except MlxError as exc:
            self._end(StageOutcome(stage.name, FAILED, running.reasons, result.seconds, error=_one_line(exc), tail=list(result.tail)))
            return
        now = running.inputs.entry
        entry = LockEntry(now.cmd, now.deps, now.params, now.env, outs)
        differences = self._differences(stage, outs) if self.options.verify else []
        self._complete(stage, entry)
        self.run_cache.put(self._fingerprint(running.inputs), outs, self._dir_syncs)
        self._end(StageOutcome(stage.name, RAN, running.reasons, result.seconds, 0, differences=differences))

    def _complete(self, stage: Stage, entry: LockEntry) -> None:
        """Record a completed stage in mlx.lock (not with --verify, which only checks)."""
        self.lock = with_stage(self.lock, stage.name, entry)
        self.inspector.lock = self.lock
        self.inspector.forget()  # its outs changed; the stages that read them are decided after this
        if not self.options.verify:
            self._write_lock()

    def _forget_removed_stages(self) -> None:
        """Entries of stages that mlx.yaml no longer defines go, even when nothing ran."""
        if set(self.lock.stages) - set(self.graph.stages) and not self.options.dry and not self.options.verify:
            self._write_lock()

    def _write_lock(self) -> None:
        """Write mlx.lock, without the entries of stages that mlx.yaml no longer defines."""
        self.lock = Lock({name: e for name, e in self.lock.stages.items() if name in self.graph.stages})
        write_lock(self.repo.root, self.lock, self._dir_syncs)
        self.lock_written = True

    def _differences(self, stage: Stage, outs: tuple[LockedPath, ...]) -> list[str]:
        locked = self.committed_lock.stages.get(stage.name)
        if locked is None:
            return ["not in mlx.lock"]
        recorded = {out.path: out.digest for out in locked.outs}
        return [f"'{out.path}' differs from mlx.lock" for out in outs if recorded.get(out.path) != out.digest]

    def _fingerprint(self, inputs: Inputs) -> Digest:
        entry = inputs.entry
        return stage_fingerprint(entry.cmd, entry.deps, entry.params, entry.env)

    def _end(self, outcome: StageOutcome) -> None:
        self.outcomes[outcome.name] = outcome
        self.on_event(Event("end", outcome.name, outcome.state, outcome))


def _one_line(exc: MlxError) -> str:
    return exc.message + (f" ({exc.hint})" if exc.hint else "")


def _exit_text(code: int) -> str:
    return f"signal {-code}" if code < 0 else f"status {code}"
