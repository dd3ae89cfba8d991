"""SIGINT and SIGTERM raise, so that `finally` blocks release the lock and remove temp files; the
command then exits 130 or 143 with "mlx: interrupted" (cli/app.py and cli/fastpath.py)."""

from __future__ import annotations

import signal
from typing import NoReturn

from mlxkit.errors import Interrupted


class Signalled(Interrupted):
    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


def _raise_signal(signum: int, _frame: object) -> NoReturn:
    raise Signalled(128 + signum)


def raise_on_signals() -> None:
    signal.signal(signal.SIGTERM, _raise_signal)
    signal.signal(signal.SIGINT, _raise_signal)
