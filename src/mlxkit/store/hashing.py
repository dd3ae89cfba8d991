"""blake3 hashing: memory-mapped and multi-threaded for large files, one read for small ones."""

from __future__ import annotations

import os
from pathlib import Path

from blake3 import blake3

from mlxkit.store.digest import Digest

# Below this size one read() is cheaper than setting up a mapping and threads.
MMAP_THRESHOLD = 4 * 1024 * 1024


def hash_bytes(data: bytes | memoryview) -> Digest:
    return Digest(blake3(data).hexdigest())


def hash_path(path: Path | str, size: int | None = None) -> Digest:
    """Hash a file by path; large files through mmap on every core."""
    if size is None:
        size = os.stat(path).st_size
    if size >= MMAP_THRESHOLD:
        hasher = blake3(max_threads=blake3.AUTO)
        hasher.update_mmap(path)
        return Digest(hasher.hexdigest())
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    try:
        data = os.read(fd, size + 1)
        if len(data) <= size:  # the whole file in one read (a longer one is read to its end)
            return Digest(blake3(data).hexdigest())
        hasher = blake3(data)
        while chunk := os.read(fd, 1 << 20):
            hasher.update(chunk)
        return Digest(hasher.hexdigest())
    finally:
        os.close(fd)

