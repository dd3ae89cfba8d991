"""Stage fingerprints: one digest for everything that decides what a stage produces.

Two runs of a stage with the same fingerprint are expected to write the same outputs, so the run
cache (runcache.py) maps a fingerprint to the outputs it produced. Exactly this goes in, as the blake3
of canonical JSON (keys sorted, separators `,` and `:`, UTF-8, non-ASCII written as itself):

    {"cmd": ["python train.py", ...],              the commands, in order
     "deps": [["data/prepared", "blake3:…"], ...], (path, hash) of each dep, sorted by path
     "env": {"SEED": "blake3:…" | null, ...},      digest of each declared variable's value, null: unset
     "format": 1,                                  bumped whenever what goes in changes
     "params": {"params.yaml": {"train.lr": 0.1}}} file -> dotted key -> value, as read

Left out on purpose: a dep's `size` and `files` (the hash already says everything about the content),
the stage's name (renaming a stage does not change what it computes), and its outs (the run cache
stores them; the runner checks they are the paths the stage declares now).

Param values are written as JSON writes them: floats by `repr` (exact: 0.1 stays 0.1), `1` and `1.0`
and `true` all different. A mapping key that is not a string (YAML allows `1: a`) is written as NUL
followed by the key's JSON text, so `1` and `"1"` stay different keys.
"""

from __future__ import annotations

import json
from typing import Any

from mlxkit.pipeline.model import LockedPath
from mlxkit.store.digest import Digest
from mlxkit.store.hashing import hash_bytes

FINGERPRINT_FORMAT = 1


def stage_fingerprint(
    cmd: tuple[str, ...], deps: tuple[LockedPath, ...], params: dict[str, dict[str, Any]], env: dict[str, Digest | None]
) -> Digest:
    return hash_bytes(fingerprint_text(cmd, deps, params, env).encode("utf-8"))


def fingerprint_text(
    cmd: tuple[str, ...], deps: tuple[LockedPath, ...], params: dict[str, dict[str, Any]], env: dict[str, Digest | None]
) -> str:
    """The canonical JSON that `stage_fingerprint` hashes (shown by tests and docs)."""
    document = {
        "cmd": list(cmd),
        "deps": [[locked.path.posix, str(locked.digest)] for locked in sorted(deps, key=lambda locked: locked.path)],
        "env": {name: None if digest is None else str(digest) for name, digest in env.items()},
        "format": FINGERPRINT_FORMAT,
        "params": _keys_as_text(params),
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _keys_as_text(value: Any) -> Any:
    if isinstance(value, dict):
        return {key if isinstance(key, str) else "\x00" + json.dumps(key): _keys_as_text(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_keys_as_text(item) for item in value]
    return value

