"""Spread per-file work over processes: Python holds the GIL for most of the ~30 us it spends on
each small file, so threads cannot use a second core, and forked workers can.

`map_chunks` runs `function(chunk)` for consecutive chunks of `items`, in forked worker processes when
there are enough items to pay for the fork (about 10 ms), in this process otherwise. Results come
back in order, one list per chunk, as soon as each chunk is done, so the caller can report progress
and record results while the rest runs.

`fork_each` is the light one, for work whose results are small and whose items are few and uneven
(a walk's directories): plain `fork()`, no pool, no pickling on the way in, and this process works
too. It costs about 3 ms where a pool costs 20, which matters to a command that takes 0.4 s.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

MIN_ITEMS_FOR_PROCESSES = 4000
CHUNK = 1000


def default_jobs() -> int:
    """The CPUs this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def map_chunks(
    function: Callable[[Sequence[T]], R],
    items: Sequence[T],
    *,
    jobs: int,
    chunk: int = CHUNK,
    min_items: int = MIN_ITEMS_FOR_PROCESSES,
) -> Iterator[R]:
    chunks = [items[i : i + chunk] for i in range(0, len(items), chunk)]
    if jobs <= 1 or len(items) < min_items or len(chunks) < 2:
        yield from map(function, chunks)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    context = multiprocessing.get_context("fork")
    # libc's prctl is found here, not in the workers: an import or a dlopen() in a forked child
    # waits for ever on a lock that another thread of this process held at the fork.
    initargs = (os.getpid(), _prctl())
    with ProcessPoolExecutor(
        max_workers=min(jobs, len(chunks)), mp_context=context, initializer=_die_with_parent, initargs=initargs
    ) as pool:
        yield from pool.map(function, chunks)


@contextmanager
def in_background(function: Callable[[], object], *, every: float | None = None) -> Iterator[None]:
    """Run `function` on a thread while the body runs; wait for it on the way out, and raise what
    it raised. With `every`, run it every `every` seconds instead, until the body ends. For a call
    that waits on the kernel (a syncfs) and takes no lock that a fork would copy held: no import,
    no dlopen (see fs/atomic.py's filesystem_syncer), since the body may fork workers at any moment."""
    import threading

    failure: list[BaseException] = []
    done = threading.Event()

    def target() -> None:
        try:
            if every is None:
                function()
            while every is not None and not done.wait(every):
                function()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller below
            failure.append(exc)

    thread = threading.Thread(target=target, name="mlx-background", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()
    if failure:
        raise failure[0]


def _prctl() -> Callable[..., int] | None:
    try:
        import ctypes

        return ctypes.CDLL(None, use_errno=True).prctl  # type: ignore[no-any-return]
    except (OSError, AttributeError):  # pragma: no cover - not Linux
        return None


def _die_with_parent(parent: int, prctl: Callable[..., int] | None) -> None:
    """Worker initializer: a worker whose parent is killed (kill -9) would wait on its task queue
    forever, holding whatever it inherited; have the kernel kill it with its parent instead.

    Workers ignore SIGINT and SIGTERM: Ctrl-C signals the whole process group, and a worker that
    raised inside the pool's queue (holding its lock) would leave the others, and the parent
    waiting for them, stuck. The parent handles the signal and shuts the pool down.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if prctl is None:  # pragma: no cover - not Linux
        return
    prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


MAX_CLAIMS = 1024  # claim numbers, 4 bytes each, fill at most one page: the smallest a pipe can be


def fork_each(function: Callable[[T], R], items: Sequence[T], *, jobs: int) -> list[R]:
    """`[function(item) for item in items]`, computed by this process and `jobs - 1` forked ones.

    Every process claims the next batch of items by reading its number from one pipe (a read of 4
    bytes from a pipe is atomic), so an item that takes long holds up only the process that took it.
    Workers inherit `function` and `items` through fork; only results are pickled. A worker that
    raises, or dies, leaves the batch it was on (and whatever it had not sent) to this process, which
    computes it itself: an error surfaces here with its own type and traceback, never pickled.
    """
    if jobs <= 1 or len(items) < 2:
        return [function(item) for item in items]
    import pickle  # noqa: F401 - not at start-up; before the fork, so that workers inherit it

    step = -(-len(items) // MAX_CLAIMS)
    batches = [range(start, min(start + step, len(items))) for start in range(0, len(items), step)]
    claims_out, claims_in = os.pipe()
    try:
        os.write(claims_in, b"".join(n.to_bytes(4, "little") for n in range(len(batches))))
    finally:
        os.close(claims_in)  # once the numbers are read, a read returns b"": no more work
    done: dict[int, list[R]] = {}
    workers: list[tuple[int, int]] = []  # pid, read end of its result pipe
    try:
        for _ in range(min(jobs, len(batches)) - 1):
            try:
                workers.append(_fork_worker(function, items, batches, claims_out))
            except OSError:  # no process to be had (EAGAIN): fewer workers, not a failure
                break
        _work(function, items, batches, claims_out, done)
        for _pid, results in workers:
            done.update(_receive(results))
    except BaseException:
        _end(workers, kill=True)
        raise
    else:
        _end(workers, kill=False)
    finally:
        os.close(claims_out)
    for number, batch in enumerate(batches):
        if number not in done:  # a worker failed on it, or died: compute it here
            done[number] = [function(items[i]) for i in batch]
    return [result for number in range(len(batches)) for result in done[number]]


def _work(function: Callable[[T], R], items: Sequence[T], batches: list[range], claims: int, done: dict[int, list[R]]) -> None:
    while len(claim := os.read(claims, 4)) == 4:
        number = int.from_bytes(claim, "little")
        done[number] = [function(items[i]) for i in batches[number]]


def _fork_worker(function: Callable[[T], R], items: Sequence[T], batches: list[range], claims: int) -> tuple[int, int]:
    results_out, results_in = os.pipe()
    try:
        pid = os.fork()
    except OSError:
        os.close(results_out)
        os.close(results_in)
        raise
    if pid == 0:  # the worker: never returns, never runs the parent's cleanup or atexit handlers
        # It holds no lock (repo/lock.py closes them in a forked child), and it needs no
        # PR_SET_PDEATHSIG (ctypes costs the 3 ms it would save): orphaned, it only finishes the
        # claims left, then fails to send its results and exits.
        status = 1
        try:
            os.close(results_out)
            done: dict[int, list[R]] = {}
            try:
                _work(function, items, batches, claims, done)
            except BaseException:  # noqa: BLE001 - the parent computes this batch again and raises
                pass
            import pickle

            data = pickle.dumps(done, protocol=pickle.HIGHEST_PROTOCOL)
            view = memoryview(data)
            while view:
                view = view[os.write(results_in, view) :]
            status = 0
        finally:
            os._exit(status)
    os.close(results_in)
    return pid, results_out


def _receive(results: int) -> dict[int, list[R]]:
    import pickle

    chunks = []
    while chunk := os.read(results, 1 << 20):
        chunks.append(chunk)
    try:
        return pickle.loads(b"".join(chunks))  # noqa: S301 - our own child's bytes
    except Exception:  # noqa: BLE001 - a worker that died mid-write sent nothing usable
        return {}


def _end(workers: list[tuple[int, int]], *, kill: bool) -> None:
    """Reap every worker; `kill` first when this process is leaving on an error (Ctrl-C included)."""
    import signal

    for pid, results in workers:
        os.close(results)
        try:
            if kill:
                os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except (ChildProcessError, ProcessLookupError):
            pass
