"""Paths inside the repository: parsed once, then trusted (restic's ParseID, for paths).

A RepoPath exists only if its text passed the lexical rules of RELIABILITY.md (relative, `/`-separated,
no `..`, no `.git` or `.mlx` component in any spelling a file system may alias). The physical rule
(no symbolic link on the way) is checked by `check_no_symlinks` right before any write.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

from mlxkit.errors import UnsafePathError

RESERVED = frozenset({".git", ".mlx", "git~1", "mlx~1"})
# Code points HFS+ ignores when comparing names (git's is_hfs_dotgit list).
_HFS_IGNORABLE = dict.fromkeys(
    [0x200C, 0x200D, 0x200E, 0x200F, 0x202A, 0x202B, 0x202C, 0x202D, 0x202E]
    + list(range(0x206A, 0x2070))
    + [0xFEFF]
)
# Components of plain ASCII that do not start with '.', '~' or a space: none can be reserved,
# empty, '.', '..', absolute, a drive or an alias of .git; the full rules decide everything else.
_PLAINLY_SAFE = re.compile(r"[A-Za-z0-9_+=,@%-][A-Za-z0-9._+=,@% -]*(?:/[A-Za-z0-9_+=,@%-][A-Za-z0-9._+=,@% -]*)*")
_DRIVE = re.compile(r"^[A-Za-z]:")
_SURROGATE = re.compile("[\ud800-\udfff]")  # a name that was not UTF-8 on disk (os.fsdecode)


def _unsafe_component(part: str) -> str | None:
    if part in ("", "."):
        return "an empty or '.' component"
    if part == "..":
        return "a '..' component"
    # NTFS ignores trailing dots and spaces and reads 'name:stream' as 'name' (git's is_ntfs_dotgit).
    folded = part.translate(_HFS_IGNORABLE).split(":", 1)[0].rstrip(". ").casefold()
    if folded in RESERVED:
        return f"the reserved name '{part}'"
    return None


def unsafe_reason(text: str) -> str | None:
    """Why `text` may not name a path inside a repository, or None when it may."""
    if _PLAINLY_SAFE.fullmatch(text):  # most names: a quick yes (walks check 10^5 of them)
        return None
    if not text or text == ".":
        return "the path is empty"
    if "\x00" in text:
        return "the path contains a NUL byte"
    if "\\" in text:
        return "the path contains a backslash"
    if not text.isascii() and _SURROGATE.search(text):
        return "the path is not valid UTF-8"
    if text.startswith("/") or _DRIVE.match(text):
        return "the path is absolute"
    if text.startswith("~"):
        return "the path starts with '~'"
    for part in text.split("/"):
        reason = _unsafe_component(part)
        if reason:
            return f"the path has {reason}"
    return None


def is_repository_root(root: Path, given: str | os.PathLike[str], cwd: Path | None = None) -> bool:
    """Whether the path the user typed names `root` itself (`.` at the top) -- never through a
    symbolic link of that name, which is a path like any other (RepoPath.from_user's rule)."""
    return _within_root(root, given, cwd) == Path(".")


def _within_root(root: Path, given: str | os.PathLike[str], cwd: Path | None) -> Path | None:
    """The typed path relative to `root`, or None when it lands outside."""
    absolute = Path(os.path.normpath((cwd or Path.cwd()) / given))
    try:
        return absolute.relative_to(root)
    except ValueError:
        # The same place reached through a symbolic link above the repository (a symlinked home
        # directory): resolve the directories on the way, never the final name.
        physical = Path(os.path.realpath(absolute.parent)) / absolute.name
        try:
            return physical.relative_to(root)
        except ValueError:
            return None


@dataclass(frozen=True, slots=True, order=True)
class RepoPath:
    """A relative, `/`-separated path that is lexically confined to the repository."""

    posix: str

    @classmethod
    def parse(cls, text: str) -> RepoPath:
        reason = unsafe_reason(text)
        if reason:
            raise UnsafePathError(f"unsafe path '{text}': {reason}")
        return cls(text)

    @classmethod
    def from_user(cls, root: Path, given: str | os.PathLike[str], cwd: Path | None = None) -> RepoPath:
        """A path typed by the user, relative to `cwd`, which must land inside `root`."""
        relative = _within_root(root, given, cwd)
        if relative is None:
            raise UnsafePathError(
                f"'{given}' is outside the repository at '{root}'", hint="mlx only tracks paths inside the repository"
            )
        if relative == Path("."):
            raise UnsafePathError(f"'{given}' is the repository itself", hint="name the files or directories inside it")
        return cls.parse(relative.as_posix())

    def __str__(self) -> str:
        return self.posix

    @property
    def name(self) -> str:
        return self.posix.rsplit("/", 1)[-1]

    @property
    def parent(self) -> str:
        """The parent directory as a posix string ('' at the top)."""
        return self.posix.rsplit("/", 1)[0] if "/" in self.posix else ""

    def join(self, child: str) -> RepoPath:
        return RepoPath.parse(f"{self.posix}/{child}")

    def on_disk(self, root: Path) -> Path:
        return root / self.posix

    def is_within(self, other: RepoPath) -> bool:
        return self.posix == other.posix or self.posix.startswith(other.posix + "/")


def check_no_symlinks(root: Path, relative: str, *, include_last: bool = False) -> None:
    """Refuse when a directory on the way from `root` to `relative` is a symbolic link.

    With `include_last`, the final component must not be a link either (used before reading a
    tracked file, so that a link never makes mlx read bytes from outside the repository).
    """
    parts = relative.split("/")
    checked = parts if include_last else parts[:-1]
    current = root
    for part in checked:
        current = current / part
        try:
            mode = os.lstat(current).st_mode
        except (FileNotFoundError, NotADirectoryError):  # nothing further down exists to go through
            return
        if stat.S_ISLNK(mode):
            raise UnsafePathError(
                f"unsafe path '{relative}': '{current.relative_to(root).as_posix()}' is a symbolic link",
                hint="mlx never reads or writes through symbolic links inside the repository",
            )
