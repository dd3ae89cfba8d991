"""Walk a directory with os.scandir, honouring `.mlxignore` files (gitignore syntax, via pathspec).

`.mlxignore` at the repository root applies to every walk; one inside a walked directory applies to
what lies below it, as `.gitignore` does. `.git` and `.mlx` directories are never entered, and files
of those names (a submodule's or worktree's `.git` file) are skipped, as git skips them. Symbolic
links are reported, never followed. Directories are not reported (empty ones are not tracked), nor
are FIFOs, sockets and devices.

A walk lists names first (scandir's d_type: no stat), then stats the files, in forked workers when
there are many (mlxkit.parallel): the stat is most of the cost of an unchanged `mlx status`.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import NamedTuple

from mlxkit.errors import InvalidFileError
from mlxkit.fs.atomic import TEMP_PREFIX
from mlxkit.parallel import MIN_ITEMS_FOR_PROCESSES, map_chunks

IGNORE_FILE = ".mlxignore"
NEVER_ENTER = frozenset({".git", ".mlx"})
STAT_BATCH = 5000


class FileStat(NamedTuple):
    """What a walk knows of a file or link; `relpath` is relative to the walked directory."""

    relpath: str
    ino: int
    mtime_ns: int
    size: int
    mode: int
    ctime_ns: int

    @property
    def is_link(self) -> bool:
        return stat.S_ISLNK(self.mode)

    @property
    def is_executable(self) -> bool:
        return bool(self.mode & 0o100)

    @classmethod
    def of(cls, relpath: str, st: os.stat_result) -> FileStat:
        return cls(relpath, st.st_ino, st.st_mtime_ns, st.st_size, st.st_mode, st.st_ctime_ns)

    def same_as(self, st: os.stat_result) -> bool:
        return (self.ino, self.mtime_ns, self.size, self.ctime_ns) == (st.st_ino, st.st_mtime_ns, st.st_size, st.st_ctime_ns)


def as_file_stat(values: tuple[str, int, int, int, int, int]) -> FileStat:
    """A FileStat from a plain tuple (what worker processes send back)."""
    return tuple.__new__(FileStat, values)


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

    def load(self, directory: Path | str, anchor: str) -> None:
        try:
            raw = Path(directory, IGNORE_FILE).read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            return
        import pathspec

        source = f"{anchor}{IGNORE_FILE}"
        try:
            lines = raw.decode("utf-8").splitlines()
        except UnicodeDecodeError as exc:
            line = raw.count(b"\n", 0, exc.start) + 1
            raise InvalidFileError(source, f"not UTF-8 text (byte {exc.start})", line=line) from None
        try:
            spec = pathspec.GitIgnoreSpec.from_lines(lines)
        except ValueError:  # pathspec refuses a pattern such as '!' or a lone '\\': name its line
            for number, line in enumerate(lines, 1):
                try:
                    pathspec.GitIgnoreSpec.from_lines([line])
                except ValueError:
                    raise InvalidFileError(source, f"invalid pattern '{line}'", line=number) from None
            raise
        self._specs.append((anchor, spec))

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


def list_files(repo_root: Path, top: str, rules: IgnoreRules | None = None) -> list[str]:
    """Paths (relative to `top`) of the files and links below the repository path `top`, unsorted."""
    return [prefix + name for prefix, names in list_directories(repo_root, top, rules) for name in names]


def list_directories(repo_root: Path, top: str, rules: IgnoreRules | None = None) -> list[tuple[str, list[str]]]:
    """(directory prefix relative to `top`, names of its files and links) for every directory below
    the repository path `top` that holds any, unsorted."""
    if rules is None:
        rules = IgnoreRules.for_walk(repo_root, top)
    found: list[tuple[str, list[str]]] = []
    stack: list[tuple[str, IgnoreRules]] = [("", rules)]
    base = f"{repo_root / top}{os.sep}"
    while stack:
        prefix, rules = stack.pop()
        directory = base + prefix
        if os.path.exists(directory + IGNORE_FILE):
            rules = rules.copy()
            rules.load(directory, f"{top}/{prefix}")
        names = []
        with os.scandir(directory) as it:
            for entry in it:
                name = entry.name
                is_dir = entry.is_dir(follow_symlinks=False)
                if rules and rules.is_ignored(f"{top}/{prefix}{name}", is_dir):
                    continue
                if not is_dir:
                    # mlx's own leftovers from a killed command; a submodule's `.git` file
                    if not name.startswith(TEMP_PREFIX) and name not in NEVER_ENTER:
                        names.append(name)
                elif name not in NEVER_ENTER:
                    stack.append((f"{prefix}{name}/", rules))
        if names:
            found.append((prefix, names))
    return found


def walk(repo_root: Path, top: str, rules: IgnoreRules | None = None, *, jobs: int = 1) -> list[FileStat]:
    """Every file and link below the repository path `top`, with its stat, unsorted."""
    batches: list[list[tuple[str, list[str]]]] = [[]]
    filled = 0
    for prefix, names in list_directories(repo_root, top, rules):
        for start in range(0, len(names), STAT_BATCH):
            if filled >= STAT_BATCH:
                batches.append([])
                filled = 0
            part = names[start : start + STAT_BATCH]
            batches[-1].append((prefix, part))
            filled += len(part)
    job = _Stat(f"{repo_root / top}{os.sep}")
    total = sum(len(names) for batch in batches for _prefix, names in batch)
    found: list[FileStat] = []
    for part in map_chunks(job, batches, jobs=jobs, chunk=1, min_items=2 if total >= MIN_ITEMS_FOR_PROCESSES else None):
        found.extend(map(as_file_stat, part))
    return found


class _Stat:
    """lstat a chunk of names below `base` (a class, so that it pickles for worker processes)."""

    def __init__(self, base: str) -> None:
        self.base = base

    def __call__(self, batch: list[list[tuple[str, list[str]]]]) -> list[tuple[str, int, int, int, int, int]]:
        lstat, is_reg, is_link = os.lstat, stat.S_ISREG, stat.S_ISLNK
        out = []
        for groups in batch:
            for prefix, names in groups:
                try:  # names relative to an open directory: the kernel resolves one component each
                    fd = os.open(self.base + prefix, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
                except (FileNotFoundError, NotADirectoryError, OSError):
                    continue  # removed or replaced since it was listed
                try:
                    for name in names:
                        try:
                            st = lstat(name, dir_fd=fd)
                        except FileNotFoundError:  # removed since it was listed: it is not there
                            continue
                        # FIFOs, sockets and devices hold no content to track (git skips them too),
                        # and opening a FIFO to hash it would wait forever.
                        if is_reg(st.st_mode) or is_link(st.st_mode):
                            # a plain tuple crosses the process boundary at half a NamedTuple's cost
                            out.append((prefix + name, st.st_ino, st.st_mtime_ns, st.st_size, st.st_mode, st.st_ctime_ns))
                finally:
                    os.close(fd)
        return out
