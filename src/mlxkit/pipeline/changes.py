"""Is a stage up to date? Its inputs as they are now, compared with its lockfile entry, with reasons.

Deciding costs stats, not hashes: every path goes through the workspace Scanner, whose stat cache
vouches for files that did not change. A path that is not in the workspace is looked up where a
fresh clone has it: a dep tracked by a pointer file has the pointer's hash, and (when outs may be
absent, as in `repro --frozen`) an out of an upstream stage has the hash the lockfile gives it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from blake3 import blake3

from mlxkit.fs.confine import RepoPath
from mlxkit.pipeline.model import Lock, LockedPath, LockEntry, Stage
from mlxkit.pipeline.params import stage_params
from mlxkit.repo.repository import Repository
from mlxkit.store.digest import Digest
from mlxkit.tracking.pointer import pointer_file_for, read_pointer
from mlxkit.tracking.workspace import Counters, Scanner


@dataclass(frozen=True)
class Inputs:
    """What a stage would run with now: the lockfile entry it would get, before its outs exist."""

    entry: LockEntry
    absent: tuple[RepoPath, ...] = ()  # deps that are neither in the workspace nor known from a pointer or the lock
    elsewhere: tuple[RepoPath, ...] = ()  # deps known from a pointer or the lock, but not in the workspace
    unreadable: tuple[tuple[RepoPath, str], ...] = ()  # deps that hold what mlx does not track, and what that is


class Inspector:
    """Reads the current state of stages' deps, params, env and outs (one per command)."""

    def __init__(self, repo: Repository, lock: Lock, environ: Mapping[str, str], *, outs_may_be_absent: bool = False) -> None:
        self.repo = repo
        self.lock = lock
        self.environ = environ
        self.outs_may_be_absent = outs_may_be_absent
        self.counters = Counters()
        self.scanner = Scanner(repo, store=False, counters=self.counters)
        self._locked_outs = {out.path: out for entry in lock.stages.values() for out in entry.outs}
        self._seen: dict[RepoPath, LockedPath | str | None] = {}  # an out is the next stage's dep: look once

    def forget(self) -> None:
        """Look at paths again from now on: a stage wrote its outs."""
        self._seen.clear()

    # -- paths --------------------------------------------------------------------------------

    def path_state(self, path: RepoPath) -> LockedPath | str | None:
        """The path as it is in the workspace; a problem as a string; None when it does not exist."""
        if path not in self._seen:
            snapshot = self.scanner.snapshot(path)
            if snapshot.problem is not None:
                self._seen[path] = snapshot.problem
            elif snapshot.digest is None:
                self._seen[path] = None
            else:
                self._seen[path] = LockedPath(path, snapshot.digest, snapshot.size, snapshot.files)
        return self._seen[path]

    def dep_state(self, path: RepoPath) -> tuple[LockedPath | str | None, bool]:
        """The dep's state, and whether it came from the workspace (else from a pointer or the lock)."""
        found = self.path_state(path)
        if found is not None:
            return found, True
        if pointer_file_for(path).on_disk(self.repo.root).is_file():  # tracked data not checked out
            pointer = read_pointer(self.repo.root, pointer_file_for(path))
            return LockedPath(path, pointer.digest, pointer.size, pointer.files), False
        if self.outs_may_be_absent and path in self._locked_outs:
            return self._locked_outs[path], False
        return None, True

    # -- inputs -------------------------------------------------------------------------------

    def inputs(self, stage: Stage, params: dict[str, dict[str, Any]] | None = None) -> Inputs:
        """`params`: the stage's params if the caller has just read them (stage_params)."""
        deps, absent, elsewhere, unreadable = [], [], [], []
        for path in sorted(set(stage.deps)):
            state, in_workspace = self.dep_state(path)
            if isinstance(state, LockedPath):
                deps.append(state)
                if not in_workspace:
                    elsewhere.append(path)
            elif state is None:
                absent.append(path)
            else:
                unreadable.append((path, state))
        env = {name: env_digest(self.environ.get(name)) for name in sorted(set(stage.env))}
        params = stage_params(self.repo.root, stage) if params is None else params
        entry = LockEntry(cmd=stage.cmd, deps=tuple(deps), params=params, env=env)
        return Inputs(entry, tuple(absent), tuple(elsewhere), tuple(unreadable))

    # -- the verdict --------------------------------------------------------------------------

    def reasons(self, stage: Stage, inputs: Inputs) -> list[str]:
        """Why `stage` must run; empty when its lockfile entry describes it."""
        locked = self.lock.stages.get(stage.name)
        if locked is None:
            return ["never run (no entry in mlx.lock)"] + _unusable_deps(inputs)
        reasons = ["always_changed is set"] if stage.always_changed else []
        now = inputs.entry
        if now.cmd != locked.cmd:
            reasons.append("command changed")
        reasons += _param_changes(locked.params, now.params)
        for name in sorted(set(now.env) | set(locked.env)):
            if now.env.get(name) != locked.env.get(name):
                reasons.append(f"environment variable '{name}' changed")
        reasons += _unusable_deps(inputs) + _dep_changes(locked.deps, now.deps, set(stage.deps))
        reasons += self.out_changes(stage, locked)
        return reasons

    def out_changes(self, stage: Stage, locked: LockEntry) -> list[str]:
        reasons = []
        recorded = {out.path: out for out in locked.outs}
        declared = {out.path for out in stage.outs}
        for path in sorted(declared - set(recorded)):
            reasons.append(f"out '{path}' is new")
        for path in sorted(set(recorded) - declared):
            reasons.append(f"out '{path}' is no longer declared")
        for path in sorted(declared & set(recorded)):
            state = self.path_state(path)
            if state is None:
                if not self.outs_may_be_absent:
                    reasons.append(f"out '{path}' is missing")
            elif isinstance(state, str):
                reasons.append(f"out '{path}' holds {state}")
            elif state.digest != recorded[path].digest:
                reasons.append(f"out '{path}' changed")
        return reasons


def env_digest(value: str | None) -> Digest | None:
    """The lockfile records a digest of an environment variable, never its value (no secrets in git)."""
    return None if value is None else Digest.from_hex(blake3(value.encode("utf-8", "surrogateescape")).hexdigest())


def _param_changes(old: dict[str, dict[str, Any]], new: dict[str, dict[str, Any]]) -> list[str]:
    reasons = []
    for file in sorted(set(old) | set(new)):
        before, after = old.get(file, {}), new.get(file, {})
        reasons += _value_changes(before, after, "")
    return reasons


def _value_changes(before: dict[str, Any], after: dict[str, Any], prefix: str) -> list[str]:
    """What differs between two mappings of params, down to the innermost keys ('train.lr')."""
    reasons = []
    for key in sorted(set(before) | set(after), key=str):
        name = f"{prefix}{key}"
        if key not in before:
            reasons.append(f"param '{name}' added")
        elif key not in after:
            reasons.append(f"param '{name}' removed")
        elif isinstance(before[key], dict) and isinstance(after[key], dict):
            reasons += _value_changes(before[key], after[key], f"{name}.")
        elif not _same(before[key], after[key]):
            reasons.append(f"param '{name}' changed ({_short(before[key])} -> {_short(after[key])})")
    return reasons


def _same(a: Any, b: Any) -> bool:
    """Equal as YAML sees it: 1 and 1.0 differ (a command may print them differently), True and 1 too."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return bool(a == b)


def _short(value: Any) -> str:
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _unusable_deps(inputs: Inputs) -> list[str]:
    return [f"dep '{path}' is missing" for path in inputs.absent] + [
        f"dep '{path}' holds {problem}" for path, problem in inputs.unreadable
    ]


def _dep_changes(old: tuple[LockedPath, ...], new: tuple[LockedPath, ...], declared: set[RepoPath]) -> list[str]:
    """Deps added, dropped or changed since the lockfile entry (`new` lacks the deps that are unusable now)."""
    before, after = {d.path: d for d in old}, {d.path: d for d in new}
    reasons = [f"dep '{path}' is new" for path in sorted(set(after) - set(before))]
    reasons += [f"dep '{path}' is no longer declared" for path in sorted(set(before) - declared)]
    reasons += [f"dep '{path}' changed" for path in sorted(set(before) & set(after)) if before[path].digest != after[path].digest]
    return reasons
