"""Read a tracked file's bytes from the cache, by the pointer in the workspace or at a git revision.

A path may be a tracked file or a file inside a tracked directory.
"""

from __future__ import annotations

from typing import BinaryIO

from mlxkit.errors import MissingObjectError, UsageError
from mlxkit.formats.yamlio import load_yaml
from mlxkit.fs.confine import RepoPath
from mlxkit.repo.repository import Repository
from mlxkit.store.digest import Digest
from mlxkit.tracking.pointer import Pointer, parse_pointer, pointer_file_for, read_pointer
from mlxkit.tracking.trees import load_tree


def open_tracked(repo: Repository, path: RepoPath, rev: str | None = None) -> BinaryIO:
    digest = _locate(repo, path, rev)
    try:
        return open(repo.store.path(digest), "rb")  # noqa: SIM115 - the caller closes it
    except FileNotFoundError:
        raise MissingObjectError(f"'{path}' is not in the cache", hint="re-add it with 'mlx add' where you still have it") from None


def read_tracked(repo: Repository, path: RepoPath, rev: str | None = None) -> bytes:
    return repo.store.read_verified(_locate(repo, path, rev))


def _locate(repo: Repository, path: RepoPath, rev: str | None) -> Digest:
    parts = path.posix.split("/")
    for depth in range(len(parts), 0, -1):
        candidate = RepoPath("/".join(parts[:depth]))
        pointer = _pointer(repo, candidate, rev)
        if pointer is None:
            continue
        if depth == len(parts):
            if pointer.is_dir:
                raise UsageError(f"'{path}' is a directory", hint="open a file inside it")
            return pointer.digest
        if not pointer.is_dir:
            break
        inner = "/".join(parts[depth:])
        tree = load_tree(repo.store, pointer.digest)
        assert tree is not None
        for entry in tree.entries:
            if entry.path == inner:
                return entry.digest
        break
    where = f" at revision '{rev}'" if rev else ""
    raise UsageError(f"'{path}' is not tracked by mlx{where}")


def _pointer(repo: Repository, target: RepoPath, rev: str | None) -> Pointer | None:
    file = pointer_file_for(target)
    if rev is None:
        if not file.on_disk(repo.root).is_file():
            return None
        return read_pointer(repo.root, file)
    from mlxkit.gitrev import read_at

    git_root = repo.require_git("reading at a revision")
    prefix = repo.root.relative_to(git_root).as_posix()
    data = read_at(git_root, rev, f"{prefix}/{file}" if prefix != "." else file.posix)
    if data is None:
        return None
    return parse_pointer(load_yaml(data, f"{file}@{rev}"), file)

