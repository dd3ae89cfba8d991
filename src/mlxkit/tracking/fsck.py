"""mlx fsck: re-hash every cache object in parallel and check what the pointers and the outputs in
mlx.lock name.

Problems: a corrupt object (bytes do not hash to the name; "truncated" when shorter than a pointer or
tree says), a missing object, a malformed tree. Leftover temp files are garbage, not errors.
`repair` moves bad objects to `cache/bad/` (git-annex's quarantine), so a later fetch replaces them,
and removes the garbage.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from contextlib import closing
from dataclasses import dataclass, field

from mlxkit.cyclegc import collector_paused
from mlxkit.errors import MlxError, detail
from mlxkit.fs.atomic import is_temp_name
from mlxkit.parallel import map_chunks
from mlxkit.progress import NULL_PROGRESS, Progress
from mlxkit.repo.repository import Repository
from mlxkit.store.digest import Digest
from mlxkit.store.hashing import hash_paths
from mlxkit.tracking.pointer import read_pointer
from mlxkit.tracking.roots import LOCKFILE, read_lockfile_roots
from mlxkit.tracking.targets import every_pointer_file
from mlxkit.tracking.trees import load_tree


@dataclass(frozen=True)
class FsckProblem:
    kind: str  # "corrupt", "truncated", "missing", "invalid tree", "invalid pointer", "invalid lockfile"
    object: str | None
    where: str
    detail: str = ""


@dataclass(frozen=True)
class FsckResult:
    objects_checked: int
    bytes_checked: int
    problems: list[FsckProblem]
    garbage: list[str]
    repaired: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # directories left out of the look for pointer files

    @property
    def is_clean(self) -> bool:
        return not self.problems

    @property
    def remaining(self) -> list[FsckProblem]:
        """Problems that --repair did not take care of (all of them without --repair)."""
        return [p for p in self.problems if p.object not in self.repaired]

    @property
    def has_corruption(self) -> bool:
        return any(p.kind in ("corrupt", "truncated", "invalid tree") for p in self.remaining)


@collector_paused()
def fsck(repo: Repository, *, repair: bool = False, progress: Progress = NULL_PROGRESS) -> FsckResult:
    store = repo.store
    store.check_marker()
    objects = [(digest, path, os.lstat(path).st_size) for digest, path in store.iter_objects()]
    expected, reference_problems = _references(repo, {digest.hex for digest, _p, _s in objects})
    total = sum(size for _d, _p, size in objects)
    problems: list[FsckProblem] = []
    bad: list[tuple[Digest, str]] = []
    progress.start("verifying objects", total=total, unit="bytes")
    try:
        verdicts = (ok for chunk in map_chunks(_verify, objects, jobs=repo.jobs, chunk=500) for ok in chunk)
        for (digest, path, size), ok in zip(objects, verdicts, strict=True):
            progress.advance(size)
            if ok:
                continue
            want = expected.get(digest.hex)
            kind = "truncated" if want is not None and size < want else "corrupt"
            problems.append(FsckProblem(kind, str(digest), os.path.relpath(path, store.root), f"{size} bytes"))
            bad.append((digest, path))
    finally:
        progress.finish()
    bad_names = {str(d) for d, _ in bad}
    problems += [p for p in reference_problems if p.object not in bad_names]
    garbage = [str(p.relative_to(store.root)) for p in store.iter_strays() if is_temp_name(p.name)]
    repaired = []
    if repair:
        quarantine = store.root / "bad"
        quarantine.mkdir(exist_ok=True)
        for digest, path in bad:
            os.replace(path, quarantine / digest.hex)
            repaired.append(str(digest))
        for name in garbage:
            os.unlink(store.root / name)
        if bad:
            repo.state.forget_objects()
    return FsckResult(len(objects), total, problems, garbage, repaired, list(repo.warnings))


def _verify(chunk: Sequence[tuple[Digest, str, int]]) -> list[bool]:
    """Whether each object hashes to its name (in worker processes for large caches)."""
    with closing(hash_paths([path for _d, path, _s in chunk], [size for _d, _p, size in chunk])) as hashed:
        return [found == digest for (digest, _p, _s), found in zip(chunk, hashed)]  # unreadable: not intact


def _references(repo: Repository, present: set[str]) -> tuple[dict[str, int], list[FsckProblem]]:
    """What the pointers and the stage outputs in mlx.lock name: the size each object should have,
    and what is missing or malformed. `present` holds the hex digests found in the cache (one listing
    instead of a stat each). A stage's deps are not checked: mlx stores a dependency only when it is
    also tracked or another stage's output."""
    sizes: dict[str, int] = {}
    problems = []
    named: list[tuple[Digest, int | None, int | None, str, str]] = []  # digest, files, size (if known), target, where
    for pointer_file in every_pointer_file(repo):
        try:
            pointer = read_pointer(repo.root, pointer_file)
        except MlxError as exc:
            problems.append(FsckProblem("invalid pointer", None, str(pointer_file), detail(exc)))
            continue
        named.append((pointer.digest, pointer.files, pointer.size, str(pointer.target), str(pointer_file)))
    try:
        outputs = [root for root in read_lockfile_roots(repo.root) if not root.optional]
    except MlxError as exc:
        problems.append(FsckProblem("invalid lockfile", None, LOCKFILE, detail(exc)))
        outputs = []
    by_pointer = {digest.hex for digest, *_rest in named}
    named += [
        (root.digest, root.files if root.is_dir else None, None, root.path, f"{root.path} ({LOCKFILE})")
        for root in outputs if root.digest.hex not in by_pointer
    ]
    for digest, files, size, target, where in named:
        if digest.hex not in present:
            problems.append(FsckProblem("missing", str(digest), where))
            continue
        if files is None:
            if size is not None:  # a lockfile does not record its outputs' sizes
                sizes[digest.hex] = size
            continue
        try:
            tree = load_tree(repo.store, digest)
        except MlxError as exc:
            problems.append(FsckProblem("invalid tree", str(digest), where, exc.message))
            continue
        assert tree is not None
        for entry in tree.entries:
            sizes[entry.digest.hex] = entry.size
            if entry.digest.hex not in present:
                problems.append(FsckProblem("missing", str(entry.digest), f"{target}/{entry.path}"))
    return sizes, problems
