"""What the workspace (and, for a history scope, git's history) references: the roots gc marks from
and push and fetch transfer. Fails closed: anything unreadable raises; but push, fetch, pull and
`status --cloud`, which delete nothing, pass `unlisted` to go on past a workspace directory mlx
cannot list, or a symbolic link to a directory that holds pointer files (tracking/targets.py's
skip_unlisted), as the other commands that read every pointer file do.

Roots: every pointer file in the workspace, every pointer file and mlx.lock staged in git's index,
the workspace's mlx.lock, and with a Scope the pointer files and mlx.lock of every commit in it. A directory's tree object is expanded to its files; a tree that is
missing from the cache makes the marking fail, because nobody could tell which objects it names.
The exception is a stage's dependency: mlx stores a dependency only when it is also a tracked path or
another stage's output (roots of their own), so its tree may never have been in the cache.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Collection, Iterator
from dataclasses import replace
from pathlib import Path
from typing import NamedTuple

from mlxkit.errors import MlxError, detail
from mlxkit.formats.yamlio import load_yaml
from mlxkit.fs.confine import RepoPath
# The lockfile's reader, not a second one that could accept what it refuses. It sits in pipeline/,
# above tracking, but it and pipeline/model.py import only from the layers below tracking.
from mlxkit.pipeline import LOCK_FILE
from mlxkit.pipeline.lockfile import parse_lock, read_lock
from mlxkit.pipeline.model import Lock
from mlxkit.repo.repository import Repository
from mlxkit.store.digest import Digest
from mlxkit.tracking.history import WORKSPACE, Scope, check_whole_history, history_blobs
from mlxkit.tracking.pointer import Unreadable, find_pointer_files, parse_pointer, read_pointer
from mlxkit.tracking.trees import load_tree

LOCKFILE = LOCK_FILE
_READD = "fetch it ('mlx fetch'), re-add the directory ('mlx add'), or stop tracking it ('mlx remove')"


class RootUnreadable(MlxError):
    """A root that cannot be read: `cannot read WHAT: PROBLEM`. gc says that it deleted nothing
    (`deleting_nothing`); push and fetch, which delete nothing anyway, do not."""

    exit_code = 12

    def __init__(self, what: str, problem: str | None = None, *, hint: str | None = None, consequence: str = "") -> None:
        self.what, self.problem = what, problem
        super().__init__(f"cannot read {what}{consequence}" + (f": {problem}" if problem else ""), hint=hint)

    def deleting_nothing(self) -> RootUnreadable:
        return RootUnreadable(self.what, self.problem, hint=self.hint, consequence=", so nothing was deleted")


class RootTreeMissing(MlxError):
    """A directory's tree that is not in the cache: gc cannot tell its files from garbage."""

    exit_code = 12


class Root(NamedTuple):
    digest: Digest
    is_dir: bool
    source: str  # the file that names it, for messages
    hint: str  # how to bring back its tree when the cache lacks it
    optional: bool = False  # a stage's dependency: its tree is in the cache only if a root put it there
    path: str = ""  # the tracked path or stage output it stands for (as written; checked by its reader)
    files: int = 0  # a directory's files, as its pointer or lockfile entry records them (for counts only)


def live_objects(repo: Repository, scope: Scope = WORKSPACE, *, action: str = "gc would delete from the cache") -> tuple[set[str], int]:
    """Hex digests of every object something in the workspace (and `scope`) references, and the
    number of roots. What gc keeps: in a git repository, every stash entry too, whatever the scope
    (a handful of commits; nobody expects `git stash` to lose data: docs/design.md), and with
    --all-branches the remote-tracking branches too (a fresh clone has one branch of its own). A clone that
    cannot see all of a scope that spans branches is refused (history.check_whole_history);
    `action` says what would happen, for that message."""
    if repo.git_root is not None:
        check_whole_history(repo.git_root, scope, action)
        scope = replace(scope, stash=True, remote_branches=True)
    live: set[str] = set()
    expanded: set[str] = set()  # trees whose files are in `live`
    roots = 0
    for root in _gc_roots(repo, scope):
        roots += 1
        live.add(root.digest.hex)
        if not root.is_dir or root.digest.hex in expanded:
            continue
        tree = load_tree(repo.store, root.digest, missing_ok=True)
        if tree is None:
            if root.optional:
                continue
            raise RootTreeMissing(
                f"the tree {root.digest.short} named by '{root.source}' is not in the cache, so its files cannot be "
                "told apart from garbage: nothing was deleted",
                hint=root.hint,
            )
        expanded.add(root.digest.hex)
        live.update(entry.digest.hex for entry in tree.entries)
    return live, roots


def _gc_roots(repo: Repository, scope: Scope) -> Iterator[Root]:
    """all_roots, for gc: an unreadable root says that nothing was deleted."""
    try:
        yield from all_roots(repo, scope)
    except RootUnreadable as exc:
        raise exc.deleting_nothing() from exc


def all_roots(
    repo: Repository, scope: Scope = WORKSPACE, *, unlisted: Callable[[Unreadable], None] | None = None,
    named: Collection[RepoPath] = (),
) -> Iterator[Root]:
    """`unlisted`: what to do with a workspace directory that cannot be listed, or a symbolic link to
    a directory that holds pointer files, instead of raising (find_pointer_files' `on_unreadable`),
    and `named`: pointer files read all the same when such a directory holds them (find_pointer_files'
    `named`); never given by gc."""
    yield from workspace_roots(repo, unlisted=unlisted, named=named)
    if not scope.is_workspace_only:
        git_root = repo.require_git(f"'{scope.describe()}'")
        yield from _blob_roots(repo.root, history_blobs(git_root, repo.root, scope))


def workspace_roots(
    repo: Repository, *, unlisted: Callable[[Unreadable], None] | None = None, named: Collection[RepoPath] = ()
) -> Iterator[Root]:
    for pointer_file in _pointer_files(repo.root, unlisted, named):
        try:
            pointer = read_pointer(repo.root, pointer_file)
        except MlxError as exc:
            raise _unreadable(str(pointer_file), exc) from exc
        yield Root(pointer.digest, pointer.is_dir, str(pointer_file), _READD, path=pointer.target.posix, files=pointer.files or 0)
    try:
        yield from read_lockfile_roots(repo.root)
    except MlxError as exc:
        raise _unreadable(LOCKFILE, exc) from exc
    if repo.is_git:
        yield from _staged_roots(repo.root)


def _pointer_files(root: Path, unlisted: Callable[[Unreadable], None] | None, named: Collection[RepoPath]) -> Iterator[RepoPath]:
    """find_pointer_files, looking behind symbolic links to directories. Without `unlisted`, fails
    closed on a link to a directory that holds pointer files (mlx acts on no path through a link:
    docs/design.md) and on a directory it cannot list."""
    try:
        yield from find_pointer_files(root, through_links=True, on_unreadable=unlisted, named=named)
    except Unreadable as exc:
        raise _unreadable(exc.path, exc) from exc


def _unreadable(source: str, exc: MlxError) -> RootUnreadable:
    return RootUnreadable(f"'{source}'", detail(exc), hint=exc.hint)


def lockfile_roots(data: bytes, source: str) -> Iterator[Root]:
    """The deps and outs of every stage in an mlx.lock, read by the pipeline's own reader: a lockfile
    `mlx repro` refuses (an unknown key, a newer format) is unreadable here too."""
    try:
        lock = parse_lock(data, source)
    except MlxError as exc:
        raise _unreadable(source, exc) from exc
    yield from _lock_roots(lock, source)


def read_lockfile_roots(root: Path) -> list[Root]:
    """The roots of the workspace's mlx.lock (none without one), read as `mlx repro` reads it (never
    through a symbolic link); raises what that reader raises, or Unreadable when it cannot be opened."""
    try:
        lock = read_lock(root)
    except OSError as exc:
        raise Unreadable(LOCKFILE, exc) from exc
    return list(_lock_roots(lock, LOCKFILE))


def _lock_roots(lock: Lock, source: str) -> Iterator[Root]:
    """Each stage's deps and outs. Only those: a param may well be a mapping with a key 'hash'."""
    for name, entry in lock.stages.items():
        hint = f"run the stage again: 'mlx run --force {name}'"
        for optional, paths in ((True, entry.deps), (False, entry.outs)):
            for locked in paths:
                yield Root(locked.digest, locked.files is not None, source, hint, optional, locked.path.posix, locked.files or 0)


def _staged_roots(root: Path) -> Iterator[Root]:
    """Pointer files and lockfiles as staged in git's index (they may differ from the workspace)."""
    try:
        listing = subprocess.run(
            ["git", "ls-files", "--stage", "-z", "--", "*.mlx", LOCKFILE, f"*/{LOCKFILE}"],
            cwd=root, capture_output=True, check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        raise RootUnreadable("git's index", str(exc)) from exc
    staged = []
    for record in listing.split(b"\0"):
        if not record:
            continue
        info, _tab, path = record.partition(b"\t")
        staged.append((info.split()[1].decode(), path.decode("utf-8", "surrogateescape"), f"{path.decode('utf-8', 'surrogateescape')} (staged)"))
    yield from _blob_roots(root, staged)


def _blob_roots(root: Path, blobs: list[tuple[str, str, str]]) -> Iterator[Root]:
    """Roots named by git blobs: (blob id, path in the repository, where it was found)."""
    if not blobs:
        return
    batch = subprocess.run(
        ["git", "cat-file", "--batch"], cwd=root, input="".join(f"{blob}\n" for blob, _, _ in blobs).encode(),
        capture_output=True, check=False,
    )
    if batch.returncode != 0:
        raise RootUnreadable("git's objects")
    output = batch.stdout
    for _blob, path, source in blobs:
        header, _nl, output = output.partition(b"\n")
        fields = header.split()
        if len(fields) != 3 or fields[1] != b"blob":
            raise RootUnreadable(f"'{source}' from git")
        size = int(fields[2])
        content, output = output[:size], output[size + 1 :]
        if path == LOCKFILE or path.endswith(f"/{LOCKFILE}"):
            yield from lockfile_roots(content, source)
            continue
        try:
            pointer = parse_pointer(load_yaml(content, source), RepoPath.parse(path))
        except MlxError as exc:
            raise RootUnreadable(f"'{source}'", detail(exc)) from exc
        yield Root(pointer.digest, pointer.is_dir, source, _READD, path=pointer.target.posix, files=pointer.files or 0)
