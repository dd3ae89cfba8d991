"""Plots data: what each plots file holds at each revision, as series ready to draw.

A plots file is a table, one row per point (docs/plots.md):
- CSV (`.csv`) or TSV (`.tsv`) with a header row naming the columns;
- JSON (`.json`) or YAML (`.yaml`, `.yml`): a list of records (`[{"step": 0, "loss": 0.9}, ...]`),
  or a mapping whose first list of records is the table (`{"train": [...]}`, as DVC writes them).
Cells that read as numbers are numbers; empty cells are None.

Which columns to draw comes from the file's plots entry in mlx.yaml (that of the newest revision
that declares it), with DVC's defaults: x is the column 'step', else the row number (called 'step');
y is the last column other than x, chosen in the newest revision that has the file, so that every
revision draws the same column. A confusion matrix counts (x: actual, y: predicted) pairs.

A file that is missing or unreadable at a revision is a problem in the result, not an error: the
other revisions and files are still drawn. Nothing here imports matplotlib (render_plots.py draws).
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import posixpath
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mlxkit.compare.revisions import WORKSPACE, Revisions
from mlxkit.errors import InvalidFileError, MlxError, UnsupportedFormatError, UsageError
from mlxkit.formats.jsonio import load_json
from mlxkit.formats.yamlio import load_yaml
from mlxkit.fs.confine import RepoPath
from mlxkit.pipeline.model import PlotOptions, PlotTemplate

if TYPE_CHECKING:
    from pathlib import Path

    from mlxkit.compare.revisions import Snapshot
    from mlxkit.repo.repository import Repository

Cell = int | float | str | bool | None
STEP = "step"  # the x column by default, and the name of the row number when a file has no such column
SUFFIXES = (".csv", ".tsv", ".json", ".yaml", ".yml")
_NUMBER = re.compile(r"[+-]?(?:(\d+)|\d+\.\d*(?:[eE][+-]?\d+)?|\d+[eE][+-]?\d+|\.\d+(?:[eE][+-]?\d+)?|nan|inf|infinity)", re.I)
_DIGITS = re.compile("([0-9]+)")


@dataclass(frozen=True)
class Table:
    """A plots file's content: column names, and rows of cells in that order."""

    columns: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]

    def column(self, name: str) -> tuple[Cell, ...]:
        if name == STEP and name not in self.columns:
            return tuple(range(len(self.rows)))
        index = self.columns.index(name)
        return tuple(row[index] for row in self.rows)


@dataclass(frozen=True)
class Revision:
    name: str  # as the user asked for it: 'HEAD~1', 'main', 'workspace'
    commit: str | None  # None: the workspace


@dataclass(frozen=True)
class Series:
    """One revision's points of one plots file."""

    revision: str
    x: tuple[Cell, ...] = ()
    y: dict[str, tuple[float | None, ...]] = field(default_factory=dict)  # column -> one value per x
    counts: tuple[tuple[int, ...], ...] = ()  # confusion: counts[actual][predicted], over Plot.classes


@dataclass(frozen=True)
class Plot:
    """One plots file, with a series per revision that has it."""

    path: str
    template: PlotTemplate
    title: str
    x: str
    y: tuple[str, ...]
    x_label: str
    y_label: str
    series: tuple[Series, ...]
    classes: tuple[str, ...] = ()  # confusion: the classes, in the order of the matrix's rows and columns


@dataclass(frozen=True)
class PlotsData:
    revisions: tuple[Revision, ...]
    plots: tuple[Plot, ...]
    problems: tuple[str, ...] = ()  # what could not be drawn, one message each


def compared_revisions(revisions: list[str] | None) -> list[str]:
    """What `mlx plots diff` compares, as `dvc plots diff` does: HEAD and the workspace; one
    revision and the workspace; or two or more revisions as given."""
    names = list(dict.fromkeys(revisions or []))
    return names if len(names) > 1 else [*(names or ["HEAD"]), WORKSPACE]


def read_plots(repo: Repository, revisions: list[str], targets: list[str] | None = None, *, cwd: Path | None = None) -> PlotsData:
    """The plots data of `revisions` ('workspace': the files on disk); `targets` are files named by
    the user (relative to `cwd`), else the plots files mlx.yaml declares."""
    paths = list(dict.fromkeys(RepoPath.from_user(repo.root, target, cwd) for target in targets)) if targets else None
    with Revisions(repo) as opened:
        return collect_plots(opened.open(list(dict.fromkeys(revisions))), paths)


def collect_plots(snapshots: list[Snapshot], targets: list[RepoPath] | None = None) -> PlotsData:
    """The plots files the revisions declare in mlx.yaml (or `targets`), read at every revision.

    Raises the first problem when there is nothing at all to draw (UsageError when nothing is declared).
    """
    problems: list[MlxError] = []
    declared = _declared(snapshots, problems)
    chosen = {target: declared.get(target, PlotOptions()) for target in targets} if targets else declared
    if not chosen:
        hint = "list files under a stage's 'plots:' in mlx.yaml, or name them: 'mlx plots show FILE'"
        raise problems[0] if problems else UsageError("no plots files: mlx.yaml declares none", hint=hint)
    plots = []
    for path, options in chosen.items():
        if posixpath.splitext(path.posix)[1].lower() not in SUFFIXES:
            hint = "plots files are CSV (.csv), TSV (.tsv), JSON (.json) or YAML (.yaml, .yml)"
            problems.append(UnsupportedFormatError(f"'{path}' is not a plots file mlx reads", hint=hint))
            continue
        tables = _tables(snapshots, path, problems)
        plot = build_plot(path.posix, options, tables, problems) if tables else None
        if plot is not None:
            plots.append(plot)
    if not plots and problems:
        raise problems[0]
    revisions = tuple(Revision(snapshot.name, snapshot.commit) for snapshot in snapshots)
    return PlotsData(revisions, tuple(plots), tuple(problem.message for problem in problems))


def _declared(snapshots: list[Snapshot], problems: list[MlxError]) -> dict[RepoPath, PlotOptions]:
    """Every plots out of every revision's pipeline, in order of first mention, with the options of
    the last revision that declares it. A broken mlx.yaml in a commit is a problem; in the workspace,
    where it can be fixed, an error."""
    declared: dict[RepoPath, PlotOptions] = {}
    for snapshot in snapshots:
        try:
            pipeline = snapshot.pipeline()
        except MlxError as exc:
            if snapshot.is_workspace:
                raise
            problems.append(exc)
            continue
        for stage in pipeline.stages.values() if pipeline is not None else ():
            for out in stage.outs:
                if out.kind == "plot":
                    declared[out.path] = out.plot or PlotOptions()
    return declared


def _tables(snapshots: list[Snapshot], path: RepoPath, problems: list[MlxError]) -> list[tuple[str, str, Table]]:
    """(revision, source label, table) for each revision that has the file."""
    found = []
    for snapshot in snapshots:
        try:
            data = snapshot.read_output(path)
            if data is None:
                where = "in the workspace" if snapshot.is_workspace else f"at {snapshot.name}"
                raise UsageError(f"'{path}' does not exist {where}")
            source = snapshot.label(path.posix)
            found.append((snapshot.name, source, read_table(data, path.posix, source)))
        except MlxError as exc:
            problems.append(exc)
    return found


def read_table(data: bytes, name: str, source: str) -> Table:
    """Parse a plots file; `name` decides the format by its suffix, `source` names it in errors."""
    suffix = posixpath.splitext(name)[1].lower()
    if suffix in (".csv", ".tsv"):
        return _delimited(data, "," if suffix == ".csv" else "\t", source)
    document = load_json(data, source) if suffix == ".json" else load_yaml(data, source).data
    return _records(document, source)


def _delimited(data: bytes, delimiter: str, source: str) -> Table:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidFileError(source, f"not UTF-8 text (byte {exc.start})", line=data.count(b"\n", 0, exc.start) + 1) from None
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next(reader, [])
        columns = tuple(name.strip() for name in header)
        if not columns or "" in columns or len(set(columns)) < len(columns):
            raise InvalidFileError(source, "the first row must name every column, once", line=1, hint="write a header row: 'step,loss'")
        rows = []
        for fields in reader:
            if not fields:
                continue  # a blank line
            if len(fields) > len(columns):
                raise InvalidFileError(source, f"{len(fields)} fields, but the header names {len(columns)} columns", line=reader.line_num)
            rows.append(tuple(map(_cell, fields)) + (None,) * (len(columns) - len(fields)))
    except csv.Error as exc:
        raise InvalidFileError(source, f"not valid CSV: {exc}", line=reader.line_num) from None
    return Table(columns, tuple(rows))


def _cell(text: str) -> Cell:
    text = text.strip()
    match = _NUMBER.fullmatch(text)
    if not match:
        return text or None
    return int(text) if match.group(1) is not None else float(text)


def _records(document: Any, source: str) -> Table:
    records = document
    if isinstance(document, dict):
        records = next((value for value in document.values() if isinstance(value, list)), None)
    if not isinstance(records, list) or not all(isinstance(record, dict) for record in records):
        hint = 'write a list of records, [{"step": 0, "loss": 0.5}, ...], or {"name": [records]}'
        raise InvalidFileError(source, "not a table of records", hint=hint)
    records = [{str(key): value for key, value in record.items()} for record in records]
    columns = tuple(dict.fromkeys(key for record in records for key in record))
    return Table(columns, tuple(tuple(_value(record.get(column)) for column in columns) for record in records))


def _value(value: Any) -> Cell:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True, default=str)
    return str(value)  # a YAML date, say


def build_plot(path: str, options: PlotOptions, tables: list[tuple[str, str, Table]], problems: list[MlxError]) -> Plot | None:
    """The plot of one file from its (revision, source, table) triples; a revision whose table
    lacks a column or holds text where a number belongs is a problem and is left out."""
    _, newest_source, newest = tables[-1]
    x = options.x or STEP
    y = options.y or tuple(column for column in newest.columns if column != x)[-1:]
    if not y:
        problems.append(InvalidFileError(newest_source, f"no column to plot beside '{x}'", hint="give 'y' in the file's plots entry"))
        return None
    confusion = options.template.startswith("confusion")
    series: list[Series] = []
    pairs: list[tuple[str, list[tuple[str, str]]]] = []
    for revision, source, table in tables:
        try:
            _check_columns(table, (x, *y), source)
            if confusion:
                pairs.append((revision, _pairs(table, x, y[0])))
            else:
                series.append(Series(revision, table.column(x), {name: _numbers(table, name, source) for name in y}))
        except MlxError as exc:
            problems.append(exc)
    classes = _classes(pairs)
    if pairs and not classes:
        problems.append(InvalidFileError(newest_source, f"no row has both an '{x}' and a '{y[0]}' class to count"))
        return None
    series += [Series(revision, counts=_counts(found, classes)) for revision, found in pairs]
    if not series:
        return None
    default_y = y[0] if len(y) == 1 else ""
    return Plot(
        path=path, template=options.template, title=options.title or path, x=x, y=y,
        x_label=options.x_label or x, y_label=options.y_label or default_y, series=tuple(series), classes=classes,
    )  # fmt: skip


def _check_columns(table: Table, names: tuple[str, ...], source: str) -> None:
    for name in names:
        if name not in table.columns and name != STEP:
            known = ", ".join(table.columns) or "none"
            raise InvalidFileError(source, f"no column '{name}' (its columns: {known})", hint="name its columns in the file's plots entry ('x', 'y')")


def _numbers(table: Table, name: str, source: str) -> tuple[float | None, ...]:
    values = table.column(name)
    for value in values:
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise InvalidFileError(source, f"the column '{name}' holds {value!r}, not a number")
    return values  # type: ignore[return-value] - checked above


def _pairs(table: Table, actual: str, predicted: str) -> list[tuple[str, str]]:
    """(actual, predicted) class names of every row that has both."""
    return [(_label(a), _label(p)) for a, p in zip(table.column(actual), table.column(predicted), strict=True) if a is not None and p is not None]


def _label(value: Cell) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _classes(pairs: list[tuple[str, list[tuple[str, str]]]]) -> tuple[str, ...]:
    """Every class any revision saw: in numeric order when all are numbers, else in natural order
    (digits compared as numbers: 'c2' before 'c10')."""
    names = {name for _, found in pairs for pair in found for name in pair}
    if all(_NUMBER.fullmatch(name) for name in names):
        return tuple(sorted(names, key=float))
    return tuple(sorted(names, key=_natural))


def _natural(name: str) -> list[tuple[int, str]]:
    return [(int(part), "") if odd else (-1, part) for odd, part in zip(itertools.cycle((False, True)), _DIGITS.split(name))]


def _counts(found: list[tuple[str, str]], classes: tuple[str, ...]) -> tuple[tuple[int, ...], ...]:
    index = {name: i for i, name in enumerate(classes)}
    counts = [[0] * len(classes) for _ in classes]
    for actual, predicted in found:
        counts[index[actual]][index[predicted]] += 1
    return tuple(map(tuple, counts))
