"""Walk a directory with os.scandir, honouring `.mlxignore` files (gitignore syntax, via pathspec).

`.mlxignore` at the repository root applies to every walk; one inside a walked directory applies to
what lies below it, as `.gitignore` does. `.git` and `.mlx` directories are never entered.
"""

from __future__ import annotations

import os
import stat
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


def walk(repo_root: Path, top: str, rules: IgnoreRules | None = None) -> list[WalkEntry]:
    """Files and symbolic links below the repository path `top`, relative to `top`, unsorted.

    Directories are not reported (empty ones are not tracked: docs/formats.md); links are reported,
    never followed. Iterative, and one stat per file (DirEntry caches it).
    """
    if rules is None:
        rules = IgnoreRules.for_walk(repo_root, top)
    found: list[WalkEntry] = []
    stack: list[tuple[str, IgnoreRules]] = [("", rules)]
    base = f"{repo_root / top}{os.sep}"
    while stack:
        prefix, rules = stack.pop()
        directory = base + prefix
        if os.path.exists(directory + IGNORE_FILE):
            rules = rules.copy()
            rules.load(Path(directory), f"{top}/{prefix}")
        with os.scandir(directory) as it:
            for entry in it:
                name = entry.name
                is_dir = entry.is_dir(follow_symlinks=False)
                if rules and rules.is_ignored(f"{top}/{prefix}{name}", is_dir):
                    continue
                if is_dir:
                    if name not in NEVER_ENTER:
                        stack.append((f"{prefix}{name}/", rules))
                else:
                    found.append(WalkEntry(f"{prefix}{name}", entry.stat(follow_symlinks=False)))
    return found
