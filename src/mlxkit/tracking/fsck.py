"""mlx fsck: re-hash every cache object in parallel and check what the pointers name.

Problems: a corrupt object (bytes do not hash to the name; "truncated" when shorter than a pointer or
tree says), a missing object, a malformed tree. Leftover temp files are garbage, not errors.
`repair` moves bad objects to `cache/bad/` (git-annex's quarantine), so a later fetch replaces them,
and removes the garbage.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from mlxkit.errors import InvalidFileError, MlxError
from mlxkit.fs.atomic import is_temp_name
from mlxkit.progress import NULL_PROGRESS, Progress
from mlxkit.repo.repository import Repository
from mlxkit.store.digest import Digest
from mlxkit.store.hashing import hash_path
from mlxkit.tracking.pointer import find_pointer_files, read_pointer
from mlxkit.tracking.trees import load_tree


@dataclass(frozen=True)
class FsckProblem:
    kind: str  # "corrupt", "truncated", "missing", "invalid tree", "invalid pointer"
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


def fsck(repo: Repository, *, repair: bool = False, progress: Progress = NULL_PROGRESS) -> FsckResult:
    store = repo.store
    store.check_marker()
    expected = _expected_sizes(repo)
    objects = [(digest, path, os.lstat(path).st_size) for digest, path in store.iter_objects()]
    total = sum(size for _d, _p, size in objects)
    problems: list[FsckProblem] = []
    bad: list[tuple[Digest, Path]] = []
    progress.start("verifying objects", total=total, unit="bytes")
    try:
        with ThreadPoolExecutor(max_workers=repo.jobs) as pool:
            for (digest, path, size), ok in zip(objects, pool.map(_verify, objects)):
                progress.advance(size)
                if ok:
                    continue
                want = expected.get(digest.hex)
                kind = "truncated" if want is not None and size < want else "corrupt"
                problems.append(FsckProblem(kind, str(digest), str(path.relative_to(store.root)), f"{size} bytes"))
                bad.append((digest, path))
    finally:
        progress.finish()
    bad_names = {str(d) for d, _ in bad}
    problems += [p for p in _check_references(repo) if p.object not in bad_names]
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
    return FsckResult(len(objects), total, problems, garbage, repaired)


def _verify(item: tuple[Digest, Path, int]) -> bool:
    digest, path, _size = item
    try:
        return hash_path(path) == digest
    except OSError:
        return False


def _expected_sizes(repo: Repository) -> dict[str, int]:
    sizes: dict[str, int] = {}
    for pointer_file in find_pointer_files(repo.root):
        try:
            pointer = read_pointer(repo.root, pointer_file)
        except MlxError:
            continue
        if not pointer.is_dir:
            sizes[pointer.digest.hex] = pointer.size
            continue
        try:
            tree = load_tree(repo.store, pointer.digest, missing_ok=True)
        except MlxError:
            continue
        for entry in tree.entries if tree else ():
            sizes[entry.digest.hex] = entry.size
    return sizes


def _check_references(repo: Repository) -> list[FsckProblem]:
    store = repo.store
    problems = []
    for pointer_file in find_pointer_files(repo.root):
        try:
            pointer = read_pointer(repo.root, pointer_file)
        except MlxError as exc:
            problems.append(FsckProblem("invalid pointer", None, str(pointer_file), exc.message))
            continue
        if not store.has(pointer.digest):
            problems.append(FsckProblem("missing", str(pointer.digest), str(pointer_file)))
            continue
        if not pointer.is_dir:
            continue
        try:
            tree = load_tree(store, pointer.digest)
        except (InvalidFileError, MlxError) as exc:
            problems.append(FsckProblem("invalid tree", str(pointer.digest), str(pointer_file), exc.message))
            continue
        assert tree is not None
        for entry in tree.entries:
            if not store.has(entry.digest):
                problems.append(FsckProblem("missing", str(entry.digest), f"{pointer.target}/{entry.path}"))
    return problems
