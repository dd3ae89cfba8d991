"""`mlx metrics show` and `mlx metrics diff`: metrics files as they are at git revisions and in the
workspace, flattened to dotted keys, and compared.

A revision's metrics files are the `metrics` outs of the stages of its own mlx.yaml, or the files
named as targets. Each is read through Snapshot.read_output: from git when committed, else from the
cache by the digest its mlx.lock (or pointer file) records. What cannot be read at one revision (no
such file, not in the cache, malformed) is a problem of that revision, reported beside the others'
metrics: one bad commit must not hide a hundred good ones.

Formats, by extension: JSON, YAML and TOML (mappings; nested keys flattened to `a.b`; lists left out,
as in run records, since a list is a history, not one comparable value), CSV and TSV (a header row;
the last row, or with `all_rows` every row as `row.N.column`, N counting data rows from 0).
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from mlxkit.compare.revisions import WORKSPACE, Revisions, Snapshot
from mlxkit.compare.tables import change, paired, relative_change
from mlxkit.errors import (
    InvalidFileError, MissingObjectError, PipelineError, UnsafePathError, UnsupportedFormatError, UsageError,
)
from mlxkit.formats.jsonio import load_json
from mlxkit.formats.yamlio import load_yaml
from mlxkit.fs.confine import RepoPath
from mlxkit.pipeline import PIPELINE_FILE
from mlxkit.pipeline.params import parse_params
from mlxkit.pipeline.records import _flatten
from mlxkit.repo.repository import Repository
from mlxkit.tracking.history import WORKSPACE as WORKSPACE_ONLY, Scope

FORMATS = {".json": "json", ".yaml": "yaml", ".yml": "yaml", ".toml": "toml", ".csv": ",", ".tsv": "\t"}
# What is wrong with one revision's file, as opposed to the command (an unknown revision, no git)
PER_REVISION = (InvalidFileError, MissingObjectError, PipelineError, UnsafePathError, UnsupportedFormatError)
_NUMBER = re.compile(r"[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")


@dataclass(frozen=True)
class RevisionMetrics:
    revision: str  # as asked ('HEAD', 'main', 'workspace'), a branch or tag name, or a short commit id
    commit: str | None  # None for the workspace
    files: dict[str, dict[str, Any]]  # metrics file -> dotted key -> value
    problems: dict[str, str]  # file (or mlx.yaml) -> what prevented reading it at this revision


@dataclass(frozen=True)
class MetricsShow:
    revisions: tuple[RevisionMetrics, ...]


@dataclass(frozen=True)
class MetricChange:
    file: str
    key: str
    old: Any  # None when the old revision lacks the metric
    new: Any  # None when the new revision lacks it
    change: int | float | None  # new - old, when both are numbers
    relative: float | None  # (new - old) / |old|; None unless both are numbers and old is not 0 (0 -> 0 is 0.0)
    changed: bool


@dataclass(frozen=True)
class MetricsDiff:
    old: str
    new: str
    rows: tuple[MetricChange, ...]  # changed metrics (every metric with `all`), sorted by file and key
    problems: dict[str, dict[str, str]]  # revision -> file -> problem


# -- reading one file ------------------------------------------------------------------------------


def parse_metrics(data: bytes, path: str, source: str, *, all_rows: bool = False) -> dict[str, Any]:
    """A metrics file's bytes as flat dotted keys; `path` gives the format, `source` names the file in
    errors (`metrics.json@HEAD~1`)."""
    kind = FORMATS.get(PurePosixPath(path).suffix.lower())
    if kind is None:
        raise UnsupportedFormatError(
            f"'{source}' is not a metrics file mlx reads", hint="write metrics as JSON, YAML, TOML, CSV or TSV (named by their extension)"
        )
    if kind in (",", "\t"):
        return parse_table(data, source, kind, all_rows=all_rows)
    if kind == "toml":
        document: Any = parse_params(data, source, "toml")
    else:
        document = load_json(data, source) if kind == "json" else load_yaml(data, source).data
    if not isinstance(document, dict):
        found = "nothing" if document is None else f"a {type(document).__name__}"
        raise InvalidFileError(source, f"a metrics file must hold a mapping of names to values, not {found}")
    return _flatten(document, source)


def parse_table(data: bytes, source: str, delimiter: str, *, all_rows: bool = False) -> dict[str, Any]:
    """CSV or TSV with a header row: the last row's cells by column name, or every row's as
    `row.N.column`. Cells that look like numbers become numbers; empty cells are left out."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidFileError(source, f"not UTF-8 text (byte {exc.start})", line=data.count(b"\n", 0, exc.start) + 1) from None
    reader = csv.reader(text.splitlines(), delimiter=delimiter, strict=True)
    try:
        header = next(reader, [])
        _check_header(header, source)
        rows = [(reader.line_num, row) for row in reader if any(cell.strip() for cell in row)]
    except csv.Error as exc:
        raise InvalidFileError(source, f"not valid {'TSV' if delimiter == chr(9) else 'CSV'}: {exc}", line=reader.line_num) from None
    flat: dict[str, Any] = {}
    for index, (line, row) in enumerate(rows):
        if len(row) > len(header):
            raise InvalidFileError(source, f"{len(row)} cells, but the header names {len(header)} columns", line=line)
        if not all_rows and index < len(rows) - 1:
            continue
        prefix = f"row.{index}." if all_rows else ""
        flat.update((prefix + name, _cell_value(value)) for name, value in zip(header, row, strict=False) if value.strip())
    return flat


def _check_header(header: list[str], source: str) -> None:
    seen: set[str] = set()
    for number, name in enumerate(header, 1):
        if not name.strip():
            raise InvalidFileError(source, f"column {number} of the header has no name", line=1)
        if name in seen:
            raise InvalidFileError(source, f"the header names the column '{name}' twice", line=1)
        seen.add(name)


def _cell_value(text: str) -> Any:
    stripped = text.strip()
    if not _NUMBER.fullmatch(stripped):
        return text
    number = float(stripped)
    return int(stripped) if number.is_integer() and re.fullmatch(r"[-+]?[0-9]+", stripped) else number


# -- one revision ----------------------------------------------------------------------------------


def metrics_paths(snapshot: Snapshot) -> list[RepoPath]:
    """The `metrics` outs of the stages of the revision's mlx.yaml, in the order it declares them."""
    pipeline = snapshot.pipeline()
    if pipeline is None:
        return []
    found = (out.path for stage in pipeline.stages.values() for out in stage.outs if out.kind == "metric")
    return list(dict.fromkeys(found))


def read_revision(snapshot: Snapshot, targets: list[RepoPath] | None = None, *, all_rows: bool = False) -> RevisionMetrics:
    """The metrics of `targets` (default: the pipeline's metrics files) at one revision."""
    files: dict[str, dict[str, Any]] = {}
    problems: dict[str, str] = {}
    try:
        paths = targets if targets else metrics_paths(snapshot)
    except PER_REVISION as exc:
        return RevisionMetrics(snapshot.name, snapshot.commit, files, {PIPELINE_FILE: exc.message})
    for path in paths:
        try:
            data = snapshot.read_output(path)
            if data is None:
                problems[path.posix] = f"no such metrics file '{snapshot.label(path.posix)}'"
                continue
            files[path.posix] = parse_metrics(data, path.posix, snapshot.label(path.posix), all_rows=all_rows)
        except PER_REVISION as exc:
            problems[path.posix] = exc.message
    return RevisionMetrics(snapshot.name, snapshot.commit, files, problems)


# -- the commands ----------------------------------------------------------------------------------


def show_metrics(
    repo: Repository, targets: list[str] | None = None, *, revs: list[str] | None = None, scope: Scope = WORKSPACE_ONLY,
    all_rows: bool = False, cwd: Path | None = None,
) -> MetricsShow:
    """Metrics of the workspace (unless `revs` are named), each of `revs`, and the commits `scope` adds."""
    paths = _targets(repo, targets, cwd)
    with Revisions(repo) as revisions:
        snapshots = select_snapshots(revisions, revs or [], scope)
        return MetricsShow(tuple(read_revision(snapshot, paths, all_rows=all_rows) for snapshot in snapshots))


def diff_metrics(
    repo: Repository, old: str | None = None, new: str | None = None, *, targets: list[str] | None = None,
    all: bool = False, all_rows: bool = False, cwd: Path | None = None,  # noqa: A002 - the option's name
) -> MetricsDiff:
    """How metrics changed from `old` (default HEAD) to `new` (default the workspace)."""
    paths = _targets(repo, targets, cwd)
    with Revisions(repo) as revisions:
        before, after = (read_revision(s, paths, all_rows=all_rows) for s in revisions.open([old or "HEAD", new or WORKSPACE]))
    rows = tuple(
        MetricChange(pair.file, pair.key, pair.old, pair.new, change(pair.old, pair.new), relative_change(pair.old, pair.new), pair.changed)
        for pair in paired(before.files, after.files, include_unchanged=all)
    )
    problems = {side.revision: side.problems for side in (before, after) if side.problems}
    return MetricsDiff(before.revision, after.revision, rows, problems)


def _targets(repo: Repository, targets: list[str] | None, cwd: Path | None) -> list[RepoPath] | None:
    return [RepoPath.from_user(repo.root, target, cwd) for target in targets] if targets else None


def select_snapshots(revisions: Revisions, revs: list[str], scope: Scope) -> list[Snapshot]:
    """The workspace (when no revision is named), the named revisions, then each commit the scope adds
    that is not already there: branch tips, tags, then every commit (named by a ref where one points
    at it, else by its short id), newest first."""
    snapshots = revisions.open(revs or [WORKSPACE])
    if scope.is_workspace_only:
        return snapshots
    heads = revisions.git.refs("heads") if scope.all_branches else []
    tags = revisions.git.refs("tags") if scope.all_tags else []
    commits = _all_commits(revisions) if scope.all_commits else []
    seen = {snapshot.commit for snapshot in snapshots}
    for name, commit in [*heads, *tags, *commits]:
        if commit not in seen:
            seen.add(commit)
            snapshots.append(revisions.at_commit(commit, name))
    return snapshots


def _all_commits(revisions: Revisions) -> list[tuple[str, str]]:
    """(name, id) of every commit reachable from HEAD or a branch or tag, newest first; named by the
    first branch or tag that points at it, else by its short id."""
    refs = revisions.git.refs("heads", "tags")
    tips = [commit for _, commit in refs]
    try:
        tips.insert(0, revisions.git.commit("HEAD"))
    except UsageError:  # no commit yet
        pass
    commits = revisions.git.log(*tips)
    named = {commit: name for name, commit in reversed(refs)}
    return [(named.get(commit, commit[:7]), commit) for commit in commits]
