"""Merging mlx.lock per stage: what git's merge driver `mlx merge-driver %O %A %B %P` does.

mlx.lock holds one entry per stage, and an entry is a whole: a stage's outs go with its deps, so
mixing lines of two runs of one stage would pin a result nothing produced. git's line merge can do
exactly that (or conflict on two stages added at the same place), so the driver merges stage by
stage, as a 3-way merge of entries:

    base     ours      theirs    result
    X        X         Y         Y          only theirs changed (Y absent: deleted)
    X        Y         X         Y          only ours changed
    any      Y         Y         Y          both made the same change (or both deleted)
    X        Y         Z         conflict   both changed the stage differently
    X        absent    Y         conflict   deleted on one side, changed on the other
    absent   Y         Z         conflict   added differently on both sides

Entries are compared by their text in mlx.lock, which tells `1`, `1.0` and `true` apart where
Python's `==` would not. The result is written with dump_lock, so it is the file `mlx run` would
write. A conflicting stage is written as ours and theirs between git's conflict markers, and
everything else merged, so the user sees only what needs a decision; reading mlx.lock refuses the
markers with a hint until it is resolved. A text that is not a lockfile (not even the base; an
empty file counts as no stages) is not merged at all: the driver reports a conflict and leaves
ours as it was, for the user to resolve by hand.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from mlxkit.errors import MlxError
from mlxkit.fs.atomic import write_atomic
from mlxkit.pipeline.lockfile import LOCK_FORMAT, dump_lock, parse_lock
from mlxkit.pipeline import LOCK_FILE
from mlxkit.pipeline.model import Lock, LockEntry

MARKER_SIZE = 7  # git's default conflict-marker-size
_HEADER = f"format: {LOCK_FORMAT}\nstages:\n"  # what dump_lock writes above the stages' blocks


@dataclass(frozen=True)
class LockMerge:
    """The merged text of mlx.lock; `conflicts` names the stages left between conflict markers."""

    text: str
    conflicts: tuple[str, ...] = ()

    @property
    def is_clean(self) -> bool:
        return not self.conflicts


@dataclass(frozen=True)
class MergeDriverResult:
    """What the merge driver did to `ours`: `problem` says why nothing was merged (ours untouched)."""

    path: str
    conflicts: tuple[str, ...] = ()
    problem: str | None = None

    @property
    def is_clean(self) -> bool:
        return not self.conflicts and self.problem is None


def merge_locks(base: str | bytes, ours: str | bytes, theirs: str | bytes, *, source: str = LOCK_FILE) -> LockMerge:
    """The 3-way merge of three texts of mlx.lock, stage by stage (the table above).

    Raises what parse_lock raises (an MlxError) when a text is not a lockfile."""
    sides = [_stages(text, f"{source} ({side})") for text, side in ((base, "base"), (ours, "ours"), (theirs, "theirs"))]
    old, mine, other = sides
    merged: dict[str, str] = {}
    conflicts: list[str] = []
    for name in sorted(set(old) | set(mine) | set(other)):
        before, left, right = old.get(name), mine.get(name), other.get(name)
        if left == right or right == before:
            chosen = left
        elif left == before:
            chosen = right
        else:
            conflicts.append(name)
            chosen = _conflict_block(left, right)
        if chosen is not None:
            merged[name] = chosen
    if not merged:
        return LockMerge(dump_lock(Lock({})))
    return LockMerge(_HEADER + "\n".join(merged[name] for name in sorted(merged)), tuple(conflicts))


def merge_lock_files(base: Path, ours: Path, theirs: Path, *, name: str = LOCK_FILE) -> MergeDriverResult:
    """git's merge driver contract: merge into `ours` (%A) in place; the caller exits non-zero unless clean.

    A side that is not a lockfile leaves `ours` byte for byte as git gave it, with the reason."""
    try:
        texts = [path.read_bytes() for path in (base, ours, theirs)]
        merged = merge_locks(*texts, source=name)
    except (MlxError, OSError) as exc:
        return MergeDriverResult(name, problem=exc.message if isinstance(exc, MlxError) else str(exc))
    mode = os.stat(ours).st_mode & 0o7777
    write_atomic(ours, merged.text.encode("utf-8"), mode=mode, durable=False)  # git's own temporary file
    return MergeDriverResult(name, merged.conflicts)


def _stages(text: str | bytes, source: str) -> dict[str, str]:
    """Stage name -> its block of text as dump_lock writes it; an empty text is a lockfile with no stages."""
    if not (text.strip() if isinstance(text, str) else text.strip()):
        return {}
    lock = parse_lock(text, source)
    return {name: _block(name, entry) for name, entry in lock.stages.items()}


def _block(name: str, entry: LockEntry) -> str:
    return dump_lock(Lock({name: entry})).removeprefix(_HEADER)


def _conflict_block(ours: str | None, theirs: str | None) -> str:
    """Both versions of one stage between git's markers (a deleted side is an empty section)."""
    return (
        f"{'<' * MARKER_SIZE} ours\n{ours or ''}{'=' * MARKER_SIZE}\n{theirs or ''}{'>' * MARKER_SIZE} theirs\n"
    )
