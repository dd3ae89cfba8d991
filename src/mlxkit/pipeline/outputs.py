"""A stage's outputs and the cache: kept before a run, committed after it, restored instead of it.

- Before a stage runs, each of its outs that exists (and is not `persist`) is stored in the cache and
  then deleted, so that the command starts from nothing and no earlier content is ever lost.
- After it ran, every out is stored in the cache (metrics and plots too, so that the run cache can
  restore them) and cached outs are linked back as `cache.type` says and kept out of git.
- A stage whose outputs are known (its lockfile entry, or the run cache) is restored by a checkout.
  Outs with `cache: false` are kept in git, so they are always plain writable files, never links
  into the cache, whatever `cache.type` says.

Each function takes the runner's store-mode Scanner, whose counters the run reports.
"""

from __future__ import annotations

import os
import shutil
import stat

from mlxkit.errors import StageFailedError
from mlxkit.fs.atomic import current_umask
from mlxkit.fs.confine import RepoPath, check_no_symlinks
from mlxkit.fs.links import place
from mlxkit.pipeline.model import LockedPath, Out, Stage
from mlxkit.repo.repository import Repository
from mlxkit.pipeline.lockfile import read_lock
from mlxkit.pipeline.spec import load_pipeline
from mlxkit.progress import NULL_PROGRESS, Progress
from mlxkit.tracking.checkout import CheckoutResult, checkout_pointers
from mlxkit.tracking.gitignore import add_ignore
from mlxkit.tracking.pointer import Pointer
from mlxkit.tracking.trees import load_tree, missing_objects
from mlxkit.tracking.workspace import Scanner


def clear_outs(repo: Repository, stage: Stage, scanner: Scanner) -> None:
    """Store, then delete, what the stage's outs hold now; create the directories they go in."""
    scanner.has_written_objects = False
    doomed = []
    for out in stage.outs:
        check_no_symlinks(repo.root, out.path.posix)
        path = out.path.on_disk(repo.root)
        if not out.persist and os.path.lexists(path):
            scanner.snapshot(out.path)  # refuses (before anything is deleted) what cannot be stored
            doomed.append(path)
    if scanner.has_written_objects:  # what was already in the cache was made durable when written
        repo.make_objects_durable()
    for path in doomed:
        _delete(path)
    for out in stage.outs:
        out.path.on_disk(repo.root).parent.mkdir(parents=True, exist_ok=True)


def commit_outs(repo: Repository, stage: Stage, scanner: Scanner) -> tuple[LockedPath, ...]:
    """Store every out in the cache and return what the lockfile records; a missing out is an error."""
    scanner.has_written_objects = False
    committed = []
    for out in stage.outs:
        snapshot = scanner.snapshot(out.path)
        if snapshot.digest is None:
            problem = f": it holds {snapshot.problem}" if snapshot.problem else ""
            raise StageFailedError(
                f"stage '{stage.name}' did not produce its {_noun(out)} '{out.path}'{problem}",
                hint="the command must write every path listed in its outs, metrics and plots",
            )
        committed.append(LockedPath(out.path, snapshot.digest, snapshot.size, snapshot.files))
    if scanner.has_written_objects:  # files or trees: what was already in the cache is durable
        repo.make_objects_durable()
    link_back(repo, stage, tuple(committed))
    return tuple(committed)


def link_back(repo: Repository, stage: Stage, outs: tuple[LockedPath, ...]) -> None:
    """Replace cached outs by links to the cache when the link type is not a copy; keep them out of git."""
    cached = [o for o in outs if _declared(stage, o.path).cache]
    if repo.config.link_types[0] not in ("copy", "reflink"):
        checkout_pointers(repo, [_pointer(o) for o in cached], relink=True)
    if repo.is_git:
        for out in cached:
            add_ignore(repo.root, out.path)


def can_restore(repo: Repository, outs: tuple[LockedPath, ...]) -> bool:
    return all(not missing_objects(repo, _pointer(out)) for out in outs)


def restore_outs(repo: Repository, stage: Stage, outs: tuple[LockedPath, ...], scanner: Scanner) -> None:
    """Put the stage's known outputs in place from the cache."""
    clear_outs(repo, stage, scanner)
    checkout_pointers(repo, [_pointer(out) for out in outs])
    for out in outs:
        if not _declared(stage, out.path).cache:
            _unlink_from_cache(repo, out)
        elif repo.is_git:
            add_ignore(repo.root, out.path)


def checkout_recorded(
    repo: Repository, within: list[RepoPath], *, force: bool = False, progress: Progress = NULL_PROGRESS
) -> CheckoutResult | None:
    """Put the outputs that mlx.lock records (below `within`, or all) in place from the cache, as
    `mlx checkout` does for tracked paths: what `mlx pull` does after fetching. None without a
    pipeline. Outputs whose objects are not in the cache are left as they are (the result names them)."""
    pipeline = load_pipeline(repo.root)
    if pipeline is None:
        return None
    chosen = []
    for name, entry in read_lock(repo.root).stages.items():
        stage = pipeline.stages.get(name)
        declared = {out.path for out in stage.outs} if stage is not None else set()
        for out in entry.outs:
            if out.path in declared and (not within or any(out.path.is_within(path) for path in within)):
                chosen.append((stage, out))
    result = checkout_pointers(repo, [_pointer(out) for _, out in chosen], force=force, progress=progress)
    missing = set(result.missing)
    for stage, out in chosen:
        if out.path.posix in missing:
            continue
        if not _declared(stage, out.path).cache:
            _unlink_from_cache(repo, out)
        elif repo.is_git:
            add_ignore(repo.root, out.path)
    return result


def _unlink_from_cache(repo: Repository, out: LockedPath) -> None:
    """Replace the hard or symbolic links to the cache that a checkout made of `out` by copies.

    Executable files are never linked (checkout copies them), so the copies are not executable.
    """
    if out.files is None:
        files = [(out.path.posix, out.digest)]
    else:
        tree = load_tree(repo.store, out.digest)
        assert tree is not None  # checkout_pointers just placed it
        files = [(f"{out.path}/{entry.path}", entry.digest) for entry in tree.entries]
    mode = 0o666 & ~current_umask()
    for relpath, digest in files:
        info = os.lstat(repo.root / relpath)
        if stat.S_ISLNK(info.st_mode) or info.st_nlink > 1:
            place(repo.store.location(digest), repo.root / relpath, ("reflink", "copy"), mode=mode)


def _pointer(out: LockedPath) -> Pointer:
    return Pointer(out.path, out.digest, out.size, out.files)


def _declared(stage: Stage, path: RepoPath) -> Out:
    return next(out for out in stage.outs if out.path == path)


def _noun(out: Out) -> str:
    return {"out": "output", "metric": "metrics file", "plot": "plots file"}[out.kind]


def _delete(path: os.PathLike[str] | str) -> None:
    if stat.S_ISDIR(os.lstat(path).st_mode):
        shutil.rmtree(path)
    else:
        os.unlink(path)
