"""Walk a directory with os.scandir, honouring `.mlxignore` files (gitignore syntax, via pathspec).

`.mlxignore` at the repository root applies to every walk; one inside a walked directory applies to
what lies below it, as `.gitignore` does. `.git` and `.mlx` directories are never entered, and files
of those names (a submodule's or worktree's `.git` file) are skipped, as git skips them. Symbolic
links are reported, never followed. Directories are not reported (empty ones are not tracked), nor
are FIFOs, sockets and devices.

`scan` reports files by *group*: the files of one directory, or one share of a directory of more
than GROUP_SIZE files. Each group has a fingerprint of its names and stats, computed where the stats
were taken (in forked workers for large walks, mlxkit.parallel), and its stats are sent back only
when the caller did not already know that fingerprint. So an unchanged tree of 10^5 files sends back
a hundred fingerprints instead of 10^5 stats, and a changed one sends the stats of its changed groups
only. This process lists the first few thousand names itself, then hands whole subtrees and shares to
the workers, which list, stat and fingerprint them.

`scan_with_pointer_files` also reports the pointer files (`*.mlx`) below the directory, which `mlx
add` refuses, as the listings meet them: the ones the scan sees and the ones `.mlxignore` hides from
it (ignored directories are then listed for them alone), but none that tracking/pointer.py's
`find_pointer_files` would not find (inside a nested mlx repository or a tracked directory). So `mlx
add` needs no second walk of 10^5 names to refuse a directory that holds them.
"""

from __future__ import annotations

import os
import stat
import zlib
from collections import deque
from collections.abc import Mapping, MutableSequence
from pathlib import Path
from typing import Any, NamedTuple

from blake3 import blake3

from mlxkit.errors import InvalidFileError, UnreadableError
from mlxkit.fs.atomic import TEMP_PREFIX
from mlxkit.parallel import MIN_ITEMS_FOR_PROCESSES, fork_each

IGNORE_FILE = ".mlxignore"
NEVER_ENTER = frozenset({".git", ".mlx"})
GROUP_SIZE = 4096  # a directory of more files is fingerprinted in shares, chosen by a hash of each name
LIST_HERE = MIN_ITEMS_FOR_PROCESSES  # names this process lists before sharing out the rest of the tree
UNREADABLE_HINT = "give yourself read access to it, or list it in .mlxignore"
POINTER_SUFFIX = ".mlx"  # tracking/pointer.py's SUFFIX (this lower layer cannot import it)


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


class Group(NamedTuple):
    """The files and links of one directory, or of one share of a large directory, as a scan saw them."""

    key: str  # the directory's repository path, plus '//<i>/<n>' for share i of n
    fingerprint: str  # blake3 of the sorted names with their inode, mtime, ctime, size and mode
    stats: list[FileStat] | None  # None when the caller knew this fingerprint: it has what it needs

    @property
    def directory(self) -> str:
        return self.key.split("//", 1)[0]

    def prefix_in(self, top: str) -> str:
        """Where the group's files are, relative to the walked directory `top`: '' or 'sub/dir/'."""
        directory = self.directory
        return "" if directory == top else directory[len(top) + 1 :] + "/"


def combined_fingerprint(groups: list[Group]) -> str:
    """One fingerprint for a whole walk: its groups' keys and fingerprints."""
    lines = sorted(f"{group.key}\0{group.fingerprint}\n" for group in groups)
    return blake3("".join(lines).encode("utf-8", "surrogateescape")).hexdigest()


class IgnoreRules:
    """gitignore patterns, each set anchored at the directory that holds its `.mlxignore`."""

    def __init__(self) -> None:
        # (anchor posix prefix, spec for files, spec for directories): see is_ignored
        self._specs: list[tuple[str, object, object]] = []

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
        source = f"{anchor}{IGNORE_FILE}"
        try:
            raw = Path(directory, IGNORE_FILE).read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            return
        except IsADirectoryError:
            raise InvalidFileError(source, "a directory, not a file") from None
        except OSError as exc:
            raise UnreadableError(source, exc) from None
        import pathspec

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
        self._specs.append((anchor, spec, _last_match_spec(pathspec, lines)))

    def copy(self) -> IgnoreRules:
        new = IgnoreRules()
        new._specs = list(self._specs)
        return new

    def is_ignored(self, repo_relpath: str, is_dir: bool) -> bool:
        """As git decides: the last pattern that matches wins. For directories that takes pathspec's
        plain gitignore patterns: GitIgnoreSpec lets `*` beat a later `!*/` or `!a/` for 'a/'."""
        ignored = False
        for anchor, file_spec, dir_spec in self._specs:
            if not repo_relpath.startswith(anchor):
                continue
            tail = repo_relpath[len(anchor) :] + ("/" if is_dir else "")
            result = (dir_spec if is_dir else file_spec).check_file(tail)  # type: ignore[attr-defined]
            if result.include is not None:
                ignored = result.include
        return ignored

    def __bool__(self) -> bool:
        return bool(self._specs)


def _last_match_spec(pathspec: Any, lines: list[str]) -> object:
    try:
        return pathspec.PathSpec.from_lines("gitignore", lines)  # pathspec >= 1.0
    except KeyError:  # 0.12 has the same patterns under their old name
        return pathspec.PathSpec.from_lines("gitwildmatch", lines)


class _InsideIgnored(IgnoreRules):
    """The rules inside an ignored directory, which a scan enters only to find pointer files: all is
    ignored (nothing below an ignored directory can be included again, as in git), and the
    `.mlxignore` files there are not read."""

    def load(self, directory: Path | str, anchor: str) -> None:
        return

    def copy(self) -> IgnoreRules:
        return self

    def is_ignored(self, repo_relpath: str, is_dir: bool) -> bool:
        return True

    def __bool__(self) -> bool:
        return True


_INSIDE_IGNORED = _InsideIgnored()


class _PointerMarks(NamedTuple):
    """What a scan's listings met of pointer files, as repository paths."""

    files: list[str]  # regular files named `*.mlx`, ignored or not
    closed: list[str]  # 'dir/' prefixes whose pointer files are not the walked directory's own

    def outside_closed(self, top: str) -> list[str]:
        """The pointer files that are not below a closed directory, sorted."""
        closed = set(self.closed)
        depth = top.count("/") + 1  # `top` itself is never closed
        found = []
        for path in self.files:
            parts = path.split("/")
            if not any("/".join(parts[:i]) + "/" in closed for i in range(depth + 1, len(parts))):
                found.append(path)
        return sorted(found)


# -- listing ---------------------------------------------------------------------------------------


def _list(
    base: str,
    top: str,
    prefix: str,
    rules: IgnoreRules,
    subdirectories: MutableSequence[tuple[str, IgnoreRules]],
    marks: _PointerMarks | None,
) -> list[str]:
    """Names of the files and links in the directory `prefix` (relative to `top`); its directories
    go to `subdirectories`, with the rules that apply inside them. Names only: scandir's d_type.
    With `marks`, the pointer files met are noted, and ignored directories are listed for them too."""
    directory = base + prefix
    if os.path.exists(directory + IGNORE_FILE):
        rules = rules.copy()
        rules.load(directory, f"{top}/{prefix}")
    ignored = rules.is_ignored if rules else None
    names = []
    suffixed = []  # entries named `*.mlx`, when marks are wanted
    try:
        entries = os.scandir(directory)
    except OSError as exc:
        if rules is _INSIDE_IGNORED:  # as find_pointer_files: what cannot be listed holds no pointer
            return []
        if isinstance(exc, (FileNotFoundError, NotADirectoryError)):
            raise
        raise UnreadableError(f"{top}/{prefix}".rstrip("/"), exc, hint=UNREADABLE_HINT) from None
    with entries:
        for entry in entries:
            name = entry.name
            is_dir = entry.is_dir(follow_symlinks=False)
            if marks is not None and name.endswith(POINTER_SUFFIX):
                suffixed.append(entry)
            if ignored is not None and ignored(f"{top}/{prefix}{name}", is_dir):
                if is_dir and marks is not None and name not in NEVER_ENTER:
                    subdirectories.append((f"{prefix}{name}/", _INSIDE_IGNORED))
                continue
            if not is_dir:
                # mlx's own leftovers from a killed command; a submodule's `.git` file
                if not name.startswith(TEMP_PREFIX) and name not in NEVER_ENTER:
                    names.append(name)
            elif name not in NEVER_ENTER:
                subdirectories.append((f"{prefix}{name}/", rules))
    if suffixed:
        assert marks is not None
        _mark(marks, f"{top}/{prefix}", suffixed, below_top=bool(prefix))
    return names


def _mark(marks: _PointerMarks, directory: str, entries: list[os.DirEntry[str]], *, below_top: bool) -> None:
    """Note the pointer files among a directory's `*.mlx` entries, and the directories whose
    pointer files are not the walked directory's: a nested mlx repository (a directory below it
    that holds `.mlx/`), and a tracked directory (`NAME/` beside `NAME.mlx`, itself noted)."""
    for entry in entries:
        name = entry.name
        if name == POINTER_SUFFIX:
            if below_top and (entry.is_dir(follow_symlinks=False) or os.path.isdir(entry.path)):
                marks.closed.append(directory)
            continue
        marks.closed.append(directory + name[: -len(POINTER_SUFFIX)] + "/")
        if entry.is_file(follow_symlinks=False):
            marks.files.append(directory + name)


# -- scanning --------------------------------------------------------------------------------------


def walk(repo_root: Path, top: str, rules: IgnoreRules | None = None, *, jobs: int = 1) -> list[FileStat]:
    """Every file and link below the repository path `top`, with its stat, unsorted."""
    return [entry for group in scan(repo_root, top, rules=rules, jobs=jobs) for entry in group.stats or ()]


def scan(
    repo_root: Path, top: str, known: Mapping[str, str] | None = None, *, rules: IgnoreRules | None = None, jobs: int = 1
) -> list[Group]:
    """Every group of files below the repository path `top` with its fingerprint, and with its files'
    stats unless `known` maps the group's key to the fingerprint it has now. Empty groups are left out."""
    return _scan(repo_root, top, known, rules, jobs, None)


def scan_with_pointer_files(
    repo_root: Path, top: str, known: Mapping[str, str] | None = None, *, rules: IgnoreRules | None = None, jobs: int = 1
) -> tuple[list[Group], list[str]]:
    """`scan`, and the repository paths of the pointer files below `top` (sorted), as
    tracking/pointer.py's `find_pointer_files` finds them: `.mlxignore` does not hide them."""
    marks = _PointerMarks([], [])
    groups = _scan(repo_root, top, known, rules, jobs, marks)
    return groups, marks.outside_closed(top)


def _scan(
    repo_root: Path, top: str, known: Mapping[str, str] | None, rules: IgnoreRules | None, jobs: int, marks: _PointerMarks | None
) -> list[Group]:
    job = _ScanJob(f"{repo_root / top}{os.sep}", top, known or {}, marks is not None)
    pending: deque[tuple[str, IgnoreRules]] = deque([("", rules or IgnoreRules.for_walk(repo_root, top))])
    units: list[tuple[str, IgnoreRules | None, list[str] | None, str]] = []
    listed = 0
    while pending and listed < LIST_HERE:  # breadth first, so that what is left is whole subtrees
        prefix, rules = pending.popleft()
        names = _list(job.base, top, prefix, rules, pending, marks)
        units.extend((prefix, None, part, share) for share, part in _shares(names))
        listed += len(names)
    units.extend((prefix, rules, None, "") for prefix, rules in pending)
    if not pending and listed < MIN_ITEMS_FOR_PROCESSES:
        jobs = 1  # everything is listed, and too little to pay for a fork
    groups = []
    for found, met in fork_each(job, units, jobs=jobs):
        for key, fingerprint, stats in found:
            groups.append(Group(key, fingerprint, None if stats is None else [tuple.__new__(FileStat, st) for st in stats]))
        found.clear()  # the plain tuples go as soon as they are converted: 10^5 stats are 30 MiB
        if met is not None and marks is not None:
            marks.files.extend(met.files)
            marks.closed.extend(met.closed)
    return groups


def _shares(names: list[str]) -> list[tuple[str, list[str]]]:
    """A directory's names in groups of about GROUP_SIZE. A name's share depends only on the name and
    on the number of shares, so a file added or removed changes one share's fingerprint, not all."""
    if len(names) <= GROUP_SIZE:
        return [("", names)] if names else []
    count = 2
    while count * GROUP_SIZE < len(names):
        count *= 2
    parts: list[list[str]] = [[] for _ in range(count)]
    for name in names:
        parts[zlib.crc32(name.encode("utf-8", "surrogateescape")) & (count - 1)].append(name)
    return [(f"//{number}/{count}", part) for number, part in enumerate(parts) if part]


RawGroup = tuple[str, str, list[tuple[str, int, int, int, int, int]] | None]


class _ScanJob:
    """Scan one unit: a share of a directory this process listed, or a whole subtree (listed here,
    with what it met of pointer files when `with_marks`)."""

    def __init__(self, base: str, top: str, known: Mapping[str, str], with_marks: bool) -> None:
        self.base = base
        self.top = top
        self.known = known
        self.with_marks = with_marks

    def __call__(self, unit: tuple[str, IgnoreRules | None, list[str] | None, str]) -> tuple[list[RawGroup], _PointerMarks | None]:
        prefix, rules, names, share = unit
        if names is not None:
            return self._group(prefix, share, names), None
        assert rules is not None
        found: list[RawGroup] = []
        marks = _PointerMarks([], []) if self.with_marks else None
        stack: list[tuple[str, IgnoreRules]] = [(prefix, rules)]
        while stack:
            prefix, rules = stack.pop()
            for share, part in _shares(_list(self.base, self.top, prefix, rules, stack, marks)):
                found.extend(self._group(prefix, share, part))
        return found, marks

    def _group(self, prefix: str, share: str, names: list[str]) -> list[RawGroup]:
        """lstat `names` relative to their open directory (the kernel resolves one component each),
        and fingerprint what is there; [] when nothing is (removed since it was listed)."""
        try:
            fd = os.open(self.base + prefix, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        except OSError:  # removed or replaced since it was listed
            return []
        lstat, is_reg, is_link = os.lstat, stat.S_ISREG, stat.S_ISLNK
        rows = []
        try:
            for name in sorted(names):
                try:
                    st = lstat(name, dir_fd=fd)
                except FileNotFoundError:  # removed since it was listed: it is not there
                    continue
                except PermissionError as exc:  # a directory that can be listed but not searched
                    raise UnreadableError(f"{self.top}/{prefix}{name}", exc, hint=UNREADABLE_HINT) from None
                # FIFOs, sockets and devices hold no content to track (git skips them too),
                # and opening a FIFO to hash it would wait forever.
                if is_reg(st.st_mode) or is_link(st.st_mode):
                    # a plain tuple crosses the process boundary at half a NamedTuple's cost
                    rows.append((prefix + name, st.st_ino, st.st_mtime_ns, st.st_size, st.st_mode, st.st_ctime_ns))
        finally:
            os.close(fd)
        if not rows:
            return []
        lines = "".join([f"{path}\0{ino}\0{mtime}\0{ctime}\0{size}\0{mode}\n" for path, ino, mtime, size, mode, ctime in rows])
        fingerprint = blake3(lines.encode("utf-8", "surrogateescape")).hexdigest()
        key = f"{self.top}/{prefix[:-1]}{share}" if prefix else f"{self.top}{share}"
        return [(key, fingerprint, None if self.known.get(key) == fingerprint else rows)]
