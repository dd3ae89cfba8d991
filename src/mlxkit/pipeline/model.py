"""The values the pipeline modules pass to each other: stages as declared, and lockfile entries.

Every path here is a RepoPath relative to the repository root (a stage's `wdir` is already applied),
so that graph, lockfile and runner never re-resolve anything.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from mlxkit.fs.confine import RepoPath
from mlxkit.pipeline import PIPELINE_FILE
from mlxkit.store.digest import Digest

DEFAULT_PARAMS_FILE = "params.yaml"

OutKind = Literal["out", "metric", "plot"]
PlotTemplate = Literal["linear", "scatter", "bar", "confusion", "confusion_normalized"]


@dataclass(frozen=True)
class PlotOptions:
    """How `mlx plots` draws a plots file: the options of its entry in mlx.yaml (docs/plots.md)."""

    x: str | None = None  # None: the column 'step' if there is one, else the row number
    y: tuple[str, ...] = ()  # (): the last column other than x
    template: PlotTemplate = "linear"
    title: str | None = None
    x_label: str | None = None
    y_label: str | None = None


@dataclass(frozen=True)
class Out:
    """Something a stage writes: `outs` (cached by default), `metrics` and `plots` (kept in git by default)."""

    path: RepoPath
    kind: OutKind = "out"
    cache: bool = True
    persist: bool = False  # not deleted before the stage runs
    plot: PlotOptions | None = None  # a plots entry's options, when it gives any


@dataclass(frozen=True)
class ParamRef:
    """Keys read from one params file; `keys == ()` means every top-level key of the file."""

    file: RepoPath
    keys: tuple[str, ...] = ()  # dotted: 'train.lr'


@dataclass(frozen=True)
class Stage:
    name: str  # 'train', or 'evaluate@small' for an item of foreach/matrix
    cmd: tuple[str, ...]  # interpolated shell commands, run one after another
    wdir: RepoPath | None = None  # None: the repository root
    deps: tuple[RepoPath, ...] = ()
    outs: tuple[Out, ...] = ()  # outs, metrics and plots, in that order
    params: tuple[ParamRef, ...] = ()
    env: tuple[str, ...] = ()  # names of environment variables that are inputs
    desc: str | None = None
    frozen: bool = False
    always_changed: bool = False
    line: int | None = None  # where the stage is defined in mlx.yaml


@dataclass(frozen=True)
class Pipeline:
    stages: dict[str, Stage]  # in the order of mlx.yaml (foreach items in item order)
    source: str = PIPELINE_FILE
    params: tuple[RepoPath, ...] = ()  # mlx.yaml's top-level `params:` files, tracked as a whole for reporting
    context_files: tuple[RepoPath, ...] = ()  # the params files the `${}` context was read from (present or not)


@dataclass(frozen=True)
class LockedPath:
    """A dep or an out as it was when the stage completed."""

    path: RepoPath
    digest: Digest
    size: int
    files: int | None = None  # directories only


@dataclass(frozen=True)
class LockEntry:
    cmd: tuple[str, ...]
    deps: tuple[LockedPath, ...] = ()
    params: dict[str, dict[str, Any]] = field(default_factory=dict)  # file -> dotted key -> value
    env: dict[str, Digest | None] = field(default_factory=dict)  # name -> digest of the value (None: unset)
    outs: tuple[LockedPath, ...] = ()


@dataclass(frozen=True)
class Lock:
    stages: dict[str, LockEntry]  # sorted by name when written
