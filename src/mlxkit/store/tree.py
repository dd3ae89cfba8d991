"""Tree objects: a directory as canonical JSON, `{"entries":[{"hash","path","size"[,"x"]}],"format":1}`.

Canonical means sorted entries, sorted keys and no insignificant whitespace, so that one directory
content has exactly one digest. A tree read from anywhere is validated whole before anything uses it:
every path is confined (no '..', no absolute, no .git/.mlx), no duplicates, no file that is also a
directory.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cached_property

from mlxkit.errors import InvalidFileError
from mlxkit.fs.confine import unsafe_reason
from mlxkit.store.digest import Digest, InvalidDigest
from mlxkit.store.hashing import hash_bytes

TREE_FORMAT = 1


@dataclass(frozen=True, slots=True)
class TreeEntry:
    path: str
    digest: Digest
    size: int
    executable: bool = False

    def to_json(self) -> dict[str, object]:
        entry: dict[str, object] = {"hash": str(self.digest), "path": self.path, "size": self.size}
        if self.executable:
            entry["x"] = True
        return entry


@dataclass(frozen=True)
class Tree:
    entries: tuple[TreeEntry, ...]

    @classmethod
    def build(cls, entries: list[TreeEntry]) -> Tree:
        ordered = tuple(sorted(entries, key=lambda e: e.path))
        _check_paths(ordered, "<tree>")
        return cls(ordered)

    @cached_property
    def data(self) -> bytes:
        body = [entry.to_json() for entry in self.entries]
        return json.dumps(
            {"entries": body, "format": TREE_FORMAT}, separators=(",", ":"), sort_keys=True, ensure_ascii=False
        ).encode("utf-8")

    @cached_property
    def digest(self) -> Digest:
        return hash_bytes(self.data)

    @property
    def size(self) -> int:
        return sum(entry.size for entry in self.entries)

    @property
    def files(self) -> int:
        return len(self.entries)

    @classmethod
    def parse(cls, data: bytes, source: str) -> Tree:
        """Read a tree object; anything but a canonical, safe tree raises InvalidFileError."""
        try:
            doc = json.loads(data)
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidFileError(source, f"not a JSON tree object: {exc}") from None
        except RecursionError:
            raise InvalidFileError(source, "not a JSON tree object: nested too deeply") from None
        if not isinstance(doc, dict) or set(doc) != {"entries", "format"}:
            raise InvalidFileError(source, "a tree object must have exactly the keys 'format' and 'entries'")
        if doc["format"] != TREE_FORMAT:
            from mlxkit.errors import UnsupportedFormatError

            raise UnsupportedFormatError(
                f"tree object '{source}' uses format {doc['format']!r}, this mlx reads {TREE_FORMAT}",
                hint="upgrade mlx",
            )
        if not isinstance(doc["entries"], list):
            raise InvalidFileError(source, "'entries' must be a list")
        entries = [_quick_entry(raw) or _parse_entry(raw, f"{source} entry {i}") for i, raw in enumerate(doc["entries"])]
        tree = cls(tuple(entries))
        _check_paths(tree.entries, source)
        if tree.data != data:
            raise InvalidFileError(source, "the tree object is not in canonical form (sorted, compact JSON)")
        return tree


_HASH = re.compile(r"blake3:([0-9a-f]{64})")


def _quick_entry(raw: object) -> TreeEntry | None:
    """The common, well-formed entry in a few checks (trees hold 10^5 entries); None sends anything
    else to _parse_entry, which says what is wrong."""
    if type(raw) is not dict:
        return None
    path, size, text, executable = raw.get("path"), raw.get("size"), raw.get("hash"), raw.get("x", False)
    if (
        len(raw) == (4 if executable is True else 3)
        and type(path) is str
        and type(size) is int
        and size >= 0
        and type(text) is str
        and (match := _HASH.fullmatch(text)) is not None
    ):
        return TreeEntry(path, Digest(match.group(1)), size, executable)
    return None


def _parse_entry(raw: object, where: str) -> TreeEntry:
    if not isinstance(raw, dict) or not {"path", "hash", "size"} <= set(raw) or not set(raw) <= {"path", "hash", "size", "x"}:
        raise InvalidFileError(where, "an entry must have 'path', 'hash', 'size' and optionally 'x'")
    path, size = raw["path"], raw["size"]
    if not isinstance(path, str) or not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise InvalidFileError(where, "'path' must be a string and 'size' a non-negative integer")
    if raw.get("x", True) is not True:
        raise InvalidFileError(where, "'x' may only be true")
    try:
        digest = Digest.parse(raw["hash"])
    except InvalidDigest as exc:
        raise InvalidFileError(where, str(exc)) from None
    return TreeEntry(path, digest, size, bool(raw.get("x")))


def _check_paths(entries: tuple[TreeEntry, ...], source: str) -> None:
    """Entries sorted by path: refuse unsafe paths, duplicates and a file that is also a directory."""
    previous = None
    files = set()
    for entry in entries:
        reason = unsafe_reason(entry.path)
        if reason:
            raise InvalidFileError(source, f"unsafe path '{entry.path}' in tree: {reason}")
        if previous is not None and entry.path <= previous:
            problem = "duplicate" if entry.path == previous else "unsorted"
            raise InvalidFileError(source, f"{problem} entry '{entry.path}' in tree")
        previous = entry.path
        files.add(entry.path)
    for entry in entries:
        parts = entry.path.split("/")
        for depth in range(1, len(parts)):
            if "/".join(parts[:depth]) in files:
                raise InvalidFileError(
                    source, f"'{'/'.join(parts[:depth])}' is both a file and a directory in tree"
                )
