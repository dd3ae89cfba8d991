"""Run records (`.mlx/runs/<id>.json`): what each `mlx run` did, for `mlx exp` to list and compare.

A record is written once, when the run ends, whatever the outcome; it is never edited afterwards.
Its id sorts by time (`20240501-120000-3fa2c1`: UTC to the second, then 6 random hex digits, so two
runs in the same second on two machines do not collide). Timestamps are ISO 8601 in UTC with
microseconds (`2024-05-01T12:00:00.123456Z`), which is how records started in the same second are
ordered.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from mlxkit.errors import InvalidFileError, UnsupportedFormatError, problem_text
from mlxkit.formats.schema import validate
from mlxkit.formats.jsonio import load_json
from mlxkit.formats.yamlio import MAX_YAML_BYTES, load_yaml
from mlxkit.fs.atomic import write_atomic
from mlxkit.store.digest import Digest, InvalidDigest

RUN_FORMAT = 1
MAX_JSON_BYTES = MAX_YAML_BYTES
RunStatus = Literal["completed", "failed", "interrupted"]
_RUN_ID = re.compile(r"[0-9]{8}-[0-9]{6}-[0-9a-f]{6}")
_RECORD_NAME = re.compile(_RUN_ID.pattern + r"\.json")
_REVISION = re.compile(r"[0-9a-f]{40}(?:[0-9a-f]{24})?")  # SHA-1 or SHA-256


@dataclass(frozen=True)
class RunRecord:
    id: str  # new_run_id()
    started: str  # utc_timestamp()
    finished: str
    command: str  # as typed: 'mlx run -S train.lr=0.01'
    status: RunStatus
    git_revision: str | None = None  # the commit checked out (None: not a git repository, or no commit yet)
    git_dirty: bool | None = None  # uncommitted changes to tracked files (None: unknown)
    params: dict[str, dict[str, Any]] = field(default_factory=dict)  # file -> dotted key -> value
    metrics: dict[str, dict[str, Any]] = field(default_factory=dict)  # file -> dotted key -> number, string...
    stages_run: tuple[str, ...] = ()  # executed, in the order they finished
    stages_cached: tuple[str, ...] = ()  # restored from the run cache instead
    lock_digest: Digest | None = None  # of the mlx.lock bytes after the run (None: no lockfile)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": RUN_FORMAT,
            "id": self.id,
            "status": self.status,
            "started": self.started,
            "finished": self.finished,
            "command": self.command,
            "git_revision": self.git_revision,
            "git_dirty": self.git_dirty,
            "stages_run": list(self.stages_run),
            "stages_cached": list(self.stages_cached),
            "lock_digest": None if self.lock_digest is None else str(self.lock_digest),
            "params": self.params,
            "metrics": self.metrics,
        }


def utc_timestamp(moment: datetime) -> str:
    return _utc(moment).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def new_run_id(now: datetime) -> str:
    return f"{_utc(now).strftime('%Y%m%d-%H%M%S')}-{os.urandom(3).hex()}"


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:  # a naive time would be read as local time: a bug in the caller
        raise ValueError("a run's time must carry its time zone (datetime.now(UTC))")
    return moment.astimezone(UTC)


def write_record(directory: Path, record: RunRecord) -> Path:
    """Publish `record` as `<directory>/<id>.json`, atomically; returns that path."""
    if not _RUN_ID.fullmatch(record.id):  # the id becomes a file name
        raise ValueError(f"'{record.id}' is not a run id (new_run_id)")
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{record.id}.json"
    text = json.dumps(record.to_json(), indent=2, ensure_ascii=False) + "\n"
    write_atomic(path, text.encode("utf-8"))
    return path


def read_record(path: Path) -> RunRecord:
    """One record, validated against run-1; its id must be its file name."""
    source = str(path)
    data = load_json(_read_capped(path, source), source)
    if isinstance(data, dict) and type(data.get("format")) is int and data["format"] > RUN_FORMAT:
        raise UnsupportedFormatError(f"'{source}' uses run-record format {data['format']}, this mlx reads {RUN_FORMAT}")
    validate(data, "run-1", source)
    if path.name != f"{data['id']}.json":
        raise InvalidFileError(source, f"'id' is '{data['id']}' but the file is named '{path.name}'")
    _check_exact(data, source)
    return RunRecord(
        id=data["id"],
        started=data["started"],
        finished=data["finished"],
        command=data["command"],
        status=data["status"],
        git_revision=data["git_revision"],
        git_dirty=data["git_dirty"],
        params=data["params"],
        metrics=data["metrics"],
        stages_run=tuple(data["stages_run"]),
        stages_cached=tuple(data["stages_cached"]),
        lock_digest=None if data["lock_digest"] is None else Digest.parse(data["lock_digest"]),
    )


def _check_exact(data: dict[str, Any], source: str) -> None:
    """What the schema's patterns let through: a trailing newline (Python's '$'), impossible dates."""
    for key in ("started", "finished"):
        try:
            datetime.fromisoformat(data[key])
        except ValueError:
            raise InvalidFileError(source, f"at '{key}': '{data[key]}' is not a date and time") from None
    revision = data["git_revision"]
    if revision is not None and not _REVISION.fullmatch(revision):
        raise InvalidFileError(source, f"at 'git_revision': {revision!r} is not a commit id")
    try:
        if data["lock_digest"] is not None:
            Digest.parse(data["lock_digest"])
    except InvalidDigest as exc:
        raise InvalidFileError(source, f"at 'lock_digest': {exc}") from None


def list_records(directory: Path, problems: list[str] | None = None) -> list[RunRecord]:
    """Every readable record, oldest first. An unreadable one is skipped, and the reason appended to
    `problems` when given: one bad file must not hide the history."""
    try:
        names = sorted(name for name in os.listdir(directory) if _RECORD_NAME.fullmatch(name))
    except FileNotFoundError:
        return []
    records = []
    for name in names:
        try:
            records.append(read_record(directory / name))
        except (OSError, InvalidFileError, UnsupportedFormatError) as exc:
            if problems is not None:
                problems.append(f"skipping run record '{directory / name}': {problem_text(exc)}")
    return sorted(records, key=lambda record: (datetime.fromisoformat(record.started), record.id))


def read_metrics_file(path: Path, source: str | None = None) -> dict[str, Any]:
    """A JSON or YAML metrics file as flat dotted keys: `{"a": {"b": 1}}` -> `{"a.b": 1}`.

    Leaves that are numbers, strings, booleans or null are kept. Lists (a history per epoch, say) are
    left out: they are not one value that runs can be compared by; plots are the place for them.
    """
    source = source or str(path)
    suffix = path.suffix.lower()
    if suffix not in (".json", ".yaml", ".yml"):
        raise UnsupportedFormatError(
            f"'{source}' is not a metrics file mlx reads", hint="write metrics as JSON (.json) or YAML (.yaml, .yml)"
        )
    try:
        raw = _read_capped(path, source)
    except FileNotFoundError:
        raise InvalidFileError(source, "no such metrics file") from None
    except IsADirectoryError:
        raise InvalidFileError(source, "a directory, not a metrics file") from None
    data = load_json(raw, source) if suffix == ".json" else load_yaml(raw, source).data
    if not isinstance(data, dict):
        kind = "nothing" if data is None else f"a {type(data).__name__}"
        raise InvalidFileError(source, f"a metrics file must hold a mapping of names to values, not {kind}")
    return _flatten(data, source)


def _flatten(data: dict[Any, Any], source: str) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    stack: list[tuple[str, dict[Any, Any]]] = [("", data)]
    while stack:
        prefix, mapping = stack.pop()
        for key, value in mapping.items():
            name = prefix + (key if isinstance(key, str) else json.dumps(key))
            if isinstance(value, dict):
                stack.append((name + ".", value))
            elif not isinstance(value, list):
                if name in flat:
                    raise InvalidFileError(source, f"the metric '{name}' is written twice (as 'a.b' and as 'a: {{b}}')")
                flat[name] = value
    return dict(sorted(flat.items()))


def _read_capped(path: Path, source: str) -> bytes:
    with open(path, "rb") as handle:
        raw = handle.read(MAX_JSON_BYTES + 1)
    if len(raw) > MAX_JSON_BYTES:
        raise InvalidFileError(source, f"larger than the {MAX_JSON_BYTES // (1024 * 1024)} MiB limit")
    return raw
