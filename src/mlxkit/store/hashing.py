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
        return hash_fd(fd)
    finally:
        os.close(fd)


def hash_fd(fd: int) -> Digest:
    hasher = blake3()
    while chunk := os.read(fd, 1 << 20):
        hasher.update(chunk)
    return Digest(hasher.hexdigest())
