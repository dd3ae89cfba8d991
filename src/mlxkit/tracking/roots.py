"""What the workspace references: the roots gc marks from. Fails closed: anything unreadable raises.

Roots: every pointer file in the workspace, every pointer file and mlx.lock staged in git's index,
and the workspace's mlx.lock. A directory's tree object is expanded to its files; a tree that is
missing from the cache makes the marking fail, because nobody could tell which objects it names.
The exception is a stage's dependency: mlx stores a dependency only when it is also a tracked path or
another stage's output (roots of their own), so its tree may never have been in the cache.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

from mlxkit.errors import MlxError
from mlxkit.formats.yamlio import load_yaml
from mlxkit.fs.confine import RepoPath
from mlxkit.repo.repository import Repository
from mlxkit.store.digest import Digest, InvalidDigest
from mlxkit.tracking.pointer import find_pointer_files, parse_pointer, read_pointer
from mlxkit.tracking.trees import load_tree

LOCKFILE = "mlx.lock"
# The mlx.lock format whose shape _lockfile_roots knows (pipeline/lockfile.py's LOCK_FORMAT; tracking
# sits below pipeline, so it cannot call that module's reader). Any other fails closed.
LOCK_FORMAT = 1
_READD = "re-add the directory with 'mlx add', or stop tracking it with 'mlx remove'"


class RootUnreadable(MlxError):
    exit_code = 12


class _Root(NamedTuple):
    digest: Digest
    is_dir: bool
    source: str  # the file that names it, for messages
    hint: str  # how to bring back its tree when the cache lacks it
    optional: bool = False  # a stage's dependency: its tree is in the cache only if a root put it there


def live_objects(repo: Repository) -> tuple[set[str], int]:
    """Hex digests of every object something in the workspace references, and the number of roots."""
    live: set[str] = set()
    expanded: set[str] = set()  # trees whose files are in `live`
    roots = 0
    for root in _roots(repo):
        roots += 1
        live.add(root.digest.hex)
        if not root.is_dir or root.digest.hex in expanded:
            continue
        tree = load_tree(repo.store, root.digest, missing_ok=True)
        if tree is None:
            if root.optional:
                continue
            raise RootUnreadable(
                f"the tree {root.digest.short} named by '{root.source}' is not in the cache, so its files cannot be "
                "told apart from garbage: nothing was deleted",
                hint=root.hint,
            )
        expanded.add(root.digest.hex)
        live.update(entry.digest.hex for entry in tree.entries)
    return live, roots


def _roots(repo: Repository) -> Iterator[_Root]:
    for pointer_file in find_pointer_files(repo.root):
        try:
            pointer = read_pointer(repo.root, pointer_file)
        except MlxError as exc:
            raise RootUnreadable(f"cannot read '{pointer_file}', so nothing was deleted: {exc.message}", hint=exc.hint) from exc
        yield _Root(pointer.digest, pointer.is_dir, str(pointer_file), _READD)
    lock = repo.root / LOCKFILE
    if lock.is_file():
        yield from _lockfile_roots(lock.read_bytes(), LOCKFILE)
    if repo.is_git:
        yield from _staged_roots(repo.root)


def _lockfile_roots(data: bytes, source: str) -> Iterator[_Root]:
    """The deps and outs of every stage in an mlx.lock (`stages: {name: {deps: [...], outs: [...]}}`,
    each path with its `hash`, and `files` for a directory: docs/formats.md). Only those: a param
    may well be a mapping with a key 'hash'."""

    def unreadable(problem: str, hint: str | None = None) -> RootUnreadable:
        return RootUnreadable(f"cannot read '{source}', so nothing was deleted: {problem}", hint=hint)

    try:
        document = load_yaml(data, source).data
    except MlxError as exc:
        raise unreadable(exc.message) from exc
    version = document.get("format") if isinstance(document, dict) else None
    if type(version) is int and version > LOCK_FORMAT:
        raise unreadable(f"it uses format {version}, this mlx reads {LOCK_FORMAT}", hint="upgrade mlx")
    if type(version) is not int or version != LOCK_FORMAT:
        raise unreadable(f"its 'format' is not {LOCK_FORMAT}")
    stages = document.get("stages")
    if not isinstance(stages, dict):
        raise unreadable("'stages' is not a mapping")
    for name, entry in stages.items():
        for section in ("deps", "outs"):
            paths = entry.get(section, []) if isinstance(entry, dict) else None
            if not isinstance(paths, list) or not all(isinstance(item, dict) for item in paths):
                raise unreadable(f"'{section}' of stage '{name}' is not a list of paths")
            for item in paths:
                try:
                    digest = Digest.parse(item.get("hash"))
                except InvalidDigest as exc:
                    raise unreadable(f"stage '{name}': {exc}") from exc
                hint = f"run the stage again: 'mlx run --force {name}'"
                yield _Root(digest, "files" in item, source, hint, optional=section == "deps")


def _staged_roots(root: Path) -> Iterator[_Root]:
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
        yield _Root(pointer.digest, pointer.is_dir, source, _READD)
