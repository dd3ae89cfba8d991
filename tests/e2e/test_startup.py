"""Start-up hygiene: the commands people run most import nothing heavy (DESIGN.md §4, STYLE.md §1).

`python -X importtime` lists every module a process imported; these tests read that list rather
than timing anything.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = {
    "pandas", "sklearn", "pyarrow", "fsspec", "s3fs", "botocore", "aiobotocore", "git", "dask", "jsonschema",
    "pydantic", "rich", "numpy",
}


def imported_modules(*args: str, cwd) -> set[str]:
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "mlxkit", *args],
        cwd=cwd, capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    modules = set()
    for line in proc.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            name = line.rsplit("|", 1)[1].strip()
            if name != "imported package":
                modules.add(name)
    assert "mlxkit" in modules, proc.stderr[-2000:]
    return modules


def top_level(modules: set[str]) -> set[str]:
    return {name.split(".")[0] for name in modules}


def test_version_imports_nothing_but_mlxkit(tmp_path):
    modules = imported_modules("--version", cwd=tmp_path)

    assert top_level(modules) & (HEAVY | {"typer", "yaml", "blake3", "sqlite3"}) == set()
    assert {m for m in modules if m.startswith("mlxkit.")} <= {"mlxkit.__main__", "mlxkit.cli"}


@pytest.fixture
def small_repo(repo, mlx):
    repo.gen({"data": {"a.csv": "x,y\n1,2\n", "b.csv": "b\n"}, "model.bin": b"\x00" * 100}, old=True)
    assert mlx("add", "data", "model.bin").code == 0
    return repo


@pytest.mark.parametrize("args", [("status",), ("status", "--json"), ("status", "--exit-code")])
def test_status_without_a_terminal_imports_nothing_heavy(small_repo, args):
    modules = imported_modules(*args, cwd=small_repo.path)

    assert top_level(modules) & HEAVY == set()


def test_status_of_a_dirty_repository_imports_nothing_heavy(small_repo):
    small_repo.gen({"data": {"c.csv": "new\n"}, "model.bin": b"\x01"})

    modules = imported_modules("status", cwd=small_repo.path)

    assert top_level(modules) & HEAVY == set()


def test_add_imports_nothing_heavy(small_repo):
    small_repo.gen({"more.csv": "m\n"})

    assert top_level(imported_modules("add", "more.csv", cwd=small_repo.path)) & HEAVY == set()


def test_help_may_use_rich_but_nothing_else_heavy(tmp_path):
    assert top_level(imported_modules("--help", cwd=tmp_path)) & (HEAVY - {"rich"}) == set()


def test_installed_executable_answers_version(mlx, tmp_path):
    result = mlx("--version", cwd=tmp_path)

    assert (result.code, result.out, result.err) == (0, "mlx 0.1.0\n", "")
