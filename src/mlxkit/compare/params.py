"""`mlx params diff`: the params files of two revisions, flattened to dotted keys, and what changed.

A revision's params files are those its own mlx.yaml names (stages' `params`, the top-level
`params:` list) and params.yaml when it is there. Each file is shown whole, every key of it, even
when the stages read only some keys (DVC does the same unless given `--deps`): a param nobody reads
yet is still part of the experiment's description. Lists are values here (`layers: [64, 32]`
is one param), unlike in metrics.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from mlxkit.compare.revisions import WORKSPACE, Revisions, Snapshot
from mlxkit.compare.tables import paired
from mlxkit.errors import InvalidFileError, PipelineError, UnsafePathError, UnsupportedFormatError
from mlxkit.fs.confine import RepoPath
from mlxkit.pipeline import PIPELINE_FILE
from mlxkit.pipeline.model import DEFAULT_PARAMS_FILE
from mlxkit.repo.repository import Repository

PER_REVISION = (InvalidFileError, PipelineError, UnsafePathError, UnsupportedFormatError)


@dataclass(frozen=True)
class ParamChange:
    file: str
    key: str
    old: Any  # None when the old revision lacks the param
    new: Any  # None when the new revision lacks it
    changed: bool


@dataclass(frozen=True)
class ParamsDiff:
    old: str
    new: str
    rows: tuple[ParamChange, ...]  # changed params (every param with `all`), sorted by file and key
    problems: dict[str, dict[str, str]]  # revision -> file (or mlx.yaml) -> what prevented reading it


def params_files(snapshot: Snapshot) -> tuple[list[RepoPath], dict[str, str]]:
    """The params files the revision's pipeline names (params.yaml first), and a problem when its
    mlx.yaml cannot be read (params.yaml is still read then)."""
    default = RepoPath(DEFAULT_PARAMS_FILE)
    try:
        pipeline = snapshot.pipeline()
    except PER_REVISION as exc:
        return [default], {PIPELINE_FILE: exc.message}
    if pipeline is None:
        return [default], {}
    named = [ref.file for stage in pipeline.stages.values() for ref in stage.params] + list(pipeline.params)
    return list(dict.fromkeys([default, *named])), {}


def read_params_at(snapshot: Snapshot) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    """file -> dotted key -> value at one revision, and file -> problem for what could not be read.
    A missing params.yaml is no problem unless the pipeline names it."""
    files, problems = params_files(snapshot)
    pipeline_named = set(files[1:])
    values: dict[str, dict[str, Any]] = {}
    for file in files:
        try:
            data = snapshot.params(file)
        except PER_REVISION as exc:
            problems[file.posix] = exc.message
            continue
        if data is not None:
            values[file.posix] = flatten_params(data)
        elif file in pipeline_named:
            problems[file.posix] = f"no such params file '{snapshot.label(file.posix)}'"
    return values, problems


def flatten_params(data: dict[Any, Any], prefix: str = "") -> dict[str, Any]:
    """{'train': {'lr': 0.1}} -> {'train.lr': 0.1}; lists and empty mappings are values."""
    flat: dict[str, Any] = {}
    for key, value in data.items():
        name = prefix + (key if isinstance(key, str) else json.dumps(key))
        if isinstance(value, dict) and value:
            flat.update(flatten_params(value, name + "."))
        else:
            flat[name] = value
    return flat


def diff_params(repo: Repository, old: str | None = None, new: str | None = None, *, all: bool = False) -> ParamsDiff:  # noqa: A002
    """How params changed from `old` (default HEAD) to `new` (default the workspace)."""
    names = old or "HEAD", new or WORKSPACE
    with Revisions(repo) as revisions:
        (before, before_problems), (after, after_problems) = (read_params_at(s) for s in revisions.open(list(names)))
    rows = tuple(ParamChange(*pair) for pair in paired(before, after, include_unchanged=all))
    problems = {name: found for name, found in zip(names, (before_problems, after_problems), strict=True) if found}
    return ParamsDiff(names[0], names[1], rows, problems)
