"""Spread per-file work over processes: Python holds the GIL for most of the ~30 us it spends on
each small file, so threads cannot use a second core, and forked workers can.

`map_chunks` runs `function(chunk)` for consecutive chunks of `items`, in forked worker processes when
there are enough items to pay for the fork (about 10 ms), in this process otherwise. Results come
back in order, one list per chunk, as soon as each chunk is done, so the caller can report progress
and record results while the rest runs.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

MIN_ITEMS_FOR_PROCESSES = 4000
CHUNK = 1000


def default_jobs() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def map_chunks(
    function: Callable[[Sequence[T]], R],
    items: Sequence[T],
    *,
    jobs: int,
    chunk: int = CHUNK,
    min_items: int | None = None,
) -> Iterator[R]:
    """`min_items`: how many items make processes worth it (default MIN_ITEMS_FOR_PROCESSES)."""
    chunks = [items[i : i + chunk] for i in range(0, len(items), chunk)]
    threshold = MIN_ITEMS_FOR_PROCESSES if min_items is None else min_items
    if jobs <= 1 or len(items) < threshold or len(chunks) < 2:
        yield from map(function, chunks)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(
        max_workers=min(jobs, len(chunks)), mp_context=context, initializer=_die_with_parent, initargs=(os.getpid(),)
    ) as pool:
        yield from pool.map(function, chunks)


def _die_with_parent(parent: int) -> None:
    """Worker initializer: a worker whose parent is killed (kill -9) would wait on its task queue
    forever, holding whatever it inherited; have the kernel kill it with its parent instead.

    Workers ignore SIGINT and SIGTERM: Ctrl-C signals the whole process group, and a worker that
    raised inside the pool's queue (holding its lock) would leave the others, and the parent
    waiting for them, stuck. The parent handles the signal and shuts the pool down.
    """
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # pragma: no cover - not Linux
        return
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)
