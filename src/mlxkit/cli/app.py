"""The typer application: global options, the command list, and the one error boundary.

Every error leaves here as one line (and a hint) on stderr with its documented exit code
(docs/exit-codes.md); a traceback appears only with -v. SIGINT exits 130 and SIGTERM 143, after
`finally` blocks have removed temporary files.
"""

from __future__ import annotations

import errno
import importlib
import os
import sys
from typing import Annotated

import typer

from mlxkit import progress
from mlxkit.cli import render
from mlxkit.cli.signals import Signalled, raise_on_signals
from mlxkit.errors import MlxError

HELP = """\
Version data and models beside your code, run the pipeline, pin every result.

Start with [bold]mlx init[/bold] in a git repository, then [bold]mlx add data/[/bold].
Exit codes are listed in docs/exit-codes.md; add -v to any command for details on errors.
"""

app = typer.Typer(
    name="mlx",
    help=HELP,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)


def _version(value: bool) -> None:
    if value:
        from mlxkit import __version__

        sys.stdout.write(f"mlx {__version__}\n")
        raise typer.Exit()


@app.callback()
def _root(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show tracebacks and more detail on errors.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only errors.")] = False,
    version: Annotated[
        bool, typer.Option("--version", "-V", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    render.settings.verbose = verbose
    render.settings.quiet = quiet
    progress.set_warning_handler(render.warning)


# Command name -> the module in mlxkit.cli.commands that registers it, in the order `--help` lists them.
COMMANDS = {
    "init": "init", "add": "add", "status": "status", "checkout": "checkout", "remove": "remove", "move": "move",
    "push": "transfer", "fetch": "transfer", "pull": "transfer",
    "gc": "gc", "fsck": "fsck", "config": "config", "unprotect": "unprotect", "doctor": "doctor",
    "run": "run", "repro": "run", "dag": "pipeline", "freeze": "pipeline", "unfreeze": "pipeline", "stage": "pipeline",
    "remote": "remote",
    "install": "install", "merge-driver": "install",
    "diff": "diff",
    "metrics": "metrics", "params": "params",
    "plots": "plots",
}  # fmt: skip


def _register(args: list[str]) -> None:
    """Import and register only the module of the command being run (typer inspects every registered
    command's signature at start-up: ~25 ms for all of them); every module for help and completion."""
    named = next((arg for arg in args if not arg.startswith("-")), None)
    if named in COMMANDS and not any(name.endswith("_COMPLETE") for name in os.environ):
        modules = [COMMANDS[named]]
    else:
        modules = list(dict.fromkeys(COMMANDS.values()))
    app.registered_commands.clear()  # main() may run more than once in a process (the tests do)
    app.registered_groups.clear()
    for module in modules:
        importlib.import_module(f"mlxkit.cli.commands.{module}").register(app)


def _is_usage_error(exc: Exception) -> bool:
    """click's ClickException (typer vendors click, so match it by shape, not by import)."""
    return any(cls.__name__ == "ClickException" for cls in type(exc).__mro__) and hasattr(exc, "show")


def _report(error: MlxError, cause: BaseException) -> int:
    """One line and a hint on stderr (and, with -v, where `cause` was raised); the exit code."""
    render.error(error)
    if render.settings.verbose:
        import traceback

        traceback.print_exception(cause)
    return error.exit_code


def _system_refusal(exc: OSError) -> MlxError | None:
    """What the system refused (permissions, a full disk, a read-only file system, a FIFO where a
    directory goes), as one line naming the file when the error names one (exit 3). None for an
    error that names no file and is none of those conditions: that is a bug."""
    names = [os.fsdecode(name) for name in (exc.filename, exc.filename2) if isinstance(name, (str, bytes, os.PathLike))]
    if not exc.strerror or not (names or exc.errno in _SYSTEM_HINTS):  # a full disk under a copy between descriptors names no file
        return None
    message = f"{exc.strerror[0].lower()}{exc.strerror[1:]}"
    if names:
        message += ": " + " -> ".join(f"'{os.path.relpath(name) if os.path.isabs(name) else name}'" for name in names)
    return MlxError(
        message,
        hint=_SYSTEM_HINTS.get(exc.errno or 0, "-v shows where it happened"),
    )


_SYSTEM_HINTS = {
    errno.EACCES: "check that path's permissions (and its parents'); -v shows where it happened",
    errno.EPERM: "check that path's permissions (and its parents'); -v shows where it happened",
    errno.ENOSPC: "free some space on that file system, then run the command again",
    errno.EDQUOT: "free some space within your quota, then run the command again",
    errno.EROFS: "that file system is mounted read-only",
}


def run(args: list[str]) -> int:
    raise_on_signals()
    try:
        try:
            _register(args)
            code = app(args=args, prog_name="mlx", standalone_mode=False)
            return code if isinstance(code, int) else 0
        finally:
            progress.flush_warnings()  # before the error line, which stays the last
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except MlxError as exc:
        return _report(exc, exc)
    except Signalled as exc:
        sys.stderr.write("mlx: interrupted\n")
        return exc.code
    except KeyboardInterrupt:
        sys.stderr.write("mlx: interrupted\n")
        return 130
    except OSError as exc:
        refused = _system_refusal(exc)
        if refused is not None:
            return _report(refused, exc)
        render.internal_error(exc)
        return 70
    except Exception as exc:  # noqa: BLE001 - the boundary
        if _is_usage_error(exc):
            exc.show()  # type: ignore[attr-defined] - click's plain "Usage: ... Error: ..." lines
            return exc.exit_code  # type: ignore[attr-defined,no-any-return]
        render.internal_error(exc)
        return 70
    return 0
