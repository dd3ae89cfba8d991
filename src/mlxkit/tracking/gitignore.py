"""Keep tracked data out of git: `/name` lines in the `.gitignore` beside the tracked path."""

from __future__ import annotations

import re
from pathlib import Path

from mlxkit.errors import UnreadableError, UnsafePathError
from mlxkit.fs.atomic import write_atomic
from mlxkit.fs.confine import RepoPath, check_no_symlinks

_SPECIAL = re.compile(r"([\\*?\[\]!# ])")


def ignore_line(name: str) -> str:
    """The .gitignore line that matches exactly `name` in its own directory."""
    if "\n" in name:
        # git reads .gitignore line by line: the rest of the name would become a pattern of its own.
        raise UnsafePathError(f"cannot keep {name!r} out of git: .gitignore cannot name a file with a line break")
    if name.endswith("\r"):
        # git drops a '\r' at the end of each line (CRLF files): the line would name another file.
        raise UnsafePathError(f"cannot keep {name!r} out of git: .gitignore cannot name a file that ends in a carriage return")
    escaped = _SPECIAL.sub(r"\\\1", name)
    return f"/{escaped}"


def _lines(data: bytes) -> list[bytes]:
    """Lines as git splits them: on '\\n' only, each keeping a '\\r' before it (git drops that when it
    reads the line; mlx keeps the user's line endings when it writes the file back)."""
    lines = data.split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    return lines


def _newline(data: bytes) -> bytes:
    """The file's line ending: CRLF when its first line ends so, else LF."""
    first = data.split(b"\n", 1)
    return b"\r\n" if len(first) == 2 and first[0].endswith(b"\r") else b"\n"


def _gitignore_of(root: Path, target: RepoPath) -> tuple[Path, bytes]:
    parent = target.parent
    relative = f"{parent}/.gitignore" if parent else ".gitignore"
    check_no_symlinks(root, relative, include_last=True)
    return root / relative, ignore_line(target.name).encode("utf-8", "surrogateescape")


def check_gitignore(root: Path, target: RepoPath) -> None:
    """Refuse, before `mlx add` writes anything, what add_ignore would fail on later: a name the
    .gitignore cannot hold, or a .gitignore mlx cannot read."""
    _read(root, _gitignore_of(root, target)[0])


def _read(root: Path, path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return b""
    except OSError as exc:
        raise UnreadableError(str(path.relative_to(root)), exc, hint="make it a readable file") from None


def add_ignore(root: Path, target: RepoPath) -> bool:
    """Add the line for `target`; returns whether the file changed."""
    path, line = _gitignore_of(root, target)
    data = _read(root, path)
    lines = _lines(data)
    if any(existing.removesuffix(b"\r") == line for existing in lines):
        return False
    newline = _newline(data)
    if data and not data.endswith(b"\n"):
        data += newline
    write_atomic(path, data + line + newline)
    return True


def remove_ignore(root: Path, target: RepoPath) -> bool:
    path, line = _gitignore_of(root, target)
    data = _read(root, path)
    if not data:
        return False
    lines = _lines(data)
    kept = [existing for existing in lines if existing.removesuffix(b"\r") != line]
    if len(kept) == len(lines):
        return False
    if kept:
        write_atomic(path, b"\n".join(kept) + b"\n")
    else:
        path.unlink()
    return True
