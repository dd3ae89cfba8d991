"""mlx doctor: what a bug report needs: versions, platform, the cache and what the file system can do."""

from __future__ import annotations

import os
import platform
import sys
from dataclasses import dataclass
from pathlib import Path

from mlxkit import __version__
from mlxkit.fs.links import supported_link_types
from mlxkit.repo.repository import Repository, find_git_root

PACKAGES = ("typer", "rich", "pyyaml", "blake3", "pathspec", "jsonschema", "gitpython")


@dataclass(frozen=True)
class DoctorReport:
    mlx_version: str
    python: str
    platform: str
    packages: dict[str, str]
    repository: str | None
    cache_dir: str | None
    cache_objects: int
    cache_bytes: int
    link_types_supported: list[str]
    link_types_configured: list[str]
    git: bool
    problems: list[str]


def doctor(repo: Repository | None, problems: list[str] | None = None, root: Path | None = None) -> DoctorReport:
    """`root`: where the repository is when its configuration could not be read (`repo` is None)."""
    from importlib import metadata

    packages = {}
    for name in PACKAGES:
        try:
            packages[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            packages[name] = "not installed"
    objects = size = 0
    supported: list[str] = []
    top = repo.root if repo is not None else root
    if repo is not None:
        for _digest, path in repo.store.iter_objects():
            objects += 1
            size += os.lstat(path).st_size
        probe_dir: Path = repo.tmp_dir
        probe_dir.mkdir(parents=True, exist_ok=True)
        supported = supported_link_types(probe_dir)
    return DoctorReport(
        mlx_version=__version__,
        python=sys.version.split()[0],
        platform=platform.platform(),
        packages=packages,
        repository=str(top) if top is not None else None,
        cache_dir=str(repo.cache_dir) if repo else None,
        cache_objects=objects,
        cache_bytes=size,
        link_types_supported=supported,
        link_types_configured=list(repo.config.link_types) if repo else [],
        git=top is not None and find_git_root(top) is not None,
        problems=problems or [],
    )
