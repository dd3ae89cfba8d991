"""How the core reports progress without printing: the CLI passes a Progress, tests pass nothing.
And warnings that cannot wait for a command's result (a remote that did not answer and is being
retried): `warn` hands them to the handler the CLI installs, which prints them on stderr at once;
without one (a library caller, a test) they are dropped."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

_warning_handler: Callable[[str], None] | None = None


def set_warning_handler(handler: Callable[[str], None] | None) -> None:
    global _warning_handler
    _warning_handler = handler


def warn(text: str) -> None:
    """Report `text` now (it may be called from any thread)."""
    if _warning_handler is not None:
        _warning_handler(text)


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
