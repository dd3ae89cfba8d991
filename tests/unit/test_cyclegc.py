"""collector_paused: no cycle collection while mlx builds the entries of a large directory."""

from __future__ import annotations

import gc
import sys

import pytest

from mlxkit.cyclegc import collector_paused
from mlxkit.fs.confine import RepoPath
from mlxkit.repo.repository import find_repository, init_repository
from mlxkit.tracking.checkout import checkout_pointers
from mlxkit.tracking.pointer import Pointer
from mlxkit.tracking.workspace import Scanner


@pytest.fixture
def collections():
    """For each collection that starts while a test runs, the names of the functions on the stack;
    the collector is made eager (every 200 allocations, more than entering a pause makes) so that
    a body that allocates and is not paused is seen collecting."""
    started: list[set[str]] = []

    def count(phase: str, _info: dict) -> None:
        if phase == "start":
            frame, names = sys._getframe(1), set()
            while frame is not None:
                names.add(frame.f_code.co_name)
                frame = frame.f_back
            started.append(names)

    before = gc.get_threshold()
    gc.set_threshold(200, 1, 1)
    gc.callbacks.append(count)
    try:
        yield started
    finally:
        gc.callbacks.remove(count)
        gc.set_threshold(*before)
        gc.enable()


def _from_now(collections: list[set[str]]) -> None:
    """Forget the collections so far, and start the next count of allocations at 0."""
    gc.collect()
    del collections[:]


def test_the_collector_is_paused_in_the_body_and_resumes_after(collections):
    _from_now(collections)
    with collector_paused():
        assert not gc.isenabled()
        junk = [[i] for i in range(1000)]
        during = len(collections)
    assert (during, gc.isenabled()) == (0, True)
    junk += [[i] for i in range(1000)]
    assert collections, "the eager collector runs again once the body is over"


def test_an_inner_pause_leaves_the_outer_one_in_force():
    with collector_paused():
        with collector_paused():
            pass
        assert not gc.isenabled()
    assert gc.isenabled()


def test_a_collector_that_was_off_stays_off():
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_the_collector_resumes_when_the_body_raises():
    @collector_paused()
    def fails() -> None:
        assert not gc.isenabled()
        raise KeyError("x")

    with pytest.raises(KeyError):
        fails()
    assert gc.isenabled()


def _directory(root, files: int) -> None:
    for i in range(files):
        folder = root / "data" / f"d{i % 10}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{i}.txt").write_text(f"{i}\n")


def test_adding_and_checking_out_a_directory_collects_no_cycles(tmp_path, collections):
    """The Scanner (add, status) and the checkout build an entry per file: with the collector eager,
    a body that was not paused would collect dozens of times here. Once it is over, the collector
    catches up on what the body allocated."""
    init_repository(tmp_path, no_git=True)
    _directory(tmp_path, 300)
    repo = find_repository(tmp_path)
    try:
        scanner = Scanner(repo, store=True)
        _from_now(collections)
        snapshot = scanner.snapshot(RepoPath("data"))
        assert collections, "the collector ran once the snapshot was taken"
        assert not [names for names in collections if "snapshot" in names]
        assert snapshot.files == 300

        (tmp_path / "data" / "d3" / "3.txt").unlink()
        pointer = Pointer(RepoPath("data"), snapshot.digest, snapshot.size, snapshot.files)
        _from_now(collections)
        result = checkout_pointers(repo, [pointer])
        assert not [names for names in collections if "checkout_pointers" in names]
        assert result.placed == 1
    finally:
        repo.close()
