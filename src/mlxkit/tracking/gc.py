"""mlx gc: delete cache objects that nothing in the workspace (and, with a scope, in that part of
git's history) references.

It marks from every root first (tracking/roots.py) and deletes nothing if any root is unreadable;
it sweeps only names that parse as objects, in a store that carries mlx's marker, under the lock.
Projects that share the cache (`cache.dir`) are marked from too when named (`--projects`), each
under its own lock.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from mlxkit.cyclegc import collector_paused
from mlxkit.errors import MlxError
from mlxkit.progress import NULL_PROGRESS, Progress
from mlxkit.repo.repository import Repository
from mlxkit.tracking.history import WORKSPACE, Scope
from mlxkit.tracking.roots import live_objects


@dataclass(frozen=True)
class GcResult:
    dry_run: bool
    roots: int
    kept_objects: int
    kept_bytes: int
    removed_objects: int
    removed_bytes: int
    removed: list[str] = field(default_factory=list)  # digests, listed with --dry-run
    warnings: list[str] = field(default_factory=list)


@collector_paused()
def gc(
    repo: Repository, *, dry_run: bool = False, scope: Scope = WORKSPACE, progress: Progress = NULL_PROGRESS,
    sharing: Sequence[Repository] = (),
) -> GcResult:
    """`sharing`: other projects whose cache is this one (the caller holds their locks); their
    workspaces and the same part of their history (named revisions aside, which are this
    project's) are roots too."""
    store = repo.store
    store.check_marker()
    live, roots = live_objects(repo, scope)
    for other in sharing:
        try:
            more, count = live_objects(other, replace(scope, revs=()))
        except MlxError as exc:  # fails closed like this project's roots, saying whose root it was
            exc.message = f"in the project '{other.root}': {exc.message}"
            exc.args = (exc.message,)
            raise
        live |= more
        roots += count
    warnings = []
    if repo.config.get("cache.dir") is not None and not sharing:
        warnings.append(
            f"the cache is at '{repo.cache_dir}' (cache.dir): gc keeps only what this project references; "
            "if other projects share that cache, name them with --projects"
        )
    kept = kept_bytes = removed_bytes = 0
    removed = []
    progress.start("collecting garbage", unit="objects")
    try:
        for digest, path in store.iter_objects():
            size = os.lstat(path).st_size
            if digest.hex in live:
                kept += 1
                kept_bytes += size
            else:
                removed.append(str(digest))
                removed_bytes += size
                if not dry_run:
                    os.unlink(path)
            progress.advance()
    finally:
        progress.finish()
    if removed and not dry_run:
        repo.state.forget_objects()
    return GcResult(dry_run, roots, kept, kept_bytes, len(removed), removed_bytes, removed if dry_run else [], warnings)
