"""What the workspace references: the roots gc marks from. Fails closed: anything unreadable raises.

Roots: every pointer file in the workspace, every pointer file and mlx.lock staged in git's index,
and the workspace's mlx.lock. A directory's tree object is expanded to its files; a tree that is
missing from the cache makes the marking fail, because nobody could tell which objects it names.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mlxkit.errors import MlxError
from mlxkit.formats.yamlio import load_yaml
from mlxkit.fs.confine import RepoPath
from mlxkit.repo.repository import Repository
from mlxkit.store.digest import Digest, InvalidDigest
from mlxkit.tracking.pointer import find_pointer_files, parse_pointer, read_pointer
from mlxkit.tracking.trees import load_tree

LOCKFILE = "mlx.lock"


class RootUnreadable(MlxError):
    exit_code = 12


def live_objects(repo: Repository) -> tuple[set[str], int]:
    """Hex digests of every object something in the workspace references, and the number of roots."""
    live: set[str] = set()
    roots = 0
    for digest, is_dir, source in _roots(repo):
        roots += 1
        if digest.hex in live:
            continue
        live.add(digest.hex)
        if is_dir:
            tree = load_tree(repo.store, digest, missing_ok=True)
            if tree is None:
                raise RootUnreadable(
                    f"the tree {digest.short} named by '{source}' is not in the cache, so its files cannot be told apart "
                    "from garbage: nothing was deleted",
                    hint="re-add the directory with 'mlx add', or stop tracking it with 'mlx remove'",
                )
            live.update(entry.digest.hex for entry in tree.entries)
    return live, roots


def _roots(repo: Repository) -> Iterator[tuple[Digest, bool, str]]:
    for pointer_file in find_pointer_files(repo.root):
        try:
            pointer = read_pointer(repo.root, pointer_file)
        except MlxError as exc:
            raise RootUnreadable(f"cannot read '{pointer_file}', so nothing was deleted: {exc.message}", hint=exc.hint) from exc
        yield pointer.digest, pointer.is_dir, str(pointer_file)
    lock = repo.root / LOCKFILE
    if lock.is_file():
        yield from _lockfile_roots(lock.read_bytes(), LOCKFILE)
    if repo.is_git:
        yield from _staged_roots(repo.root)


def _lockfile_roots(data: bytes, source: str) -> Iterator[tuple[Digest, bool, str]]:
    try:
        document = load_yaml(data, source)
    except MlxError as exc:
        raise RootUnreadable(f"cannot read '{source}', so nothing was deleted: {exc.message}") from exc
    for node in _mappings(document.data):
        if "hash" in node:
            try:
                digest = Digest.parse(node["hash"])
            except InvalidDigest as exc:
                raise RootUnreadable(f"cannot read '{source}', so nothing was deleted: {exc}") from exc
            yield digest, "files" in node, source


def _mappings(data: Any) -> Iterator[dict[str, Any]]:
    if isinstance(data, dict):
        yield data
        for value in data.values():
            yield from _mappings(value)
    elif isinstance(data, list):
        for item in data:
            yield from _mappings(item)


def _staged_roots(root: Path) -> Iterator[tuple[Digest, bool, str]]:
    """Pointer files and lockfiles as staged in git's index (they may differ from the workspace)."""
    try:
        listing = subprocess.run(
            ["git", "ls-files", "--stage", "-z", "--", "*.mlx", LOCKFILE, f"*/{LOCKFILE}"],
            cwd=root, capture_output=True, check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        raise RootUnreadable(f"cannot list git's index, so nothing was deleted: {exc}") from exc
    staged = []
    for record in listing.split(b"\0"):
        if not record:
            continue
        info, _tab, path = record.partition(b"\t")
        staged.append((info.split()[1].decode(), path.decode("utf-8", "surrogateescape")))
    if not staged:
        return
    batch = subprocess.run(
        ["git", "cat-file", "--batch"], cwd=root, input="".join(f"{blob}\n" for blob, _ in staged).encode(),
        capture_output=True, check=False,
    )
    if batch.returncode != 0:
        raise RootUnreadable("cannot read git's index, so nothing was deleted")
    output = batch.stdout
    for _blob, path in staged:
        header, _nl, output = output.partition(b"\n")
        size = int(header.split()[2])
        content, output = output[:size], output[size + 1 :]
        source = f"{path} (staged)"
        if path.endswith(LOCKFILE):
            yield from _lockfile_roots(content, source)
            continue
        try:
            pointer = parse_pointer(load_yaml(content, source), RepoPath.parse(path))
        except MlxError as exc:
            raise RootUnreadable(f"cannot read '{source}', so nothing was deleted: {exc.message}") from exc
        yield pointer.digest, pointer.is_dir, source
