"""Open files a little ahead of reading them, and ask the kernel to start reading them now."""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterator, Sequence

WINDOW = 64


def opened_ahead(
    paths: Sequence[str], advise: Sequence[bool] | None = None, window: int = WINDOW
) -> Iterator[int | OSError]:
    """Yield, for each of `paths` in order, a read-only descriptor (the caller closes it) or the
    OSError that opening it raised. Up to `window` files are open ahead of the one yielded, and
    those whose `advise` is true (all of them without `advise`) have had POSIX_FADV_WILLNEED:
    their pages are read in parallel."""
    pending: deque[int | OSError] = deque()
    following = 0
    try:
        for _ in range(len(paths)):
            while following < len(paths) and len(pending) < window:
                try:
                    fd = os.open(paths[following], os.O_RDONLY | os.O_NOFOLLOW)
                except OSError as exc:
                    pending.append(exc)
                else:
                    pending.append(fd)
                    if advise is None or advise[following]:
                        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_WILLNEED)
                following += 1
            yield pending.popleft()
    finally:
        for left in pending:
            if isinstance(left, int):
                os.close(left)
