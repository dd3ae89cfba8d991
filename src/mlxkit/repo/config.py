"""Configuration: `.mlx/config.yaml` (committed) overlaid by `.mlx/config.local.yaml` (not committed).

Keys are dotted (`cache.type`). Every file is validated against the `config-1` schema. A committed
config can never move the cache, the temp folder or the state outside `.mlx/`: `cache.dir` is
accepted only in config.local.yaml, which git does not see.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlxkit.errors import InvalidFileError, UsageError
from mlxkit.formats.schema import load_schema, validate
from mlxkit.formats.yamlio import dump_yaml, load_yaml
from mlxkit.fs.atomic import write_atomic
from mlxkit.fs.links import DEFAULT_LINK_TYPES

CONFIG_FILE = "config.yaml"
LOCAL_CONFIG_FILE = "config.local.yaml"
LOCAL_ONLY = frozenset({"cache.dir"})
DEFAULTS: dict[str, Any] = {
    "core.fsync": "batch",
    "core.jobs": None,
    "cache.type": list(DEFAULT_LINK_TYPES),
    "cache.dir": None,
}


def known_keys() -> dict[str, dict[str, Any]]:
    """Every dotted key and its schema, from the config schema itself."""
    keys = {}
    for section, body in load_schema("config-1")["properties"].items():
        for name, schema in body["properties"].items():
            keys[f"{section}.{name}"] = schema
    return keys


@dataclass
class Config:
    shared: dict[str, Any] = field(default_factory=dict)
    local: dict[str, Any] = field(default_factory=dict)

    def get(self, key: str) -> Any:
        for layer in (self.local, self.shared):
            value = _lookup(layer, key)
            if value is not None:
                return value
        return DEFAULTS.get(key)

    def items(self) -> list[tuple[str, Any, str]]:
        """(key, value, where) for every key set in a file, local ones last."""
        rows = [(key, value, CONFIG_FILE) for key, value in _flatten(self.shared)]
        rows += [(key, value, LOCAL_CONFIG_FILE) for key, value in _flatten(self.local)]
        return rows

    @property
    def link_types(self) -> tuple[str, ...]:
        return tuple(self.get("cache.type"))


def read_config(mlx_dir: Path) -> Config:
    return Config(_read_layer(mlx_dir, CONFIG_FILE), _read_layer(mlx_dir, LOCAL_CONFIG_FILE))


def _read_layer(mlx_dir: Path, name: str) -> dict[str, Any]:
    path = mlx_dir / name
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}
    source = f".mlx/{name}"
    document = load_yaml(raw, source)
    if document.data is None:
        return {}
    if not _known_valid(mlx_dir, raw):
        validate(document, "config-1")
        _remember_valid(mlx_dir, raw)
    if name == CONFIG_FILE:
        for key in LOCAL_ONLY:
            if _lookup(document.data, key) is not None:
                section, option = key.split(".")
                raise InvalidFileError(
                    source,
                    f"'{key}' may only be set in .mlx/{LOCAL_CONFIG_FILE}: a committed file must not move the cache",
                    line=document.line_of((section, option)),
                    hint=f"run 'mlx config --local {key} PATH' instead",
                )
    dir_value = _lookup(document.data, "cache.dir")
    if dir_value is not None and not Path(dir_value).is_absolute():
        raise InvalidFileError(source, "'cache.dir' must be an absolute path", line=document.line_of(("cache", "dir")))
    return document.data


# jsonschema costs ~90 ms to import, half of a command's start-up budget; a config file whose exact
# bytes passed validation once is not validated again (the digests are kept in .mlx/tmp/).
_VALID_FILE = "config-valid"


def _validity_key(raw: bytes) -> str:
    from blake3 import blake3

    from mlxkit import __version__

    return blake3(__version__.encode() + b"\0" + raw).hexdigest()


def _known_valid(mlx_dir: Path, raw: bytes) -> bool:
    try:
        known = (mlx_dir / "tmp" / _VALID_FILE).read_text(encoding="ascii").split()
    except (OSError, UnicodeDecodeError):
        return False
    return _validity_key(raw) in known


def _remember_valid(mlx_dir: Path, raw: bytes) -> None:
    path = mlx_dir / "tmp" / _VALID_FILE
    try:
        known = path.read_text(encoding="ascii").split()[-7:]
    except (OSError, UnicodeDecodeError):
        known = []
    try:
        write_atomic(path, "\n".join([*known, _validity_key(raw)]).encode() + b"\n", durable=False)
    except OSError:  # a read-only checkout: validate every time
        pass


def parse_value(key: str, text: str) -> Any:
    """Turn the text typed after `mlx config KEY` into the value the schema expects."""
    schema = known_keys()[key]
    kind = schema.get("type")
    if kind == "array":
        return [part.strip() for part in text.split(",") if part.strip()]
    if kind == "integer":
        try:
            return int(text)
        except ValueError:
            raise UsageError(f"'{key}' takes a whole number, not '{text}'") from None
    return text


def set_value(mlx_dir: Path, key: str, value: Any, *, local: bool) -> None:
    """Set (or with value None, unset) `key` in one config file, validating the result first."""
    check_key(key)
    name = LOCAL_CONFIG_FILE if local else CONFIG_FILE
    if key in LOCAL_ONLY and not local:
        raise UsageError(f"'{key}' may only be set in .mlx/{LOCAL_CONFIG_FILE}", hint=f"run 'mlx config --local {key} ...'")
    data = copy.deepcopy(_read_layer(mlx_dir, name))
    section, option = key.split(".")
    if value is None:
        data.get(section, {}).pop(option, None)
        if section in data and not data[section]:
            del data[section]
    else:
        data.setdefault(section, {})[option] = value
    try:
        validate(data, "config-1", f".mlx/{name}")
    except InvalidFileError as exc:  # the file was valid when read: the new value is what is wrong
        problem = re.sub(r"^at '[^']*': ", "", exc.problem)
        raise UsageError(f"invalid value for '{key}': {problem}") from None
    if key == "cache.dir" and value is not None and not Path(value).is_absolute():
        raise UsageError("'cache.dir' must be an absolute path")
    write_atomic(mlx_dir / name, dump_yaml(data).encode("utf-8") if data else b"")


def check_key(key: str) -> None:
    keys = known_keys()
    if key not in keys:
        import difflib

        close = difflib.get_close_matches(key, list(keys), n=1)
        raise UsageError(
            f"unknown config key '{key}'",
            hint=f"did you mean '{close[0]}'?" if close else f"known keys: {', '.join(sorted(keys))}",
        )


def _lookup(data: dict[str, Any], key: str) -> Any:
    section, option = key.split(".")
    body = data.get(section)
    return body.get(option) if isinstance(body, dict) else None


def _flatten(data: dict[str, Any]) -> list[tuple[str, Any]]:
    return [(f"{section}.{option}", value) for section, body in data.items() for option, value in body.items()]
