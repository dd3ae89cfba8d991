"""Open a configured remote for a command: its settings (repo/remotes.py), its file system
(store/remotes/location.py), its format marker and the local copy of its indexes."""

from __future__ import annotations

from dataclasses import dataclass

from mlxkit.repo.remotes import RemoteSettings, catalog_dir, resolve_remote
from mlxkit.repo.repository import Repository
from mlxkit.store.remotes.catalog import Catalog
from mlxkit.store.remotes.fs import RemoteFS
from mlxkit.store.remotes.layout import MARKER, REMOTE_FORMAT, create_marker, read_marker
from mlxkit.store.remotes.location import open_remote


@dataclass
class Connection:
    settings: RemoteSettings
    fs: RemoteFS
    catalog: Catalog
    marker: int | None  # the remote's format; None: nothing was ever pushed there

    @property
    def name(self) -> str:
        return self.settings.name

    @property
    def unmarked(self) -> bool:
        """No marker: the place holds nothing mlx knows of, and a reader reads nothing there
        (docs/formats.md), whatever files it holds (a deleted marker: the next push writes it back)."""
        return self.marker is None

    def reader_warnings(self) -> list[str]:
        """What fetch and `status --cloud` say of the remote itself: no marker, or bad indexes
        (after the catalog's sync), whose objects a reader cannot find."""
        if self.unmarked:
            return [f"remote '{self.name}' ({self.fs.url}) has no {MARKER}, so mlx reads nothing there (a push writes it)"]
        problems = sorted(self.catalog.problems.items())
        return [f"bad index on '{self.name}', ignored: index/{name} ({problem})" for name, problem in problems]


def connect(repo: Repository, name: str | None, *, jobs: int | None = None, create: bool = False) -> Connection:
    """`create`: a push makes an empty place a remote (writes its marker). A reader of a place
    without one finds nothing there; a remote of a newer format, or an mlx cache, is refused."""
    settings = resolve_remote(repo.config, name)
    fs = open_remote(settings.name, settings.url, settings.options, jobs or settings.jobs)
    marker = read_marker(fs)
    if create and marker is None:
        create_marker(fs)
        marker = REMOTE_FORMAT
    return Connection(settings, fs, Catalog(catalog_dir(repo.mlx_dir, settings.name), fs), marker)
