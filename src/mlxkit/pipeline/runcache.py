"""The run cache (`.mlx/cache/runs/`): stage fingerprint -> the outputs a run with it produced.

One small JSON file per fingerprint, named like a cache object:

    runs/ab/cdef….json    {"format":1,"outs":[{"files":2,"hash":"blake3:…","path":"data/prepared","size":4567}]}

It is a cache, so it never fails a run: an entry that cannot be read or does not validate is a miss,
and the reason is appended to `RunCache.problems` for the caller to show as a warning. Running the
stage then `put`s a good entry over the bad one. Entries are written atomically, and only after
the objects they name are in the cache (the caller's order: objects, then the entry).
"""

from __future__ import annotations

import json
from pathlib import Path

from mlxkit.errors import InvalidFileError, UnsafePathError, UnsupportedFormatError, problem_text
from mlxkit.formats.jsonio import load_json
from mlxkit.formats.schema import validate
from mlxkit.fs.atomic import write_atomic
from mlxkit.fs.confine import RepoPath
from mlxkit.pipeline.lockfile import paths_data
from mlxkit.pipeline.model import LockedPath
from mlxkit.store.digest import Digest, InvalidDigest

RUNCACHE_FORMAT = 1
MAX_ENTRY_BYTES = 1024 * 1024  # a stage's outs are the paths mlx.yaml names, not their files


class RunCache:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.problems: list[str] = []  # one line per entry ignored as unreadable, oldest first

    def path_of(self, fingerprint: Digest) -> Path:
        return self.directory / f"{fingerprint.relpath}.json"

    def get(self, fingerprint: Digest) -> tuple[LockedPath, ...] | None:
        """The outs recorded for `fingerprint`, or None (never seen, or an entry that cannot be used)."""
        path = self.path_of(fingerprint)
        try:
            return read_entry(path)
        except FileNotFoundError:
            return None
        except (OSError, InvalidFileError, UnsafePathError, UnsupportedFormatError) as exc:

            self.problems.append(f"ignoring run-cache entry '{path}': {problem_text(exc)}")
            return None

    def put(self, fingerprint: Digest, outs: tuple[LockedPath, ...], dir_syncs: set[Path] | None = None) -> None:
        """Write the entry (its bytes fsynced); `dir_syncs`: see fs.atomic.write_atomic."""
        path = self.path_of(fingerprint)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, entry_bytes(outs), dir_syncs=dir_syncs)


def entry_bytes(outs: tuple[LockedPath, ...]) -> bytes:
    document = {"format": RUNCACHE_FORMAT, "outs": paths_data(outs)}
    return (json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False) + "\n").encode("utf-8")


def read_entry(path: Path) -> tuple[LockedPath, ...]:
    """One entry, checked whole: schema runcache-1, every hash and every path."""
    source = str(path)
    with open(path, "rb") as handle:
        raw = handle.read(MAX_ENTRY_BYTES + 1)
    if len(raw) > MAX_ENTRY_BYTES:
        raise InvalidFileError(source, f"larger than {MAX_ENTRY_BYTES // 1024} KiB: not a run-cache entry")

    data = load_json(raw, source)
    if isinstance(data, dict) and type(data.get("format")) is int and data["format"] > RUNCACHE_FORMAT:
        raise UnsupportedFormatError(f"'{source}' uses run-cache format {data['format']}, this mlx reads {RUNCACHE_FORMAT}")
    validate(data, "runcache-1", source)
    outs = []
    for index, item in enumerate(data["outs"]):
        if any(type(item.get(key, 0)) is not int for key in ("size", "files")):  # JSON Schema takes 1.0 for 1
            raise InvalidFileError(source, f"at 'outs.{index}': 'size' and 'files' must be whole numbers")
        try:
            digest = Digest.parse(item["hash"])  # stricter than the schema's pattern, whose '$' allows a final newline
        except InvalidDigest as exc:
            raise InvalidFileError(source, f"at 'outs.{index}.hash': {exc}") from None
        outs.append(LockedPath(RepoPath.parse(item["path"]), digest, item["size"], item.get("files")))
    if len({locked.path for locked in outs}) != len(outs):
        raise InvalidFileError(source, "an out is listed twice")
    return tuple(sorted(outs, key=lambda locked: locked.path))
