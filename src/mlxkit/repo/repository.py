"""A Repository: the root, its `.mlx/` folder, configuration, object store and stat cache.

Layout (DESIGN.md §2): `.mlx/config.yaml`, `.mlx/config.local.yaml`, `.mlx/.gitignore`,
`.mlx/cache/` (objects, the marker), `.mlx/state.db`, `.mlx/tmp/` (the lock, scratch files).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from mlxkit.errors import GitRequiredError, NotARepositoryError
from mlxkit.fs.atomic import filesystem_syncer, write_atomic
from mlxkit.parallel import default_jobs, in_background
from mlxkit.repo.config import Config, read_config
from mlxkit.repo.lock import RepoLock
from mlxkit.repo.root import CONFIG_FILE, MLX_DIR, find_root
from mlxkit.store.objects import ObjectStore
from mlxkit.store.state import StatCache

GITIGNORE = """\
# Everything below .mlx/ stays out of git except the shared configuration.
/*
!/.gitignore
!/config.yaml
"""
CONFIG_TEMPLATE = "# mlx configuration, shared through git: see 'mlx config --help' and docs/config.md\n"


# With core.fsync batch, the cache's file system is flushed this often while many objects are written
# (Repository.flushing_objects): 10^5 small files added in 4.8-5.7 s against 5.5-6.1 s; docs/performance.md.
FLUSH_EVERY = 0.25


@dataclass
class Repository:
    root: Path
    config: Config
    command: str = "mlx"
    warnings: list[str] = field(default_factory=list)  # what a command noticed and went on past, for its report

    def warn(self, text: str) -> None:
        """Note `text` for the command's report, once however often it is noticed (`mlx pull` walks
        the workspace for its fetch and again for its checkout)."""
        if text not in self.warnings:
            self.warnings.append(text)

    @property
    def mlx_dir(self) -> Path:
        return self.root / MLX_DIR

    @property
    def tmp_dir(self) -> Path:
        return self.mlx_dir / "tmp"

    @property
    def cache_dir(self) -> Path:
        configured = self.config.get("cache.dir")
        return Path(configured) if configured else self.mlx_dir / "cache"

    @cached_property
    def store(self) -> ObjectStore:
        fsync = self.config.get("core.fsync")
        return ObjectStore(self.cache_dir, fsync_each=fsync == "always", durable=fsync != "never")

    @cached_property
    def state(self) -> StatCache:
        return StatCache(self.mlx_dir / "state.db")

    @cached_property
    def git_root(self) -> Path | None:
        return find_git_root(self.root)

    @property
    def is_git(self) -> bool:
        return self.git_root is not None

    def require_git(self, feature: str) -> Path:
        if self.git_root is None:
            raise GitRequiredError(feature)
        return self.git_root

    @property
    def jobs(self) -> int:
        """Worker processes for large walks, adds and checkouts (core.jobs; default: the CPUs)."""
        return self.config.get("core.jobs") or default_jobs()

    def lock(self, *, wait: float | None = None) -> RepoLock:
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        return RepoLock(self.tmp_dir, self.command, wait=wait)

    def make_objects_durable(self) -> None:
        """The barrier between writing objects and publishing what names them (core.fsync=batch)."""
        self.objects_barrier()()

    def flushing_objects(self) -> AbstractContextManager[None]:
        """For a body that writes many objects (add, fetch): with core.fsync batch, the cache's file
        system is flushed every FLUSH_EVERY seconds meanwhile, so that the disk writes them while
        the workers go on and the barrier before what names them finds little left."""
        return in_background(self.objects_barrier(), every=FLUSH_EVERY)

    def objects_barrier(self) -> Callable[[], None]:
        """make_objects_durable, ready to run on a thread while this process forks (fs/atomic.py's
        filesystem_syncer)."""
        if self.config.get("core.fsync") == "batch":
            return filesystem_syncer(self.store.root)
        return lambda: None

    def close(self) -> None:
        if "state" in self.__dict__:
            self.state.close()


def find_git_root(start: Path) -> Path | None:
    """The nearest directory at or above `start` holding `.git` (a directory, or a worktree's file)."""
    for directory in (start, *start.parents):
        if (directory / ".git").exists():
            return directory
    return None


def find_repository(start: Path, *, command: str = "mlx") -> Repository:
    """The repository at or above `start`, with its configuration read."""
    root = locate_root(start)
    return Repository(root, read_config(root / MLX_DIR), command)


def locate_root(start: Path) -> Path:
    """The nearest directory at or above `start` holding `.mlx/`, not crossing a mount point."""
    found = find_root(str(start))
    if found is None:
        raise NotARepositoryError(str(start.resolve()))
    return Path(found)


@dataclass(frozen=True)
class InitResult:
    root: str
    reinitialized: bool
    git: bool
    to_commit: list[str]


def init_repository(root: Path, *, no_git: bool = False) -> InitResult:
    root = root.resolve()
    in_git = find_git_root(root) is not None
    if not in_git and not no_git:
        raise GitRequiredError(
            f"mlx init in '{root}'", hint="run 'git init' first, or 'mlx init --no-git' to use mlx without git"
        )
    mlx_dir = root / MLX_DIR
    reinitialized = mlx_dir.is_dir()
    for sub in ("tmp", "cache"):
        (mlx_dir / sub).mkdir(parents=True, exist_ok=True)
    if not (mlx_dir / ".gitignore").exists():
        write_atomic(mlx_dir / ".gitignore", GITIGNORE.encode())
    if not (mlx_dir / CONFIG_FILE).exists():
        write_atomic(mlx_dir / CONFIG_FILE, CONFIG_TEMPLATE.encode())
    repo = Repository(root, read_config(mlx_dir))
    repo.store.create()
    return InitResult(
        root=str(root),
        reinitialized=reinitialized,
        git=in_git,
        to_commit=[f"{MLX_DIR}/{CONFIG_FILE}", f"{MLX_DIR}/.gitignore"] if in_git else [],
    )
