"""Python's cycle collector, paused while mlx builds the many small objects of a large directory.

Reference counting frees nearly everything mlx makes. The cycle collector only looks for cycles,
but it runs every 700 allocations, and whenever the objects allocated since its last full pass
outnumber a quarter of the rest, it walks every object alive. Building the 10^5 entries of a
directory (stat tuples, digests, tree entries, workers' results) grows the heap by millions of
objects, so it walks the whole heap again and again: 10% of the main process of a pull of 10^5
files (docs/design.md, "Python's cycle collector is paused where mlx builds many entries").

The bodies paused make plain data: tuples, strings, digests, dicts of them. The few cycles they may
make (a caught exception and its frame) are collected when the body ends and the collector runs
again. Nothing that talks to a network runs paused (aiohttp and botocore make cycles that hold
buffers), and a long-lived process (the pipeline's) is paused only for each body.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    """The body runs without cycle collection; it resumes afterwards, unless it was off already
    (an outer pause, or whoever embeds mlx turned it off). Also a decorator."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
