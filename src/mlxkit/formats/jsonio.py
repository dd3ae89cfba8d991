"""JSON as mlx reads it: UTF-8 (a byte order mark allowed), no duplicate keys (as in YAML files),
and every problem an InvalidFileError naming the file and, where JSON says it, the line."""

from __future__ import annotations

import json
from typing import Any

from mlxkit.errors import InvalidFileError


def load_json(raw: bytes | str, source: str) -> Any:
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            line = raw.count(b"\n", 0, exc.start) + 1
            raise InvalidFileError(source, f"not UTF-8 text (byte {exc.start})", line=line) from None
    try:
        return json.loads(raw, object_pairs_hook=_refuse_duplicates)
    except json.JSONDecodeError as exc:
        raise InvalidFileError(source, f"not valid JSON: {exc.msg}", line=exc.lineno) from None
    except _DuplicateKey as exc:
        raise InvalidFileError(source, f"duplicate key '{exc.key}'") from None
    except RecursionError:
        raise InvalidFileError(source, "nested too deeply") from None


class _DuplicateKey(Exception):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _refuse_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    mapping: dict[str, Any] = {}
    for key, value in pairs:
        if key in mapping:
            raise _DuplicateKey(key)
        mapping[key] = value
    return mapping
