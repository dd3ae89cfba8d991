"""`mlx run -S [FILE:]KEY=VALUE`: set params by editing the params file's text.

The edit keeps the comments, key order and layout people gave their params.yaml: it is made where
the parser says the value is (YAML) or on the key's own line (TOML), and a YAML file falls back to a
full re-dump only where a text edit cannot say the same thing (a file holding nothing but null).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from mlxkit.errors import InvalidFileError, UsageError
from mlxkit.formats.yamlio import dump_yaml, load_yaml
from mlxkit.formats.yamltext import set_in_text
from mlxkit.fs.atomic import write_atomic
from mlxkit.fs.confine import RepoPath, check_no_symlinks
from mlxkit.pipeline.model import DEFAULT_PARAMS_FILE
from mlxkit.pipeline.params import KEY, dates_as_text, decode_text, kind_of, parse_params


@dataclass(frozen=True)
class ParamChange:
    file: RepoPath
    key: str
    value: Any
    existed: bool  # False: the key (and maybe its parents) was added
    previous: Any = None  # the value before, when it existed


_YAML_12_FLOAT = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?")
_TYPED_TAGS = {f"tag:yaml.org,2002:{name}" for name in ("int", "float", "bool", "null")}


def parse_assignment(text: str) -> tuple[RepoPath, str, Any]:
    """`[file:]key=value` -> (file, dotted key, value parsed as YAML)."""
    left, equals, raw = text.partition("=")
    if not equals:
        raise UsageError(f"'{text}' is not an assignment", hint="write -S key=value, or -S file.yaml:key=value")
    file_text, colon, key = left.rpartition(":")
    file = RepoPath.parse(file_text) if colon else RepoPath(DEFAULT_PARAMS_FILE)
    kind_of(file)
    if not KEY.fullmatch(key):
        raise UsageError(f"'{key}' is not a params key", hint="a key is names joined by dots, such as 'train.lr'")
    return file, key, parse_value(raw)


def parse_value(raw: str) -> Any:
    """A YAML scalar or flow value: '0.01' -> 0.01, '[1, 2]' -> a list, 'abc' -> 'abc', '' -> ''.

    A plain word is a string unless YAML reads it as a number, bool or null ('1e-5' is a float too,
    as in YAML 1.2), so that a comment sign or a colon in the value never changes what it means.
    """
    if raw[:1] in ("[", "{", '"', "'"):
        try:
            return load_yaml(raw, "-S").data
        except InvalidFileError as exc:
            raise UsageError(f"cannot parse the value '{raw}': {exc.problem}") from None
    if raw and yaml.resolver.Resolver().resolve(yaml.ScalarNode, raw, (True, False)) in _TYPED_TAGS:
        return load_yaml(raw, "-S").data
    return float(raw) if _YAML_12_FLOAT.fullmatch(raw) else raw


def set_params(root: Path, assignments: list[str]) -> list[ParamChange]:
    """Apply `-S` assignments in order, one atomic write per file; params.yaml is created if missing."""
    parsed = [parse_assignment(text) for text in assignments]
    originals: dict[RepoPath, str] = {}
    texts: dict[RepoPath, str] = {}
    changes = []
    for file, key, value in parsed:
        if file not in texts:
            originals[file] = texts[file] = _read_text(root, file)
        edit = {"yaml": _set_yaml, "json": _set_json, "toml": _set_toml}[kind_of(file)]
        texts[file], change = edit(texts[file], file, key, value)
        changes.append(change)
    for file, text in texts.items():
        if text != originals[file]:
            check_no_symlinks(root, file.posix, include_last=True)
            write_atomic(file.on_disk(root), text.encode("utf-8"))
    return changes


def _read_text(root: Path, file: RepoPath) -> str:
    check_no_symlinks(root, file.posix, include_last=True)
    try:
        return decode_text(file.on_disk(root).read_bytes(), file.posix)
    except FileNotFoundError:
        if file.posix == DEFAULT_PARAMS_FILE:
            return ""
        raise UsageError(f"no such params file: '{file}'", hint="only params.yaml is created when missing") from None


def _assign(data: dict[str, Any], file: RepoPath, key: str, value: Any) -> ParamChange:
    """Set `key` in `data` (adding missing parents); a parent that is not a mapping is an error."""
    parts = key.split(".")
    current = data
    for depth, part in enumerate(parts[:-1]):
        child = current.setdefault(part, {})
        if not isinstance(child, dict):
            what = "a list" if isinstance(child, list) else f"the value {json.dumps(child)}"
            raise UsageError(
                f"cannot set '{key}' in '{file}': '{'.'.join(parts[: depth + 1])}' is {what}, not a mapping",
                hint="set the whole value instead",
            )
        current = child
    existed = parts[-1] in current
    change = ParamChange(file, key, value, existed, current.get(parts[-1]))
    current[parts[-1]] = value
    return change


def _set_json(text: str, file: RepoPath, key: str, value: Any) -> tuple[str, ParamChange]:
    data = parse_params(text, file.posix, "json")
    change = _assign(data, file, key, value)
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n", change


def _set_yaml(text: str, file: RepoPath, key: str, value: Any) -> tuple[str, ParamChange]:
    data = parse_params(text, file.posix, "yaml")
    change = _assign(data, file, key, value)
    edited = set_in_text(text, key.split("."), value)  # parse_params proved the text strict
    return (dump_yaml(data) if edited is None else edited), change


# -- TOML: existing keys only, edited on their own line -------------------------------------------

_TOML_TABLE = re.compile(r"\s*\[([^\[\]]+)\]\s*(?:#.*)?")
_TOML_KEY_VALUE = re.compile(r"(\s*)([A-Za-z0-9_\-\s.\"']+?)(\s*=\s*)(.*)")


def _set_toml(text: str, file: RepoPath, key: str, value: Any) -> tuple[str, ParamChange]:
    import tomllib

    data = parse_params(text, file.posix, "toml")
    change = _assign(data, file, key, value)
    if not change.existed:
        hint = "mlx only changes keys a TOML file has: add it by hand first"
        raise UsageError(f"cannot add the new key '{key}' to '{file}'", hint=hint)
    parts, table = key.split("."), []
    lines = text.splitlines(keepends=True)
    for number, line in enumerate(lines):
        content = line.rstrip("\r\n")
        if header := _TOML_TABLE.fullmatch(content):
            table = _toml_key_path(f"[{header.group(1)}]")
        elif (match := _TOML_KEY_VALUE.fullmatch(content)) and table + _toml_key_path(f"{match.group(2)} = 0") == parts:
            # A line inside a multi-line string or an array of tables may look like the key: the
            # edited file must read back as intended, or nothing is written.
            rest = match.group(4)
            value_end = _toml_value_end(rest)
            if value_end is None:
                break
            lines[number] = line[: match.start(4)] + toml_value(value, file) + rest[value_end:] + line[len(content) :]
            edited = "".join(lines)
            if repr(dates_as_text(tomllib.loads(edited))) == repr(data):  # same values of the same types
                return edited, change
            break
    raise UsageError(
        f"cannot change '{key}' in '{file}' by editing its line",
        hint="mlx edits TOML values written as 'key = value' on one line: edit this one by hand",
    )


def _toml_key_path(line: str) -> list[Any]:
    """The key path a TOML key or table header names, as TOML itself reads it."""
    import tomllib

    try:
        data: Any = tomllib.loads(line)
    except tomllib.TOMLDecodeError:
        return [None]
    parts = []
    while isinstance(data, dict) and data:
        name = next(iter(data))
        parts.append(name)
        data = data[name]
    return parts


def _toml_value_end(rest: str) -> int | None:
    """Where the value at the start of `rest` ends (before a comment), or None for a multi-line one."""
    import tomllib

    for end in [i for i, ch in enumerate(rest) if ch == "#"] + [len(rest)]:
        candidate = rest[:end].rstrip()
        try:
            tomllib.loads(f"v = {candidate}")
        except tomllib.TOMLDecodeError:
            continue
        return len(candidate)
    return None


def toml_value(value: Any, file: RepoPath) -> str:
    if value is None:
        raise UsageError(f"cannot write null to '{file}': TOML has no null value")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)  # 0.01, 1e-05, inf, nan: all TOML
    if isinstance(value, str):
        return '"' + "".join(_toml_char(ch) for ch in value) + '"'
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(item, file) for item in value) + "]"
    names = [str(key) for key in value]  # YAML reads `{1: a}` with a number for a key
    pairs = zip((name if re.fullmatch(r"[A-Za-z0-9_-]+", name) else toml_value(name, file) for name in names), value.values(), strict=True)
    return "{" + ", ".join(f"{key} = {toml_value(item, file)}" for key, item in pairs) + "}"


def _toml_char(char: str) -> str:
    """One character of a TOML basic string: control characters escaped, as TOML requires."""
    if char < " " or char == "\x7f":
        return f"\\u{ord(char):04x}"
    return "\\" + char if char in '"\\' else char
