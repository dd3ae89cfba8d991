"""mlx pull: fetch, then check out. This module holds what the checkout half needs: the tracked
paths below the targets (stage outputs are checked out by pipeline/outputs.py)."""

from __future__ import annotations

from dataclasses import dataclass

from mlxkit.fs.confine import RepoPath
from mlxkit.progress import NULL_PROGRESS, Progress
from mlxkit.repo.repository import Repository
from mlxkit.tracking.checkout import CheckoutResult, checkout_pointers
from mlxkit.tracking.fetch import FetchResult
from mlxkit.tracking.pointer import read_pointer
from mlxkit.tracking.targets import pointer_files_within


@dataclass(frozen=True)
class PullResult:
    fetch: FetchResult
    tracked: CheckoutResult  # pointer files' paths
    outputs: CheckoutResult | None  # mlx.lock's stage outputs (None without a pipeline)

    @property
    def missing(self) -> list[str]:
        """Paths left as they were because their objects are in neither the cache nor the remote."""
        return sorted({*self.tracked.missing, *(self.outputs.missing if self.outputs else [])})


def checkout_fetched(
    repo: Repository, within: list[RepoPath], *, force: bool = False, progress: Progress = NULL_PROGRESS
) -> CheckoutResult:
    pointers = [read_pointer(repo.root, file) for file in pointer_files_within(repo, within)]
    return checkout_pointers(repo, pointers, force=force, progress=progress)
