"""Shared fixtures: a hermetic environment, a temporary repository, and a way to run `mlx`.

- Every test runs with HOME and the XDG directories in its own tmp folder, a fixed git identity,
  no system git config, NO_COLOR=1 and COLUMNS=120 (autouse `hermetic_env`).
- `repo` is a git repository (branch `main`) after `mlx init`; `repo.gen({...})` writes files,
  `repo.commit("msg")` commits everything, `repo.objects()` lists the cache.
- `mlx(*args, cwd=None, input=None)` runs mlx (cwd: the repository) and returns
  `Result(code, out, err)`. In tests/e2e (and anywhere outside tests/cli) it runs the installed
  `mlx` executable in a subprocess. In tests/cli it calls `mlxkit.cli.main(argv)` in-process -- the
  executable's own entry point, without a Python start-up per command (about 0.2 s each).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

pytest_plugins = ["tests.remote_fixtures"]

# Property tests explore new examples on a developer's machine and replay fixed ones in CI, so a
# CI run can never fail on an example nobody has seen (STYLE.md §4).
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

OBJECT_NAME = re.compile(r"[0-9a-f]{2}/[0-9a-f]{62}")
# A modification time well outside the stat cache's "racily clean" window (0.1 s, or 2 s for
# whole-millisecond timestamps), so that a file written by a test is trusted without sleeping.
OLD = 3600


def mlx_executable() -> str:
    beside = Path(sys.executable).with_name("mlx")
    if beside.is_file():
        return str(beside)
    found = shutil.which("mlx")
    if found is None:  # pragma: no cover - an installation problem
        pytest.exit("the 'mlx' executable is not installed next to this Python; run 'make test'", returncode=4)
    return found


@dataclass(frozen=True, repr=False)
class Result:
    code: int
    out: str
    err: str

    @property
    def json(self) -> Any:
        return json.loads(self.out)

    @property
    def err_lines(self) -> list[str]:
        return self.err.splitlines()

    def expect_error(self, code: int, message: str, hint: str | None = None) -> None:
        """Exit `code`, and stderr is exactly `mlx: <message>` (and `hint: <hint>`), no traceback."""
        assert "Traceback" not in self.err, self
        assert self.code == code, self
        expected = [f"mlx: {message}"] + ([f"hint: {hint}"] if hint is not None else [])
        assert self.err_lines == expected, self

    def __repr__(self) -> str:  # shown by pytest when an assertion about a Result fails
        return f"<exit {self.code}>\n--- stdout\n{self.out}--- stderr\n{self.err}"


Mlx = Callable[..., Result]


# -- the environment -----------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def hermetic_env(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path_factory.mktemp("home")
    for name in list(os.environ):
        if name.startswith(("MLX_", "GIT_")) or name in ("PYTHONWARNINGS",):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(home))
    for xdg in ("CONFIG", "CACHE", "DATA", "STATE"):
        monkeypatch.setenv(f"XDG_{xdg}_HOME", str(home / f".{xdg.lower()}"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(home / ".run"))
    monkeypatch.setenv("GIT_AUTHOR_NAME", "Ada Tester")
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", "ada@example.com")
    monkeypatch.setenv("GIT_COMMITTER_NAME", "Ada Tester")
    monkeypatch.setenv("GIT_COMMITTER_EMAIL", "ada@example.com")
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "120")
    monkeypatch.setenv("TERM", "dumb")


# -- running mlx ---------------------------------------------------------------------------------


def _default_cwd(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    return repo if repo.is_dir() else tmp_path


def run_subprocess(
    args: tuple[object, ...], cwd: Path, input: str | bytes | None = None, timeout: float = 120, *, wrapper: list[str] | None = None
) -> Result:
    text = not isinstance(input, bytes)
    proc = subprocess.run(
        [*(wrapper or []), mlx_executable(), *map(str, args)],
        cwd=cwd, input=input, capture_output=True, text=text, timeout=timeout, check=False,
        **({"encoding": "utf-8", "errors": "replace"} if text else {}),
    )
    out, err = proc.stdout, proc.stderr
    if isinstance(out, bytes):
        out, err = out.decode("utf-8", "replace"), err.decode("utf-8", "replace")
    return Result(proc.returncode, out, err)


def run_as_a_user(cwd: Path, *args: object) -> Result:
    """The mlx executable without root's override of file permissions, as an ordinary user meets
    them (the tests often run as root); skipped where root has no setpriv to give it up with."""
    if os.geteuid() != 0:
        return run_subprocess(args, cwd)
    if shutil.which("setpriv") is None:
        pytest.skip("needs setpriv to drop root's override of file permissions")
    return run_subprocess(args, cwd, wrapper=["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--"])


def run_in_process(args: tuple[object, ...], cwd: Path, input: str | None = None) -> Result:
    import io
    import signal
    from contextlib import redirect_stderr, redirect_stdout

    from mlxkit.cli import main, render

    out, err = io.StringIO(), io.StringIO()
    handlers = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    before, stdin = os.getcwd(), sys.stdin
    render.settings.verbose = render.settings.quiet = False
    os.chdir(cwd)
    sys.stdin = io.StringIO(input or "")
    try:
        with redirect_stdout(out), redirect_stderr(err):
            code = main([str(arg) for arg in args])
    finally:
        os.chdir(before)
        sys.stdin = stdin
        for signum, handler in handlers.items():
            signal.signal(signum, handler)
    return Result(code, out.getvalue(), err.getvalue())


@pytest.fixture
def mlx(request: pytest.FixtureRequest, tmp_path: Path) -> Mlx:
    """Run mlx: in-process for tests/cli, the installed executable everywhere else."""
    in_process = "cli" in Path(str(request.node.path)).relative_to(Path(__file__).parent).parts[:1]

    def run(*args: object, cwd: Path | str | None = None, input: str | bytes | None = None) -> Result:
        where = Path(cwd) if cwd is not None else _default_cwd(tmp_path)
        if in_process and not isinstance(input, bytes):
            return run_in_process(args, where, input)
        return run_subprocess(args, where, input)

    return run


@pytest.fixture
def mlx_path() -> str:
    """The installed `mlx` executable, for tests that start it with Popen."""
    return mlx_executable()


# -- repositories --------------------------------------------------------------------------------


def git(cwd: Path, *args: str, check: bool = True) -> str:
    proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    if check and proc.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed ({proc.returncode}): {proc.stderr}")
    return proc.stdout


def age(path: Path, seconds: float = OLD) -> None:
    """Set the modification time of `path` (and everything below it) `seconds` into the past."""
    when = time.time() - seconds
    targets = [path]
    if path.is_dir() and not path.is_symlink():
        targets += [Path(d) / n for d, dirs, files in os.walk(path) for n in dirs + files]
    for target in targets:
        if not target.is_symlink():
            os.utime(target, (when, when))


class Repo:
    def __init__(self, path: Path) -> None:
        self.path = path

    def __truediv__(self, other: str) -> Path:
        return self.path / other

    def gen(self, spec: dict[str, Any], *, old: bool = False, base: Path | None = None) -> list[Path]:
        """Write files: `{"dir": {"name": "text" | b"bytes", "sub": {...}}}`; an empty dict makes an
        empty directory. `old=True` backdates every file written (see OLD). Returns the files."""
        written: list[Path] = []
        self._gen(base or self.path, spec, written)
        if old:
            for path in written:
                age(path)
        return written

    def _gen(self, where: Path, spec: dict[str, Any], written: list[Path]) -> None:
        where.mkdir(parents=True, exist_ok=True)
        for name, content in spec.items():
            path = where / name
            if isinstance(content, dict):
                self._gen(path, content, written)
                continue
            data = content.encode() if isinstance(content, str) else content
            if path.exists() and not os.access(path, os.W_OK):
                path.unlink()  # a read-only link into the cache: replace it, as an editor would
            with open(path, "wb") as handle:
                handle.write(data)
            written.append(path)

    def age(self, *relpaths: str, seconds: float = OLD) -> None:
        """Backdate files (all of them, outside .git and .mlx, when none is named)."""
        for rel in relpaths or [p.name for p in self.path.iterdir() if p.name not in (".git", ".mlx")]:
            age(self.path / rel, seconds)

    def git(self, *args: str, check: bool = True) -> str:
        return git(self.path, *args, check=check)

    def commit(self, message: str = "commit") -> str:
        self.git("add", "-A")
        self.git("commit", "-q", "--allow-empty", "-m", message)
        return self.git("rev-parse", "HEAD").strip()

    @property
    def cache(self) -> Path:
        return self.path / ".mlx" / "cache"

    def objects(self) -> set[str]:
        """Hex digests of every well-named object in the cache."""
        top = self.cache / "objects"
        found = set()
        for path in top.rglob("*") if top.is_dir() else ():
            relative = path.relative_to(top).as_posix()
            if path.is_file() and OBJECT_NAME.fullmatch(relative):
                found.add(relative.replace("/", ""))
        return found

    def object_path(self, digest: str) -> Path:
        hex_digits = digest.removeprefix("blake3:")
        return self.cache / "objects" / hex_digits[:2] / hex_digits[2:]

    def pointer(self, target: str) -> dict[str, Any]:
        import yaml

        return yaml.safe_load((self.path / f"{target}.mlx").read_text(encoding="utf-8"))

    def temp_files(self) -> list[str]:
        """Leftover `.mlx-tmp-*` files anywhere in the repository (outside .git)."""
        return sorted(
            p.relative_to(self.path).as_posix()
            for p in self.path.rglob(".mlx-tmp-*")
            if ".git" not in p.relative_to(self.path).parts
        )

    def listing(self, below: str = "") -> list[str]:
        """Every file and directory below `below` (relative, sorted; directories end in '/')."""
        top = self.path / below if below else self.path
        entries = []
        for path in top.rglob("*"):
            rel = path.relative_to(top)
            if rel.parts[0] in (".git", ".mlx"):
                continue
            entries.append(rel.as_posix() + ("/" if path.is_dir() and not path.is_symlink() else ""))
        return sorted(entries)


def clone(repo: Repo, tmp_path: Path, name: str = "clone") -> Repo:
    """A `git clone` of `repo` at `tmp_path / name`: no cache, no workspace data yet."""
    target = tmp_path / name
    git(tmp_path, "clone", "-q", str(repo.path), str(target))
    return Repo(target)


@pytest.fixture
def repo(tmp_path: Path, mlx: Mlx) -> Repo:
    path = tmp_path / "repo"
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    result = mlx("init", cwd=path)
    assert result.code == 0, result
    return Repo(path)
