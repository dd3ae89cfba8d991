"""The repository as it is at a git revision, or in the workspace: the view every comparison reads.

    with Revisions(repo) as revisions:
        for snapshot in revisions.open(["HEAD", "workspace"]):
            snapshot.pipeline(), snapshot.lock(), snapshot.read("metrics.json")

A Snapshot reads committed files through one `git cat-file --batch` process shared by every
revision (gitrev.GitFiles), and parses each distinct mlx.yaml or mlx.lock once however many
commits share it, so 100 commits cost a few hundred pipe round trips and a handful of parses.
A file that is a stage output or a tracked path is read from the cache by the digest that the
revision's lockfile or pointer file records (`read_output`).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from mlxkit.errors import InvalidFileError, MissingObjectError
from mlxkit.formats.yamlio import load_yaml
from mlxkit.fs.confine import RepoPath, check_no_symlinks
from mlxkit.gitrev import GitFiles
from mlxkit.pipeline.lockfile import parse_lock
from mlxkit.pipeline import LOCK_FILE, PIPELINE_FILE
from mlxkit.pipeline.model import Lock, Pipeline
from mlxkit.pipeline.params import kind_of, parse_params
from mlxkit.pipeline.spec import pipeline_from_text
from mlxkit.repo.repository import Repository
from mlxkit.store.digest import Digest
from mlxkit.tracking.pointer import Pointer, Unreadable, parse_pointer, pointer_file_for

WORKSPACE = "workspace"  # the name that means "the files on disk", wherever a revision is asked for
MAX_FILE_BYTES = 64 * 1024 * 1024  # a metrics, params or plots file larger than this is not read


class Snapshot:
    """One revision's files. `name` is what the user asked for; `commit` is None for the workspace."""

    def __init__(self, revisions: Revisions, name: str, commit: str | None) -> None:
        self.name = name
        self.commit = commit
        self._revisions = revisions
        self._blobs: dict[str, tuple[Any, bytes] | None] = {}  # a commit's files never change: ask git once

    @property
    def is_workspace(self) -> bool:
        return self.commit is None

    @property
    def repo(self) -> Repository:
        return self._revisions.repo

    def __repr__(self) -> str:
        return f"Snapshot({self.name!r}, {self.commit!r})"

    def blob(self, path: str) -> tuple[Any, bytes] | None:
        """(a key that changes whenever the content does, bytes) of a file kept in git, or None."""
        if self.commit is None:
            data = _read_disk(self.repo.root, path)
            return None if data is None else (_blob_id(data), data)
        if path not in self._blobs:
            self._blobs[path] = self._revisions.git.blob(self.commit, path)
        return self._blobs[path]

    def read(self, path: str) -> bytes | None:
        """A file's bytes as git has it at this revision (as the disk has it in the workspace)."""
        found = self.blob(path)
        return None if found is None else found[1]

    def pipeline(self) -> Pipeline | None:
        """mlx.yaml at this revision, interpolated from the params files at this revision."""
        found = self.blob(PIPELINE_FILE)
        if found is None:
            return None
        return self._revisions.parsed_pipeline(self, found)

    def lock(self) -> Lock:
        """mlx.lock at this revision (empty when there is none)."""
        try:
            found = self.blob(LOCK_FILE)
        except OSError as exc:  # the workspace's, which mlx may not read
            raise Unreadable(LOCK_FILE, exc) from None
        if found is None:
            return Lock({})
        return self._revisions.parsed_lock(self, found)

    def params(self, file: RepoPath) -> dict[str, Any] | None:
        """A params file's mapping at this revision, None when there is no such file."""
        found = self.blob(file.posix)
        if found is None:
            return None
        return self._revisions.parsed_params(file, found)

    def pointer(self, target: RepoPath) -> Pointer | None:
        """The pointer file of `target` at this revision, None when it is not tracked there."""
        file = pointer_file_for(target)
        try:
            data = self.read(file.posix)
        except OSError as exc:  # the workspace's, or a directory on its way, that mlx may not read
            raise Unreadable(file.posix, exc) from None
        if data is None:
            return None
        return parse_pointer(load_yaml(data, self.label(file.posix)), file)

    def output_digest(self, path: RepoPath) -> Digest | None:
        """The digest the revision records for `path` as a stage output or a tracked path, if any."""
        for entry in self.lock().stages.values():
            for out in entry.outs:
                if out.path == path:
                    return out.digest
        pointer = self.pointer(path)
        return pointer.digest if pointer is not None and not pointer.is_dir else None

    def read_output(self, path: RepoPath) -> bytes | None:
        """A file that is kept in git, or else cached as a stage output or tracked path (read from
        the cache, verified); None when the revision has neither. In the workspace, the disk.

        Raises MissingObjectError when the revision names content that is not in the local cache.
        """
        if self.commit is None:
            return _read_disk(self.repo.root, path.posix)
        data = self.read(path.posix)
        if data is not None:
            return data
        digest = self.output_digest(path)
        if digest is None:
            return None
        if not self.repo.store.has(digest):
            raise MissingObjectError(
                f"'{path}' at {self.name} is not in the cache ({digest.short})", hint=f"fetch it with 'mlx fetch' (or 'mlx pull') at {self.name}"
            )
        return self.repo.store.read_verified(digest)

    def files(self, suffix: str = "") -> list[str]:
        """Paths committed at this revision whose names end with `suffix` (commits only)."""
        assert self.commit is not None, "the workspace is walked, not listed"
        return self._revisions.git.files(self.commit, suffix)

    def label(self, path: str) -> str:
        """How an error names a file of this revision: 'metrics.json' or 'metrics.json@main'."""
        return path if self.commit is None else f"{path}@{self.name}"


class Revisions:
    """Opens snapshots of one repository and memoizes what they parse. A context manager: it owns
    the git process."""

    def __init__(self, repo: Repository) -> None:
        self.repo = repo
        self._git: GitFiles | None = None
        self._pipelines: dict[Any, list[tuple[tuple[Any, ...], Pipeline]]] = {}
        self._locks: dict[Any, Lock] = {}
        self._params: dict[tuple[str, Any], dict[str, Any]] = {}

    def __enter__(self) -> Revisions:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._git is not None:
            self._git.close()

    @property
    def git(self) -> GitFiles:
        if self._git is None:
            self._git = GitFiles(self.repo.require_git("reading at a revision"), self.repo.root)
        return self._git

    def open(self, names: list[str]) -> list[Snapshot]:
        return [self.snapshot(name) for name in names]

    def snapshot(self, name: str) -> Snapshot:
        if name == WORKSPACE:
            return Snapshot(self, WORKSPACE, None)
        return Snapshot(self, name, self.git.commit(name))

    def at_commit(self, commit: str, name: str | None = None) -> Snapshot:
        """A snapshot of a commit id already known to exist (from a log or a ref listing)."""
        return Snapshot(self, name or commit[:7], commit)

    def parsed_lock(self, snapshot: Snapshot, found: tuple[Any, bytes]) -> Lock:
        key, data = found
        if key not in self._locks:
            self._locks[key] = parse_lock(data, snapshot.label(LOCK_FILE))
        return self._locks[key]

    def parsed_params(self, file: RepoPath, found: tuple[Any, bytes]) -> dict[str, Any]:
        key, data = found
        memo = (file.posix, key)
        if memo not in self._params:
            self._params[memo] = parse_params(data, file.posix, kind_of(file))
        return self._params[memo]

    def parsed_pipeline(self, snapshot: Snapshot, found: tuple[Any, bytes]) -> Pipeline:
        """mlx.yaml parsed once per distinct (mlx.yaml, params files it read) combination."""
        key, data = found
        for read, pipeline in self._pipelines.get(key, []):
            if all(_key_of(snapshot, file) == seen for file, seen in read):
                return pipeline
        read: list[tuple[str, Any]] = []

        def params(file: RepoPath) -> dict[str, Any] | None:
            read.append((file.posix, _key_of(snapshot, file.posix)))
            return snapshot.params(file)

        pipeline = pipeline_from_text(data, self.repo.root, snapshot.label(PIPELINE_FILE), params=params)
        self._pipelines.setdefault(key, []).append((tuple(read), pipeline))
        return pipeline


def _key_of(snapshot: Snapshot, path: str) -> Any:
    found = snapshot.blob(path)
    return None if found is None else found[0]


def _blob_id(data: bytes) -> str:
    """The id git gives these bytes as a blob, so that a file on disk and its committed twin share a key."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


def _read_disk(root: Path, path: str) -> bytes | None:
    """A workspace file's bytes (capped), None when it is not there; a symbolic link on the way is
    refused, since a committed link may point anywhere."""
    check_no_symlinks(root, path, include_last=True)
    try:
        with open(root / path, "rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except IsADirectoryError:
        raise InvalidFileError(path, "a directory, not a file") from None
    if len(data) > MAX_FILE_BYTES:
        raise InvalidFileError(path, f"larger than the {MAX_FILE_BYTES // (1024 * 1024)} MiB limit for files mlx compares")
    return data

