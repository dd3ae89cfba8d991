"""Params files: reading them (YAML, JSON, TOML) and the values a stage depends on.

`mlx run -S` (writing them) is in setparams.py.
"""

from __future__ import annotations

import copy
import difflib
import re
from pathlib import Path, PurePosixPath
from typing import Any

from mlxkit.errors import InvalidFileError, PipelineError, UnsupportedFormatError
from mlxkit.formats.jsonio import load_json
from mlxkit.formats.yamlio import MAX_YAML_BYTES, load_yaml
from mlxkit.fs.confine import RepoPath, check_no_symlinks
from mlxkit.pipeline.model import Stage

KINDS = {".yaml": "yaml", ".yml": "yaml", ".json": "json", ".toml": "toml"}
KEY = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]*(?:\.[A-Za-z0-9_][A-Za-z0-9_-]*)*")


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()  # what `find` returns for a key that is not there (None is a value)


def kind_of(file: RepoPath, named_in: str | None = None) -> str:
    """'yaml', 'json' or 'toml', from the file's extension; `named_in` says where the file was named."""
    suffix = PurePosixPath(file.posix).suffix.lower()
    if suffix not in KINDS:
        where = f" in {named_in}" if named_in else ""
        raise UnsupportedFormatError(
            f"cannot read params from '{file}'{where}: not a .yaml, .yml, .json or .toml file",
            hint="params files are YAML, JSON or TOML, named by their extension",
        )
    return KINDS[suffix]


def read_params(root: Path, file: RepoPath) -> dict[str, Any]:
    """The mapping a params file holds; an empty YAML file holds `{}`."""
    kind = kind_of(file)
    check_no_symlinks(root, file.posix, include_last=True)
    try:
        raw = file.on_disk(root).read_bytes()
    except (FileNotFoundError, NotADirectoryError):
        raise InvalidFileError(file.posix, "no such params file") from None
    except IsADirectoryError:
        raise InvalidFileError(file.posix, "a directory, not a params file") from None
    # Every stage of a pipeline reads params.yaml: parse each content once per process.
    key = (file.posix, raw)
    if key not in _parsed:
        if len(_parsed) > 64:
            _parsed.clear()
        _parsed[key] = parse_params(raw, file.posix, kind)
    return copy.deepcopy(_parsed[key])


_parsed: dict[tuple[str, bytes], dict[str, Any]] = {}


def parse_params(raw: bytes | str, source: str, kind: str) -> dict[str, Any]:
    if len(raw) > MAX_YAML_BYTES:
        raise InvalidFileError(source, f"larger than the {MAX_YAML_BYTES // (1024 * 1024)} MiB limit for params files")
    try:
        if kind == "yaml":
            data = load_yaml(raw, source).data
            data = {} if data is None else data
        else:
            text = decode_text(raw, source)
            data = load_json(text, source) if kind == "json" else _parse_toml(text, source)
    except RecursionError:
        raise InvalidFileError(source, "nested too deeply") from None
    if not isinstance(data, dict):
        raise InvalidFileError(source, "a params file must hold a mapping of keys to values", line=1)
    return data


def decode_text(raw: bytes | str, source: str) -> str:
    if isinstance(raw, str):
        return raw
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise InvalidFileError(source, f"not UTF-8 text (byte {exc.start})", line=line) from None


_TOML_WHERE = re.compile(r"\s*\(at line (\d+), column \d+\)$")


def _parse_toml(text: str, source: str) -> Any:
    import tomllib

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        where = _TOML_WHERE.search(message)
        problem = message[: where.start()] if where else message
        line = int(where.group(1)) if where else None
        raise InvalidFileError(source, problem[:1].lower() + problem[1:], line=line) from None
    return dates_as_text(data)


def dates_as_text(value: Any) -> Any:
    """TOML dates and times as their ISO text: mlx's YAML keeps dates as strings, and so must mlx.lock."""
    if isinstance(value, dict):
        return {key: dates_as_text(item) for key, item in value.items()}
    if isinstance(value, list):
        return [dates_as_text(item) for item in value]
    return value.isoformat() if hasattr(value, "isoformat") else value


def find(data: Any, dotted: str) -> Any:
    """The value at `dotted` ('train.lr', 'layers.0'), or MISSING."""
    for part in dotted.split("."):
        if isinstance(data, dict) and part in data:
            data = data[part]
        elif isinstance(data, list) and part.isdigit() and int(part) < len(data):
            data = data[int(part)]
        else:
            return MISSING
    return data


def dotted_keys(data: Any, prefix: str = "") -> list[str]:
    """Every key path of the mappings in `data`: 'train', 'train.lr', ..."""
    keys: list[str] = []
    if isinstance(data, dict):
        for key, value in data.items():
            if isinstance(key, str):
                keys.append(prefix + key)
                keys.extend(dotted_keys(value, f"{prefix}{key}."))
    return keys


def did_you_mean(dotted: str, data: Any) -> str | None:
    close = difflib.get_close_matches(dotted, dotted_keys(data), n=1)
    return f"did you mean '{close[0]}'?" if close else None


def stage_params(root: Path, stage: Stage) -> dict[str, dict[str, Any]]:
    """file -> dotted key -> value, as the lockfile records them; every key must exist."""
    result: dict[str, dict[str, Any]] = {}
    for ref in stage.params:
        if not ref.file.on_disk(root).is_file():
            raise InvalidFileError(ref.file.posix, "no such params file", hint=f"stage '{stage.name}' reads params from it: create it")
        data = read_params(root, ref.file)
        values = result.setdefault(ref.file.posix, {})
        if not ref.keys:
            values.update(data)
        for key in ref.keys:
            value = find(data, key)
            if value is MISSING:
                raise PipelineError(
                    f"stage '{stage.name}' uses the param '{key}', which '{ref.file}' does not define",
                    hint=did_you_mean(key, data),
                )
            values[key] = value
    return result
