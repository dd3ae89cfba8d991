"""The `mlx` command. `main` answers `--version`, and a `repro` with nothing to do (cli/fastpath.py),
before importing typer, to start in milliseconds; `entry` (the console script) also ends in
milliseconds."""

from __future__ import annotations

import os
import sys
from typing import NoReturn


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args in (["--version"], ["-V"]):
        from mlxkit import __version__

        sys.stdout.write(f"mlx {__version__}\n")
        return 0
    from mlxkit.cli.fastpath import answer

    if (code := answer(args)) is not None:
        return code
    from mlxkit.cli.app import run

    return run(args)


def entry() -> NoReturn:
    """The `mlx` executable: `main`, then the end of the process without the interpreter's teardown.

    At exit, Python frees every object that the imported modules hold, one at a time: 0.13 s after
    a command that imported botocore (a tenth of an S3 pull of 10^4 files), 0.1 s after a gc of
    10^5 files. Nothing of it reaches a file. So this does what that exit does that others can see
    (it joins the threads that are not daemons and shuts down executors, as the interpreter does;
    runs the atexit functions; flushes stdout and stderr) and ends with os._exit, as
    multiprocessing ends the children it forks. The command itself has already closed its files,
    its databases and its lock. A stream that cannot be flushed (a full disk, a closed pipe) is left to
    Python's exit, which reports it as it always has."""
    code = main()
    import atexit
    import threading

    threading._shutdown()  # type: ignore[attr-defined] - what the interpreter's exit calls first
    atexit._run_exitfuncs()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except OSError:
        raise SystemExit(code) from None
    os._exit(code)
