"""Keep tracked data out of git: `/name` lines in the `.gitignore` beside the tracked path."""

from __future__ import annotations

import re
from pathlib import Path

from mlxkit.errors import UnsafePathError
from mlxkit.fs.atomic import write_atomic
from mlxkit.fs.confine import RepoPath, check_no_symlinks

_SPECIAL = re.compile(r"([\\*?\[\]!# ])")


def ignore_line(name: str) -> str:
    """The .gitignore line that matches exactly `name` in its own directory."""
    if "\n" in name:
        # git reads .gitignore line by line: the rest of the name would become a pattern of its own.
        raise UnsafePathError(f"cannot keep {name!r} out of git: .gitignore cannot name a file with a line break")
    escaped = _SPECIAL.sub(r"\\\1", name)
    return f"/{escaped}"


def _lines(text: str) -> list[str]:
    """Lines as git splits them: on '\\n' only (str.splitlines also splits on '\\f', '\\x85', ...)."""
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return lines


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
    if line in _lines(text):
        return False
    if text and not text.endswith("\n"):
        text += "\n"
    write_atomic(path, (text + line + "\n").encode("utf-8"))
    return True


def remove_ignore(root: Path, target: RepoPath) -> bool:
    path, line = _gitignore_of(root, target)
    try:
        lines = _lines(path.read_text(encoding="utf-8"))
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
