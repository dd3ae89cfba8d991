"""Pack files: small objects concatenated, so that a push of 10^5 small files is a few large
uploads, and a fetch a few large range reads, instead of one request per object.

A pack holds nothing but object bytes; where each object lies is written in the push's index
(layout.py). Its name is the blake3 of its bytes, computed while it is written.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from blake3 import blake3

from mlxkit.fs.atomic import open_temp, unlink_quietly, write_all
from mlxkit.store.digest import Digest
from mlxkit.store.remotes.layout import Entry, PackEntries

GAP = 256 * 1024  # wanted ranges closer than this are read as one (a request costs more than the gap)
WRITE_BUFFER = 1 << 20
UNLIMITED = 1 << 62  # a target size for a builder that makes one pack of whatever it is given
WHOLE_SHARE = 0.5  # wanting more than this share of a pack: read all of it
E = TypeVar("E", bound=tuple)  # an entry: (anything, offset, length)


@dataclass(frozen=True)
class Pack(PackEntries):
    """A complete pack in a local temporary file (the caller uploads it, then removes it)."""

    path: Path

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        # Packs built by forked workers come back with their entries as plain tuples: pickling
        # 10^5 NamedTuples costs 0.6 s of CPU, plain tuples 0.13 s.
        return (_unpickle_pack, (self.hex, self.size, tuple(map(tuple, self.entries)), self.path))


def _unpickle_pack(hex_digits: str, size: int, entries: tuple[tuple[str, int, int], ...], path: Path) -> Pack:
    return Pack(hex_digits, size, tuple(map(Entry._make, entries)), path)


class PackBuilder:
    """Appends objects to a temporary file in `directory` until it holds `target_size` bytes.

    Use it as a context manager (or call `discard()`), so that a pack still being written when
    something fails is removed; complete packs belong to the caller.
    """

    def __init__(self, directory: Path, target_size: int) -> None:
        self.directory = directory
        self.target_size = target_size
        self._fd: int | None = None
        self._path = ""
        self._buffer = bytearray()
        self._hasher = blake3()
        self._entries: list[Entry] = []
        self._size = 0
        self._seen: set[str] = set()

    def __enter__(self) -> PackBuilder:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.discard()

    def add(self, digest: Digest, data: bytes | memoryview) -> Pack | None:
        """Append one object; returns the pack when it reached the target size. An object added
        before (to this builder) is not added again."""
        if digest.hex in self._seen:
            return None
        if self._fd is None:
            self._fd, self._path = open_temp(self.directory)
        self._buffer += data  # one write per MiB, not one per object (10^5 objects: 10^5 syscalls)
        if len(self._buffer) >= WRITE_BUFFER:
            self._flush()
        self._hasher.update(data)
        self._entries.append(Entry(digest.hex, self._size, len(data)))
        self._size += len(data)
        self._seen.add(digest.hex)
        return self._complete() if self._size >= self.target_size else None

    def finish(self) -> Pack | None:
        """The last pack, if any object was added since the previous one."""
        return self._complete() if self._fd is not None else None

    def discard(self) -> None:
        """Remove the pack being written, if any."""
        if self._fd is not None:
            os.close(self._fd)
            unlink_quietly(self._path)
            self._reset()

    def _flush(self) -> None:
        assert self._fd is not None
        write_all(self._fd, self._buffer)
        self._buffer.clear()

    def _complete(self) -> Pack:
        assert self._fd is not None
        self._flush()
        os.close(self._fd)
        pack = Pack(self._hasher.hexdigest(), self._size, tuple(self._entries), Path(self._path))
        self._reset()
        return pack

    def _reset(self) -> None:
        self._fd, self._path = None, ""
        self._buffer = bytearray()
        self._hasher = blake3()
        self._entries = []
        self._size = 0


def plan_reads(entries: list[E], pack_size: int) -> list[tuple[int, int, list[E]]]:
    """How to read the wanted `entries` (tuples `(key, offset, length)`) of one pack: a list of
    `(start, end, entries inside)`. Ranges less than GAP apart are merged; when the wanted bytes
    are more than half the pack, the whole pack is one read."""
    ordered = sorted(entries, key=lambda entry: (entry[1], entry[2]))
    if not ordered:
        return []
    if sum(entry[2] for entry in ordered) > pack_size * WHOLE_SHARE:
        return [(0, pack_size, ordered)]
    reads: list[tuple[int, int, list[E]]] = []
    start, end, group = ordered[0][1], ordered[0][1] + ordered[0][2], [ordered[0]]
    for entry in ordered[1:]:
        if entry[1] - end < GAP:
            end = max(end, entry[1] + entry[2])
            group.append(entry)
        else:
            reads.append((start, end, group))
            start, end, group = entry[1], entry[1] + entry[2], [entry]
    reads.append((start, end, group))
    return reads
