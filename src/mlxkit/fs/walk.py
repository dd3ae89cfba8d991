"""Walk a directory with os.scandir, honouring `.mlxignore` files (gitignore syntax, via pathspec).

`.mlxignore` at the repository root applies to every walk; one inside a walked directory applies to
what lies below it, as `.gitignore` does. `.git` and `.mlx` directories are never entered.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

IGNORE_FILE = ".mlxignore"
NEVER_ENTER = frozenset({".git", ".mlx"})


@dataclass(frozen=True, slots=True)
class WalkEntry:
    """A file or symbolic link found by a walk; `relpath` is relative to the walked directory."""

    relpath: str
    stat: os.stat_result

    @property
    def is_link(self) -> bool:
        return stat.S_ISLNK(self.stat.st_mode)


class IgnoreRules:
    """gitignore patterns, each set anchored at the directory that holds its `.mlxignore`."""

    def __init__(self) -> None:
        self._specs: list[tuple[str, object]] = []  # (anchor posix prefix, pathspec spec)

    @classmethod
    def for_walk(cls, repo_root: Path, top: str) -> IgnoreRules:
        """Rules from the repository's `.mlxignore` files on the way from the root down to `top`."""
        rules = cls()
        anchor = ""
        rules.load(repo_root, anchor)
        for part in [p for p in top.split("/") if p][:-1]:
            anchor = f"{anchor}{part}/"
            rules.load(repo_root / anchor, anchor)
        return rules

    def load(self, directory: Path, anchor: str) -> None:
        try:
            text = (directory / IGNORE_FILE).read_text(encoding="utf-8")
        except (FileNotFoundError, NotADirectoryError):
            return
        import pathspec

        self._specs.append((anchor, pathspec.GitIgnoreSpec.from_lines(text.splitlines())))

    def copy(self) -> IgnoreRules:
        new = IgnoreRules()
        new._specs = list(self._specs)
        return new

    def is_ignored(self, repo_relpath: str, is_dir: bool) -> bool:
        ignored = False
        for anchor, spec in self._specs:
            if not repo_relpath.startswith(anchor):
                continue
            tail = repo_relpath[len(anchor) :] + ("/" if is_dir else "")
            result = spec.check_file(tail)  # type: ignore[attr-defined]
            if result.include is not None:
                ignored = result.include
        return ignored

    def __bool__(self) -> bool:
        return bool(self._specs)


def walk(repo_root: Path, top: str, rules: IgnoreRules | None = None) -> Iterator[WalkEntry]:
    """Files and symbolic links below the repository path `top`, relative to `top`, unsorted.

    Directories are not reported (empty ones are not tracked: docs/formats.md); links are reported,
    never followed.
    """
    if rules is None:
        rules = IgnoreRules.for_walk(repo_root, top)
    yield from _walk(repo_root, top, "", rules)


def _walk(repo_root: Path, top: str, prefix: str, rules: IgnoreRules) -> Iterator[WalkEntry]:
    directory = repo_root / top / prefix if prefix else repo_root / top
    if prefix:
        nested = rules.copy()
        nested.load(directory, f"{top}/{prefix}")
        rules = nested
    elif (directory / IGNORE_FILE).exists():
        rules = rules.copy()
        rules.load(directory, f"{top}/")
    subdirs = []
    with os.scandir(directory) as it:
        for entry in it:
            name = entry.name
            rel = f"{prefix}{name}"
            is_dir = entry.is_dir(follow_symlinks=False)
            if rules and rules.is_ignored(f"{top}/{rel}", is_dir):
                continue
            if is_dir:
                if name not in NEVER_ENTER:
                    subdirs.append(rel)
                continue
            yield WalkEntry(rel, entry.stat(follow_symlinks=False))
    for rel in subdirs:
        yield from _walk(repo_root, top, f"{rel}/", rules)
