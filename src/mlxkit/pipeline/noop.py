"""A memo of the last `mlx repro` that found nothing to do: the stat of everything its decision read.

A no-op `mlx repro` is what CI runs on every push. Deciding it costs stats, not hashes, but the
imports behind the decision (YAML, the schemas, the pipeline model, pathlib) cost several times
more than the stats. So when `mlx repro` finds every stage up to date (cli/fastpath.py), it records
in `.mlx/tmp/noop-repro` the lstat of every path the decision read, present or absent, and the
digests of the environment variables the stages declare. The next `mlx repro` whose lstats and
digests all match answers from the memo with `os`, `marshal` and `fcntl` alone; on any difference,
or any doubt, the decision is made again in full. This is git's index trick, applied to a decision.

What the decision reads, and so what is recorded:
- mlx.yaml, mlx.lock, `.mlx/config.yaml`, `.mlx/config.local.yaml`, the root `.mlxignore`;
- the params files the `${}` context was read from, and mlx.yaml's top-level `params:` files;
- for each stage: its params files; each dep and out, and everything inside the directory ones
  (directories too: adding or removing an entry changes a directory's mtime); the pointer file of
  each dep and out, and of each directory above an out (a tracked ancestor would own it);
- every directory between the root and a recorded path (replaced by a link, it would point the
  path elsewhere), with the `.mlxignore` it may hold.

A stat is (mode, inode, device, size, mtime, ctime). ctime is set by the kernel on every change and
no tool can set it back, so the memo is sound if, when it is written, every recorded path was last
changed before the decision started by more than the stat cache's racy window (store/state.py): a
change made while the decision read would carry a later ctime. When one was not, no memo is written.
A memo is also not written for a tree of more than MAX_ENTRIES paths, where statting every path
from one process is no quicker than the decision's own scan in workers.
"""

from __future__ import annotations

import fcntl
import marshal
import os

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (as the type checkers allow)
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from typing import Any

    from mlxkit.pipeline.graph import Graph
    from mlxkit.repo.repository import Repository

MEMO = os.path.join(".mlx", "tmp", "noop-repro")
FORMAT = 1
MAX_ENTRIES = 20_000
_FIXED = ("mlx.yaml", "mlx.lock", ".mlx/config.yaml", ".mlx/config.local.yaml", ".mlxignore")
_NEVER_ENTER = frozenset({".git", ".mlx"})  # as fs/walk.py: recorded, not entered

Stat = tuple[int, int, int, int, int, int]


def answer(start: str) -> str | None:
    """The line a no-op `mlx repro` prints, when the memo of the repository at or above `start`
    still holds; None when the decision must be made."""
    from mlxkit import __version__
    from mlxkit.repo.root import find_root

    root = find_root(start)
    if root is None:
        return None
    try:
        with open(os.path.join(root, MEMO), "rb") as file:
            memo = marshal.load(file)
        lock = os.open(os.path.join(root, ".mlx", "tmp", "lock"), os.O_RDONLY | os.O_CLOEXEC)
    except (OSError, EOFError, ValueError, TypeError):
        return None
    try:
        fcntl.flock(lock, fcntl.LOCK_SH | fcntl.LOCK_NB)  # a writer at work: `repro` says it is locked
        if memo.get("format") != FORMAT or memo.get("version") != __version__:
            return None
        if memo["env"] and memo["env"] != _env_digests(memo["env"], os.environ):
            return None
        for relpath, recorded in memo["paths"].items():
            if _stat(os.path.join(root, relpath)) != recorded:
                return None
        return memo["line"]
    except (OSError, AttributeError, KeyError, TypeError, ValueError):
        return None
    finally:
        os.close(lock)


def record(repo: Repository, graph: Graph, environ: Mapping[str, str], started_ns: int, line: str) -> bool:
    """After a decision that began at `started_ns` found nothing to do (and had nothing to warn
    about): write the memo, or remove a stale one when the paths changed too recently to vouch for
    it. Whether a memo was written."""
    from mlxkit import __version__
    from mlxkit.fs.atomic import write_atomic
    from mlxkit.store.state import racy_window_ns

    root = str(repo.root)
    paths = _paths_read(root, graph)
    stats = {relpath: _stat(os.path.join(root, relpath)) for relpath in sorted(paths)} if paths is not None else None
    settled = stats is not None and all(
        st is None or max(st[4], st[5]) + racy_window_ns(st[4]) < started_ns for st in stats.values()
    )
    memo_path = repo.root / MEMO
    if not settled:
        memo_path.unlink(missing_ok=True)
        return False
    names = sorted({name for stage in graph.stages.values() for name in stage.env})
    memo = {"format": FORMAT, "version": __version__, "line": line, "paths": stats,
            "env": _env_digests(dict.fromkeys(names), environ)}  # fmt: skip
    write_atomic(memo_path, marshal.dumps(memo), durable=False)  # a lost memo costs one full decision
    return True


def _stat(path: str) -> Stat | None:
    try:
        st = os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    return (st.st_mode, st.st_ino, st.st_dev, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _env_digests(names: Mapping[str, Any], environ: Mapping[str, str]) -> dict[str, str | None]:
    """Each name's value as a digest (the memo, like the lockfile, holds no secret)."""
    from blake3 import blake3

    return {name: None if name not in environ else blake3(environ[name].encode("utf-8", "surrogateescape")).hexdigest()
            for name in names}  # fmt: skip


def _paths_read(root: str, graph: Graph) -> set[str] | None:
    """Every path (relative, with '/') that deciding `graph` reads; None when there are too many."""
    from mlxkit.tracking.pointer import pointer_file_for

    pipeline = graph.pipeline
    paths = set(_FIXED)
    paths.update(file.posix for file in (*pipeline.context_files, *pipeline.params))
    for stage in graph.stages.values():
        paths.update(ref.file.posix for ref in stage.params)
        for path in (*stage.deps, *(out.path for out in stage.outs)):
            paths.add(pointer_file_for(path).posix)
            if not _add_tree(root, path.posix, paths):
                return None
        for out in stage.outs:
            parts = out.path.posix.split("/")
            paths.update(f"{'/'.join(parts[:depth])}.mlx" for depth in range(1, len(parts)))
    paths.update(_ancestors(paths))
    return paths


def _add_tree(root: str, relpath: str, paths: set[str]) -> bool:
    """Add `relpath` and, for a directory, everything below it (links are not followed)."""
    paths.add(relpath)
    pending = [relpath]
    while pending:
        directory = pending.pop()
        try:
            entries = list(os.scandir(os.path.join(root, directory)))
        except (FileNotFoundError, NotADirectoryError):
            continue
        for entry in entries:
            child = f"{directory}/{entry.name}"
            paths.add(child)
            if entry.is_dir(follow_symlinks=False) and entry.name not in _NEVER_ENTER:
                pending.append(child)
        if len(paths) > MAX_ENTRIES:
            return False
    return True


def _ancestors(paths: Iterable[str]) -> set[str]:
    """The directories between the root and each path, and the `.mlxignore` each may hold (not
    `.mlx/`, which changes with every command, and whose configuration files are recorded)."""
    found = set()
    for relpath in paths:
        parts = relpath.split("/")
        if parts[0] == ".mlx":
            continue
        for depth in range(1, len(parts)):
            directory = "/".join(parts[:depth])
            found.update((directory, f"{directory}/.mlxignore"))
    return found
