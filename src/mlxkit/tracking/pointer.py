"""Pointer files: `PATH.mlx` beside a tracked file or directory, naming its content by digest.

    format: 1
    path: raw            # the tracked name, in the pointer's own directory
    hash: blake3:…       # the file, or the directory's tree object
    size: 1234           # bytes (all files, for a directory)
    files: 10            # directories only

Reading is strict: a fast shape check, and the JSON Schema (pointer-1) for the error message when
the shape is wrong; every path and hash is checked before use.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from pathlib import Path

from mlxkit.errors import InvalidFileError, UnreadableError, UnsafePathError, UnsupportedFormatError
from mlxkit.formats.schema import validate
from mlxkit.formats.yamlio import YamlDocument, dump_yaml, load_yaml
from mlxkit.fs.atomic import write_atomic
from mlxkit.fs.confine import RepoPath, check_no_symlinks, unsafe_reason
from mlxkit.store.digest import Digest, InvalidDigest

SUFFIX = ".mlx"
POINTER_FORMAT = 1
MAX_POINTER_BYTES = 64 * 1024
_KEYS = {"format", "path", "hash", "size", "files", "x"}
_NAME_BREAKERS = re.compile(r"[/\\\x00]")  # what pointer-1's 'path' pattern forbids
_HASH = re.compile(r"blake3:[0-9a-f]{64}")  # pointer-1's 'hash' pattern
# How deep a walk that warns looks behind a link to a directory outside the workspace: the folder it
# points to and the folders directly in it, where a moved data folder keeps its pointer files. A link
# to a large dataset (10^6 files in 10^3 folders) then costs two levels of listings on every status,
# not a walk of the whole tree. A walk that fails closed (gc) looks all the way down.
WARNED_LEVELS = 2


class Unreadable(UnreadableError):
    """A pointer file, or a directory that may hold some, that mlx cannot read: what it names is
    unknown, so no command answers as if it were not there. mlx's own input: exit 12, as an invalid
    one (unreadable data is exit 3)."""

    exit_code = 12

    def left_out(self) -> str:
        """The warning for a directory that find_pointer_files left out (its `on_unreadable`)."""
        return f"cannot read '{self.path}' ({self.problem}): pointer files in it, if any, are left out"


class LinkedDirectory(Unreadable):
    """A symbolic link to a directory that holds pointer files: mlx acts on no path through a link,
    so what they track is unknown to it (docs/design.md)."""

    def __init__(self, link: str, found: str) -> None:
        super().__init__(
            link,
            f"a symbolic link to a directory that holds pointer files ('{found}'), and mlx does not follow symbolic links",
            hint="move the directory back into the workspace, or replace the link by a real directory",
        )

    def left_out(self) -> str:
        return f"'{self.path}' is a symbolic link to a directory: pointer files behind it are left out"


@dataclass(frozen=True)
class Pointer:
    target: RepoPath  # the tracked path, relative to the repository root
    digest: Digest
    size: int
    files: int | None = None  # None for a file
    executable: bool = False

    @property
    def is_dir(self) -> bool:
        return self.files is not None

    @property
    def file(self) -> RepoPath:
        """Where the pointer itself lives."""
        return pointer_file_for(self.target)

    def to_yaml(self) -> str:
        doc: dict[str, object] = {"format": POINTER_FORMAT, "path": self.target.name, "hash": str(self.digest), "size": self.size}
        if self.files is not None:
            doc["files"] = self.files
        if self.executable:
            doc["x"] = True
        return dump_yaml(doc)


def pointer_file_for(target: RepoPath) -> RepoPath:
    return RepoPath(target.posix + SUFFIX)


def target_of(pointer_file: RepoPath) -> RepoPath:
    if not pointer_file.posix.endswith(SUFFIX) or pointer_file.name == SUFFIX:
        raise UnsafePathError(f"'{pointer_file}' is not a pointer file (PATH{SUFFIX})")
    return RepoPath.parse(pointer_file.posix[: -len(SUFFIX)])


def read_pointer(root: Path, pointer_file: RepoPath) -> Pointer:
    source = pointer_file.posix
    try:
        check_no_symlinks(root, pointer_file.posix, include_last=True)  # may meet a directory it cannot search
        with open(pointer_file.on_disk(root), "rb") as handle:
            raw = handle.read(MAX_POINTER_BYTES + 1)
    except FileNotFoundError:
        raise InvalidFileError(source, "no such pointer file") from None
    except OSError as exc:
        raise Unreadable(source, exc) from None
    if raw.startswith(b"PK\x03\x04"):
        raise InvalidFileError(
            source, "a zip archive, not an mlx pointer file", hint="mlx reads every *.mlx file as a pointer: rename this one"
        )
    if len(raw) > MAX_POINTER_BYTES:
        raise InvalidFileError(source, f"larger than {MAX_POINTER_BYTES // 1024} KiB: not a pointer file")
    return parse_pointer(load_yaml(raw, source), pointer_file)


def parse_pointer(document: YamlDocument, pointer_file: RepoPath) -> Pointer:
    data, source = document.data, document.source
    if isinstance(data, dict) and isinstance(data.get("format"), int) and data["format"] > POINTER_FORMAT:
        raise UnsupportedFormatError(
            f"'{source}' uses pointer format {data['format']}, this mlx reads {POINTER_FORMAT}", hint="upgrade mlx"
        )
    if isinstance(data, dict):
        # Path and hash first: their own messages say more than the schema's patterns.
        if isinstance(data.get("path"), str):
            name = data["path"]
            if "/" in name:
                reason: str | None = unsafe_reason(name) or "a pointer names a file in its own directory"
            else:  # the rules are those of the whole path: '~x' or 'c:x' is a fine name below a directory
                reason = unsafe_reason(f"{pointer_file.parent}/{name}" if pointer_file.parent else name)
            if reason:
                raise UnsafePathError(f"unsafe path in '{source}:{document.line_of(('path',))}': {reason}")
        if isinstance(data.get("hash"), str):
            try:
                Digest.parse(data["hash"])
            except InvalidDigest as exc:
                raise InvalidFileError(source, str(exc), line=document.line_of(("hash",))) from None
    if not _has_pointer_shape(data):
        validate(document, "pointer-1")  # raises with the line and what was expected
        for key in ("format", "size", "files"):  # 3.0 is an integer to JSON Schema, not to mlx
            if isinstance(data, dict) and isinstance(data.get(key), float):
                raise InvalidFileError(source, f"at '{key}': {data[key]!r} is not a whole number", line=document.line_of((key,)))
        raise InvalidFileError(source, "not a pointer file")  # pragma: no cover - the schema is the wider check
    name = data["path"]
    target = target_of(pointer_file)
    if name != target.name:
        raise InvalidFileError(
            source,
            f"'path' is '{name}' but the pointer file is named '{pointer_file.name}'",
            line=document.line_of(("path",)),
            hint=f"rename the pointer to '{name}{SUFFIX}', or use 'mlx move'",
        )
    return Pointer(target, Digest.parse(data["hash"]), data["size"], data.get("files"), bool(data.get("x")))


def _has_pointer_shape(data: object) -> bool:
    """The schema's rules, checked without importing jsonschema (start-up cost: docs/design.md).

    Never looser than the schema: whatever this accepts, pointer-1 accepts (tests/unit/test_pointer.py).
    """
    if not isinstance(data, dict) or not set(data) <= _KEYS or not {"format", "path", "hash", "size"} <= set(data):
        return False
    size, files = data["size"], data.get("files", 0)
    return (
        data["format"] == POINTER_FORMAT
        and type(data["format"]) is int
        and isinstance(data["path"], str)
        and data["path"] != ""
        and _NAME_BREAKERS.search(data["path"]) is None
        and isinstance(data["hash"], str)
        and _HASH.fullmatch(data["hash"]) is not None
        and type(size) is int
        and size >= 0
        and type(files) is int
        and files >= 0
        and data.get("x", True) is True
    )


def write_pointer(root: Path, pointer: Pointer) -> None:
    check_no_symlinks(root, pointer.file.posix, include_last=True)
    write_atomic(pointer.file.on_disk(root), pointer.to_yaml().encode("utf-8"))


def find_pointer_files(
    root: Path,
    *,
    through_links: bool = False,
    on_unreadable: Callable[[Unreadable], None] | None = None,
    named: Collection[RepoPath] = (),
) -> Iterator[RepoPath]:
    """Every `*.mlx` file in the workspace, not entering .git, .mlx, tracked directories or nested
    mlx repositories (their pointers are theirs).

    A directory that cannot be listed raises Unreadable: it may hold pointers. Symbolic links are
    never followed (mlx refuses paths through them); with `through_links` (every walk but add's), a
    link to a directory that holds pointer files raises LinkedDirectory, naming the link (with
    `on_unreadable`, only pointer files WARNED_LEVELS deep are looked for behind it). With
    `on_unreadable`, either (but the top directory) is handed to it instead, and left out
    (tracking/targets.py: commands that only read, or write only what they see, go on past it as
    `git status` does; gc never does); the pointer files in `named` that a directory left out holds
    are yielded all the same (a target's own pointer file, read without listing the directory)."""
    stack = [""]
    while stack:
        prefix = stack.pop()
        directory = root / prefix if prefix else root
        try:
            with os.scandir(directory) as it:
                entries = list(it)
        except (FileNotFoundError, NotADirectoryError):
            continue  # removed while we looked
        except OSError as exc:
            error = Unreadable(prefix.rstrip("/") or ".", exc, hint="let mlx read it: it may hold pointer files")
            if on_unreadable is None or not prefix:
                raise error from None
            on_unreadable(error)
            yield from (file for file in named if file.is_within(RepoPath(error.path)))
            continue
        names = {entry.name for entry in entries}
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                if entry.name in (".git", ".mlx") or entry.name + SUFFIX in names:
                    continue
                if os.path.isdir(os.path.join(entry.path, ".mlx")):
                    continue
                stack.append(f"{prefix}{entry.name}/")
            elif through_links and entry.is_symlink() and entry.name + SUFFIX not in names and not _leads_inside(entry.path, root):
                shown = f"{prefix}{entry.name}"
                found = _pointer_behind_link(entry.path, shown, on_unreadable, None if on_unreadable is None else WARNED_LEVELS)
                if found is not None:
                    linked = LinkedDirectory(shown, found)
                    if on_unreadable is None:
                        raise linked
                    on_unreadable(linked)
            elif entry.name.endswith(SUFFIX) and entry.name != SUFFIX and entry.is_file(follow_symlinks=False):
                try:
                    yield RepoPath.parse(f"{prefix}{entry.name}")
                except UnsafePathError:
                    continue


def linked_directory(root: Path, path: RepoPath) -> LinkedDirectory | None:
    """The first symbolic link on the way to `path` (or `path` itself) when the walk would leave it
    out as a LinkedDirectory (a link, without a pointer file of its own, to a directory outside the
    workspace that holds pointer files); None when there is no such link on the way."""
    shown = ""
    for part in path.posix.split("/"):
        shown = f"{shown}/{part}" if shown else part
        link = os.path.join(root, shown)
        if not os.path.islink(link):
            continue
        if os.path.isfile(link + SUFFIX) or _leads_inside(link, root):
            return None
        found = _pointer_behind_link(link, shown, None)
        return None if found is None else LinkedDirectory(shown, found)
    return None


def _leads_inside(link: str, root: Path) -> bool:
    """Whether `link` leads into the workspace itself, whose pointers the walk reads where they are."""
    target, top = os.path.realpath(link), os.path.realpath(root)
    return target == top or target.startswith(f"{top}{os.sep}")


def _pointer_behind_link(
    link: str, shown: str, on_unreadable: Callable[[Unreadable], None] | None, levels: int | None = None
) -> str | None:
    """The first `*.mlx` file in the directory `link` points to (links below it are not followed),
    as `shown` (the link's path in the workspace) plus its path below the link; None when the link
    points to no directory, or to one that holds none or is an mlx repository. With `levels`, only
    that many levels of folders are looked into (1: the folder the link points to). A directory there
    that cannot be listed raises Unreadable, or is handed to `on_unreadable` and left out."""
    if not os.path.isdir(link) or os.path.isdir(os.path.join(link, ".mlx")):
        return None

    def unreadable(exc: OSError) -> None:
        error = Unreadable(os.path.normpath(os.path.join(shown, os.path.relpath(exc.filename, link))), exc)
        if on_unreadable is None:
            raise error
        on_unreadable(error)

    for directory, dirs, files in os.walk(link, onerror=unreadable):
        below = directory.count(os.sep) - link.count(os.sep)  # 0: the folder the link points to
        dirs[:] = [] if levels is not None and below + 1 >= levels else [name for name in dirs if name not in (".git", ".mlx")]
        for name in files:
            if name.endswith(SUFFIX) and name != SUFFIX:
                return os.path.join(shown, os.path.relpath(os.path.join(directory, name), link))
    return None
