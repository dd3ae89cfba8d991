"""mlx.lock: what each completed stage ran with and what it produced, as YAML that diffs and merges well.

    format: 1
    stages:
      prepare:
        cmd: python src/prepare.py       # a string for one command, a list for several
        deps:                            # sorted by path
        - path: data/raw
          hash: blake3:…
          size: 1234
          files: 3                       # directories only
        params:                          # file -> dotted key -> value, both sorted
          params.yaml:
            prepare.split: 0.2
        env:                             # name -> digest of the value (null: unset), never the value
          CUDA_VISIBLE_DEVICES: blake3:…
        outs:                            # sorted by path
        - path: data/prepared
          hash: blake3:…
          size: 4567
          files: 2

      train:
        …

The text is a function of the Lock alone: stages sorted by name, fixed key order, empty sections left
out, and one blank line between stages, so that two branches that changed different stages merge
without a conflict.

Reading is strict and cheap: a converter checks the type of every value while it builds the Lock, so
the happy path never imports jsonschema (`mlx status` reads this file; docs/design.md). When the
converter refuses something, the JSON Schema lock-1 explains it with the line and a did-you-mean hint;
hashes and paths get their own messages. A corrupt lockfile is an error, never silently rewritten.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from mlxkit.errors import InvalidFileError, UnsafePathError, UnsupportedFormatError
from mlxkit.formats.schema import validate
from mlxkit.formats.yamlio import MAX_YAML_BYTES, Location, YamlDocument, dump_yaml, load_yaml
from mlxkit.fs.atomic import write_atomic
from mlxkit.fs.confine import RepoPath, check_no_symlinks, unsafe_reason
from mlxkit.pipeline import LOCK_FILE
from mlxkit.pipeline.model import Lock, LockedPath, LockEntry
from mlxkit.store.digest import Digest, InvalidDigest

LOCK_FORMAT = 1
_TOP_KEYS = ("format", "stages")
_ENTRY_KEYS = ("cmd", "deps", "params", "env", "outs")
_PATH_KEYS = ("path", "hash", "size", "files")


# -- writing -------------------------------------------------------------------------------------


def dump_lock(lock: Lock) -> str:
    """The text of mlx.lock for `lock`: the same Lock always gives the same bytes."""
    if not lock.stages:
        return f"format: {LOCK_FORMAT}\nstages: {{}}\n"
    blocks = [_stage_block(name, lock.stages[name]) for name in sorted(lock.stages)]
    return f"format: {LOCK_FORMAT}\nstages:\n" + "\n".join(blocks)


def _stage_block(name: str, entry: LockEntry) -> str:
    # Dumped under its parent key so that PyYAML indents (and quotes) it; the 'stages:' line is dropped.
    # A run rewrites mlx.lock after each stage, with the other stages' LockEntry objects unchanged:
    # their blocks are remembered by identity (the entry is kept alive beside its text, so its id
    # cannot be reused), so that a run neither dumps YAML nor serializes anything per stage twice.
    key = (name, id(entry))
    known = _blocks.get(key)
    if known is not None:
        return known[1]
    if len(_blocks) > 4096:
        _blocks.clear()
    text = dump_yaml({"stages": {name: _entry_data(entry)}}).split("\n", 1)[1]
    _blocks[key] = (entry, text)
    return text


_blocks: dict[tuple[str, int], tuple[LockEntry, str]] = {}


def _entry_data(entry: LockEntry) -> dict[str, Any]:
    data: dict[str, Any] = {"cmd": entry.cmd[0] if len(entry.cmd) == 1 else list(entry.cmd)}
    if entry.deps:
        data["deps"] = paths_data(entry.deps)
    if entry.params:
        data["params"] = {
            file: {key: _sorted_value(keys[key]) for key in sorted(keys)} for file, keys in sorted(entry.params.items())
        }
    if entry.env:
        data["env"] = {name: None if digest is None else str(digest) for name, digest in sorted(entry.env.items())}
    if entry.outs:
        data["outs"] = paths_data(entry.outs)
    return data


def paths_data(paths: tuple[LockedPath, ...]) -> list[dict[str, Any]]:
    """Deps or outs as mlx.lock (and a run-cache entry) lists them: sorted by path, `files` for directories."""
    items = []
    for locked in sorted(paths, key=lambda locked: locked.path):
        item: dict[str, Any] = {"path": locked.path.posix, "hash": str(locked.digest), "size": locked.size}
        if locked.files is not None:
            item["files"] = locked.files
        items.append(item)
    return items


def _sorted_value(value: Any) -> Any:
    """A param value with its mappings' keys sorted (YAML keys may be numbers or booleans too)."""
    if isinstance(value, dict):
        ordered = sorted(value, key=lambda key: (type(key).__name__, str(key)))
        return {key: _sorted_value(value[key]) for key in ordered}
    if isinstance(value, list):
        return [_sorted_value(item) for item in value]
    return value


def write_lock(root: Path, lock: Lock, dir_syncs: set[Path] | None = None) -> None:
    """Replace mlx.lock atomically: readers see the old file or the new one, never half of one.
    `dir_syncs`: see fs.atomic.write_atomic."""
    check_no_symlinks(root, LOCK_FILE, include_last=True)
    write_atomic(root / LOCK_FILE, dump_lock(lock).encode("utf-8"), dir_syncs=dir_syncs)


def with_stage(lock: Lock, name: str, entry: LockEntry) -> Lock:
    return Lock({**lock.stages, name: entry})


# -- reading -------------------------------------------------------------------------------------


def read_lock(root: Path) -> Lock:
    """The repository's mlx.lock, or an empty Lock when there is none yet."""
    check_no_symlinks(root, LOCK_FILE, include_last=True)
    try:
        with open(root / LOCK_FILE, "rb") as handle:
            raw = handle.read(MAX_YAML_BYTES + 1)  # load_yaml refuses anything longer, by name
    except FileNotFoundError:
        return Lock({})
    except IsADirectoryError:
        raise InvalidFileError(LOCK_FILE, "a directory, not a lockfile") from None
    return parse_lock(raw)


def parse_lock(text: str | bytes, source: str = LOCK_FILE) -> Lock:
    _refuse_conflict_markers(text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass"), source)
    document = load_yaml(text, source)
    data = document.data
    if isinstance(data, dict) and type(data.get("format")) is int and data["format"] > LOCK_FORMAT:
        raise UnsupportedFormatError(f"'{source}' uses format {data['format']}, this mlx reads {LOCK_FORMAT}: upgrade mlx")
    try:
        return _Reader(document).lock()
    except _Refused as refused:
        validate(document, "lock-1")  # the schema's message and hint, wherever the schema objects
        where = ".".join(str(part) for part in refused.location) or "the top level"
        line = document.line_of(refused.location)
        raise InvalidFileError(source, f"at '{where}': {refused.problem}", line=line) from None


def _refuse_conflict_markers(raw: bytes, source: str) -> None:
    """A merge of two branches that ran the same stage leaves git's markers: say so, not 'malformed YAML'."""
    marker = _CONFLICT.search(raw)
    if marker is not None:
        raise InvalidFileError(
            source,
            "unresolved merge conflict (a '<<<<<<<' line)",
            line=raw.count(b"\n", 0, marker.start()) + 1,
            hint=f"keep one side ('git checkout --ours {source}' or '--theirs'), then 'mlx run' brings the other stages up to date",
        )


_CONFLICT = re.compile(rb"^<<<<<<< ", re.MULTILINE)


class _Refused(Exception):
    """A value the converter cannot take; the schema gets the first word on why."""

    def __init__(self, location: Location, problem: str) -> None:
        super().__init__(problem)
        self.location = location
        self.problem = problem


class _Reader:
    """Builds a Lock from a loaded document, checking each value as it goes (never looser than lock-1)."""

    def __init__(self, document: YamlDocument) -> None:
        self.document = document

    def lock(self) -> Lock:
        data = self._mapping(self.document.data, (), _TOP_KEYS)
        if type(data.get("format")) is not int or data["format"] != LOCK_FORMAT:
            raise _Refused(("format",), f"{data.get('format')!r} is not format {LOCK_FORMAT}")
        if "stages" not in data:
            raise _Refused((), "'stages' is required")
        stages = self._mapping(data["stages"], ("stages",))
        entries = {}
        for name, body in stages.items():
            if not isinstance(name, str) or not name:
                raise _Refused(("stages",), f"a stage name must be a non-empty string, not {name!r}")
            entries[name] = self._entry(body, ("stages", name))
        return Lock(entries)

    def _entry(self, body: object, at: Location) -> LockEntry:
        data = self._mapping(body, at, _ENTRY_KEYS)
        if "cmd" not in data:
            raise _Refused(at, "'cmd' is required")
        cmd = data["cmd"]
        if isinstance(cmd, str):
            commands: tuple[str, ...] = (cmd,)
        elif isinstance(cmd, list) and all(isinstance(part, str) for part in cmd):
            commands = tuple(cmd)
        else:
            raise _Refused(at + ("cmd",), "a command must be a string or a list of strings")
        return LockEntry(
            cmd=commands,
            deps=self._paths(data.get("deps", []), at + ("deps",)),
            params=self._params(data.get("params", {}), at + ("params",)),
            env=self._env(data.get("env", {}), at + ("env",)),
            outs=self._paths(data.get("outs", []), at + ("outs",)),
        )

    def _paths(self, items: object, at: Location) -> tuple[LockedPath, ...]:
        if not isinstance(items, list):
            raise _Refused(at, "must be a list of paths")
        found: dict[RepoPath, LockedPath] = {}
        for index, item in enumerate(items):
            locked = self._locked_path(item, at + (index,))
            if locked.path in found:
                raise _Refused(at + (index,), f"'{locked.path}' is listed twice")
            found[locked.path] = locked
        return tuple(found[path] for path in sorted(found))

    def _locked_path(self, item: object, at: Location) -> LockedPath:
        data = self._mapping(item, at, _PATH_KEYS)
        for key in ("path", "hash", "size"):
            if key not in data:
                raise _Refused(at, f"'{key}' is required")
        path = self._path(data["path"], at + ("path",))
        digest = self._digest(data["hash"], at + ("hash",))
        for key in ("size", "files"):
            count = data.get(key, 0)
            if type(count) is not int or count < 0:  # 1.0 is an integer to JSON Schema, not to mlx
                raise _Refused(at + (key,), f"{count!r} is not a whole number, 0 or more")
        return LockedPath(path, digest, data["size"], data.get("files"))

    def _params(self, files: object, at: Location) -> dict[str, dict[str, Any]]:
        params: dict[str, dict[str, Any]] = {}
        for file, keys in self._mapping(files, at).items():
            self._path(file, at + (file,))
            values = self._mapping(keys, at + (file,))
            if not all(isinstance(key, str) and key for key in values):
                raise _Refused(at + (file,), "a param name must be a non-empty string")
            params[file] = values
        return params

    def _env(self, names: object, at: Location) -> dict[str, Digest | None]:
        env: dict[str, Digest | None] = {}
        for name, value in self._mapping(names, at).items():
            if not isinstance(name, str) or not name:
                raise _Refused(at, f"a variable name must be a non-empty string, not {name!r}")
            env[name] = None if value is None else self._digest(value, at + (name,))
        return env

    def _mapping(self, value: object, at: Location, keys: tuple[str, ...] | None = None) -> dict[Any, Any]:
        if not isinstance(value, dict):
            raise _Refused(at, "must be a mapping")
        if keys is not None and not set(value) <= set(keys):
            raise _Refused(at, "unknown key")
        return value

    def _path(self, value: object, at: Location) -> RepoPath:
        if not isinstance(value, str):
            raise _Refused(at, "a path must be a string")
        reason = unsafe_reason(value)
        if reason:
            raise UnsafePathError(f"unsafe path in '{self.document.source}:{self.document.line_of(at)}': {reason}")
        return RepoPath(value)

    def _digest(self, value: object, at: Location) -> Digest:
        if not isinstance(value, str):
            raise _Refused(at, "a hash must be a string")
        try:
            return Digest.parse(value)
        except InvalidDigest as exc:
            raise InvalidFileError(self.document.source, str(exc), line=self.document.line_of(at)) from None

