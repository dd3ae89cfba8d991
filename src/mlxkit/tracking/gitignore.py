"""Keep tracked data out of git: `/name` lines in the `.gitignore` beside the tracked path."""

from __future__ import annotations

import re
from pathlib import Path

from mlxkit.fs.atomic import write_atomic
from mlxkit.fs.confine import RepoPath, check_no_symlinks

_SPECIAL = re.compile(r"([\\*?\[\]!# ])")


def ignore_line(name: str) -> str:
    """The .gitignore line that matches exactly `name` in its own directory."""
    escaped = _SPECIAL.sub(r"\\\1", name)
    return f"/{escaped}"


def _gitignore_of(root: Path, target: RepoPath) -> tuple[Path, str]:
    parent = target.parent
    relative = f"{parent}/.gitignore" if parent else ".gitignore"
    check_no_symlinks(root, relative, include_last=True)
    return root / relative, ignore_line(target.name)


def add_ignore(root: Path, target: RepoPath) -> bool:
    """Add the line for `target`; returns whether the file changed."""
    path, line = _gitignore_of(root, target)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        text = ""
    if line in text.splitlines():
        return False
    if text and not text.endswith("\n"):
        text += "\n"
    write_atomic(path, (text + line + "\n").encode("utf-8"))
    return True


def remove_ignore(root: Path, target: RepoPath) -> bool:
    path, line = _gitignore_of(root, target)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return False
    kept = [existing for existing in lines if existing != line]
    if len(kept) == len(lines):
        return False
    if kept:
        write_atomic(path, ("\n".join(kept) + "\n").encode("utf-8"))
    else:
        path.unlink()
    return True
