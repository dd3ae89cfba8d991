"""Every error mlx raises on purpose, each class with its documented exit code.

Messages follow git's style: lowercase, no full stop, the subject quoted; a hint says what to do
next. Only the CLI turns these into output (cli/app.py); docs/exit-codes.md publishes the table.
"""

from __future__ import annotations

from typing import ClassVar


class MlxError(Exception):
    """An error mlx understands: a one-line message, an optional hint and an exit code."""

    exit_code: ClassVar[int] = 3

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __reduce__(self) -> tuple[object, ...]:
        # Errors cross process boundaries (mlxkit.parallel) whatever their __init__ takes.
        return (_rebuild, (type(self), dict(self.__dict__)))


def _rebuild(cls: type[MlxError], state: dict[str, object]) -> MlxError:
    error = cls.__new__(cls)
    Exception.__init__(error, state.get("message"))
    error.__dict__.update(state)
    return error


class UsageError(MlxError):
    """Arguments that do not make sense together, or name nothing mlx knows."""

    exit_code = 2


class NotARepositoryError(MlxError):
    exit_code = 10

    def __init__(self, start: str) -> None:
        super().__init__(
            f"not an mlx repository (or any parent up to the mount point): '{start}'",
            hint="run 'mlx init' at the top of your project",
        )


class LockedError(MlxError):
    exit_code = 11


class InvalidFileError(MlxError):
    """A file mlx reads is malformed; the message names the file and, where known, the line."""

    exit_code = 12

    def __init__(self, source: str, problem: str, *, line: int | None = None, hint: str | None = None) -> None:
        where = f"{source}:{line}" if line is not None else source
        super().__init__(f"invalid file '{where}': {problem}", hint=hint)
        self.source = source
        self.line = line
        self.problem = problem


class UnsupportedFormatError(MlxError):
    exit_code = 13


class UnsafePathError(MlxError):
    exit_code = 14


class UnreadableError(MlxError):
    """A file or directory mlx has to read cannot be read (its permissions, an I/O error). `problem`
    is the OSError, or what stands in the way in words."""

    def __init__(self, path: str, problem: OSError | str, *, hint: str | None = None) -> None:
        self.problem = problem if isinstance(problem, str) else problem_text(problem)
        super().__init__(f"cannot read '{path}': {self.problem}", hint=hint)
        self.path = path


def detail(exc: MlxError) -> str:
    """What went wrong, for a message that names the file already: its line and problem where known."""
    if isinstance(exc, InvalidFileError):
        return exc.problem if exc.line is None else f"line {exc.line}: {exc.problem}"
    if isinstance(exc, UnreadableError):
        return exc.problem
    return exc.message


class WouldOverwriteError(MlxError):
    exit_code = 15

    def __init__(self, paths: list[str], *, tracked: str | None = None, verb: str = "overwrite") -> None:
        """`tracked`: the tracked path that holds the first of `paths` (what `mlx add` must name)."""
        first = paths[0]
        more = f" (and {len(paths) - 1} more)" if len(paths) > 1 else ""
        super().__init__(
            f"refusing to {verb} '{first}'{more}: its content is not in the cache",
            hint=f"run 'mlx add {tracked or first}' to keep it, or pass --force to discard it",
        )
        self.paths = paths


class ChangedWhileReadingError(MlxError):
    exit_code = 16

    def __init__(self, path: str) -> None:
        super().__init__(
            f"'{path}' changed while it was being added",
            hint="wait until whatever writes it has finished, then run the command again",
        )
        self.path = path


class GitRequiredError(MlxError):
    exit_code = 17

    def __init__(self, feature: str, *, hint: str | None = None) -> None:
        super().__init__(f"{feature} needs a git repository", hint=hint or "run 'git init' first")


class MissingObjectError(MlxError):
    exit_code = 20


class IntegrityError(MlxError):
    exit_code = 21


class RemoteError(MlxError):
    exit_code = 22


class PipelineError(MlxError):
    exit_code = 30


class StageFailedError(MlxError):
    exit_code = 31


class Interrupted(BaseException):
    """Raised by the SIGTERM handler so that `finally` blocks clean up; exits with 143."""

    exit_code: ClassVar[int] = 143


EXIT_CODES: dict[int, str] = {
    0: "success",
    1: "a check said no (status --exit-code, fsck found problems)",
    2: "usage error: bad arguments or options",
    3: "an mlx error not classified below, or a file operation the system refused",
    10: "not an mlx repository",
    11: "the repository is locked by another command (the message names it)",
    12: "an invalid or unreadable file: pointer, config, tree, mlx.lock or YAML (the message names it)",
    13: "a file format this version of mlx does not read",
    14: "an unsafe path: outside the repository, through a symbolic link, or reserved",
    15: "refusing to overwrite or delete data that is not in the cache",
    16: "a file changed while mlx was reading it",
    17: "the command needs git",
    20: "an object is missing from the cache",
    21: "integrity failure: an object does not match its hash",
    22: "remote failure",
    30: "pipeline definition error",
    31: "a stage failed",
    70: "internal error (a bug): rerun with -v for the traceback",
    130: "interrupted (SIGINT, Ctrl-C)",
    143: "terminated (SIGTERM)",
}


def problem_text(exc: BaseException) -> str:
    """What went wrong reading a file, without repeating the file's name (for a line that names it)."""
    if isinstance(exc, InvalidFileError):
        return exc.problem
    if isinstance(exc, OSError):
        return exc.strerror or str(exc)
    return str(exc)
