"""The `mlx` command. `main` answers `--version`, and a `repro` with nothing to do (cli/fastpath.py),
before importing typer, to start in milliseconds."""

from __future__ import annotations

import sys


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
