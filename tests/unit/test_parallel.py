"""fork_each: results in order whoever computed them; a worker's failure is this process's to redo."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from mlxkit.parallel import MAX_CLAIMS, fork_each, in_background, map_chunks


def no_children_left() -> bool:
    """No child process (a zombie included) but the S3 test server this pytest worker may run
    (tests/remote_fixtures.py)."""
    tasks = Path(f"/proc/{os.getpid()}/task")
    children = {pid for task in tasks.iterdir() for pid in (task / "children").read_text().split()}
    return all(b"moto.server" in Path(f"/proc/{pid}/cmdline").read_bytes() for pid in children)


class Noted:
    """Returns (item, pid), each process noting the items it computes in `log`. This process waits
    for a worker's first note before computing anything, and workers wait for this process's first
    note before computing more than one: so every process surely takes part."""

    def __init__(self, log: Path) -> None:
        self.parent = os.getpid()
        self.log = log

    def __call__(self, item: int) -> tuple[int, int]:
        here = os.getpid() == self.parent
        self.wait_for("worker" if here else "parent")
        with open(self.log, "a") as handle:
            handle.write(f"{'parent' if here else 'worker'} {item}\n")
        return (item, os.getpid()) if here else self.in_worker(item)

    def wait_for(self, who: str) -> None:
        if who == "parent" and not self.log.exists():
            return  # a worker's first item: nothing to wait for
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not (self.log.exists() and who in self.log.read_text()):
            time.sleep(0.001)

    def in_worker(self, item: int) -> tuple[int, int]:
        return item, os.getpid()


@pytest.mark.parametrize("jobs", [2, 3])
def test_fork_each_returns_every_result_in_the_order_of_the_items_whoever_computed_it(tmp_path, jobs):
    results = fork_each(Noted(tmp_path / "log"), list(range(40)), jobs=jobs)
    assert [item for item, _pid in results] == list(range(40))
    assert os.getpid() in {pid for _item, pid in results}
    assert len({pid for _item, pid in results}) > 1
    assert no_children_left()


def test_fork_each_with_one_job_forks_nothing():
    assert fork_each(lambda item: (item, os.getpid()), [1, 2, 3], jobs=1) == [(n, os.getpid()) for n in (1, 2, 3)]


def test_fork_each_claims_batches_when_there_are_more_items_than_claims():
    items = list(range(MAX_CLAIMS * 3 + 7))
    assert fork_each(lambda n: n * 2, items, jobs=2) == [n * 2 for n in items]


class FailsInWorkers(Noted):
    """Fails (or dies) in a worker, after noting the item."""

    def __init__(self, log: Path, *, die: bool) -> None:
        super().__init__(log)
        self.die = die

    def in_worker(self, item: int) -> tuple[int, int]:
        if self.die:
            os._exit(9)
        raise ValueError(f"item {item} failed in a worker")


@pytest.mark.parametrize("die", [False, True], ids=["raises", "dies"])
def test_fork_each_computes_here_what_a_worker_failed_on(tmp_path, die):
    log = tmp_path / "failed-in-worker"
    results = fork_each(FailsInWorkers(log, die=die), list(range(40)), jobs=2)
    assert results == [(item, os.getpid()) for item in range(40)]
    assert log.read_text().count("worker") == 1  # the worker stopped at its first failure
    assert no_children_left()


def test_fork_each_raises_an_error_of_this_process_after_ending_the_workers():
    def fails_here(item: int) -> int:
        time.sleep(0.005)
        if item == 30:
            raise KeyError(item)
        return item

    with pytest.raises(KeyError):  # whoever took item 30 (a worker's failure is redone here)
        fork_each(fails_here, list(range(40)), jobs=2)
    assert no_children_left()


def test_in_background_waits_for_its_function_and_raises_what_it_raised():
    done = []
    with in_background(lambda: (time.sleep(0.05), done.append(1))):
        assert done == []  # the body runs while the function does
    assert done == [1]

    def fail() -> None:
        raise OSError("the disk said no")

    with pytest.raises(OSError, match="the disk said no"), in_background(fail):
        pass


def test_in_background_every_repeats_its_function_while_the_body_runs_and_never_after():
    calls = []
    deadline = time.monotonic() + 10
    with in_background(lambda: calls.append(time.monotonic()), every=0.01):
        while len(calls) < 2 and time.monotonic() < deadline:  # however slow the machine
            time.sleep(0.01)
    ended = time.monotonic()
    count = len(calls)
    time.sleep(0.05)

    assert count >= 2 and len(calls) == count  # repeated, and stopped with the body
    assert all(call < ended for call in calls)

    def fail() -> None:
        raise OSError("the disk said no")

    with pytest.raises(OSError, match="the disk said no"), in_background(fail, every=0.01):
        time.sleep(0.05)


def _pids(items: list[int]) -> list[int]:
    return [os.getpid() for _ in items]


def test_map_chunks_forks_for_few_items_when_told_to(tmp_path):
    pids = [pid for chunk in map_chunks(_pids, list(range(4)), jobs=2, chunk=1, min_items=2) for pid in chunk]
    assert len(pids) == 4 and os.getpid() not in pids
