"""Scanner: what a tracked path holds now, and whether taking it wrote anything to the cache."""

from __future__ import annotations

from mlxkit.fs.confine import RepoPath
from mlxkit.repo.repository import find_repository, init_repository
from mlxkit.tracking.workspace import Scanner


def test_scanner_has_written_objects_only_when_it_stored_new_ones(tmp_path):
    """`mlx add` makes the cache durable (a syncfs) only after a Scanner that wrote something."""
    init_repository(tmp_path, no_git=True)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.csv").write_text("a\n")
    (tmp_path / "b.csv").write_text("b\n")
    scanners = []
    for _ in range(2):
        repo = find_repository(tmp_path)
        try:
            scanner = Scanner(repo, store=True)
            scanner.snapshot(RepoPath("data"))
            scanner.snapshot(RepoPath("b.csv"))
            scanners.append(scanner)
        finally:
            repo.close()

    first, again = scanners
    assert (first.has_written_objects, again.has_written_objects) == (True, False)
    assert first.counters.objects_written == 2
    assert again.counters.objects_skipped == 2
