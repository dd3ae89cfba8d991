"""How the core reports progress without printing: the CLI passes a Progress, tests pass nothing."""

from __future__ import annotations

from typing import Protocol


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
