"""How the core reports progress without printing: the CLI passes a Progress, tests pass nothing.
And warnings that cannot wait for a command's result (a remote that did not answer and is being
retried): `warn` hands them to the handler the CLI installs, which prints them on stderr at once;
without one (a library caller, a test) they are dropped. Warnings of one kind that come in a storm
(sixteen requests throttled at once) are said once, and counted."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from typing import Protocol

REPEAT_WINDOW = 10.0  # seconds during which further warnings of a kind already said are only counted


class Repeats:
    """Which warnings to say: the first of a `kind`, and then the next one of that kind only once
    `window` seconds have passed since the last one said. Those held back in between are counted,
    and the next one said (or `held`, at the end of the command) adds how many there were."""

    def __init__(self, window: float = REPEAT_WINDOW) -> None:
        self.window = window
        self._lock = threading.Lock()
        self._said: dict[Hashable, float] = {}  # kind -> when its last warning was said
        self._held: dict[Hashable, tuple[str, int]] = {}  # kind -> (its last text, how many held back)

    def admit(self, text: str, kind: Hashable) -> str | None:
        """The line to say now for `text` (with what was held back before it), or None to hold it."""
        now = time.monotonic()
        with self._lock:
            last = self._said.get(kind)
            if last is not None and now - last < self.window:
                _, count = self._held.get(kind, (text, 0))
                self._held[kind] = (text, count + 1)
                return None
            self._said[kind] = now
            _, count = self._held.pop(kind, (text, 0))
        return _with_count(text, count, now - last) if count else text

    def held(self) -> list[str]:
        """A line for each kind with warnings held back since its last one said (the last of them,
        with the count of the others); forgets them."""
        now = time.monotonic()
        with self._lock:
            held, self._held = self._held, {}
            return [_with_count(text, count - 1, now - self._said[kind]) if count > 1 else text
                    for kind, (text, count) in held.items()]


def _with_count(text: str, more: int, seconds: float) -> str:
    return f"{text} (and {more} more like it in the last {max(1, round(seconds))} s)"


_warning_handler: Callable[[str], None] | None = None
_repeats = Repeats()


def set_warning_handler(handler: Callable[[str], None] | None) -> None:
    """Install the handler for the command about to run (forgetting the warnings of any before it)."""
    global _warning_handler, _repeats
    _warning_handler = handler
    _repeats = Repeats()


def warn(text: str, *, kind: Hashable | None = None) -> None:
    """Report `text` now (it may be called from any thread). With a `kind`, a warning like one said
    less than REPEAT_WINDOW seconds ago is held back and counted (see `Repeats`)."""
    if _warning_handler is None:
        return
    line = text if kind is None else _repeats.admit(text, kind)
    if line is not None:
        _warning_handler(line)


def flush_warnings() -> None:
    """Say what is held back: the command is ending."""
    if _warning_handler is not None:
        for line in _repeats.held():
            _warning_handler(line)


class Progress(Protocol):
    def start(self, description: str, total: int | None = None, *, unit: str = "files") -> None: ...

    def advance(self, amount: int = 1) -> None: ...

    def finish(self) -> None: ...


class _NullProgress:
    def start(self, description: str, total: int | None = None, *, unit: str = "files") -> None:
        pass

    def advance(self, amount: int = 1) -> None:
        pass

    def finish(self) -> None:
        pass


NULL_PROGRESS: Progress = _NullProgress()
