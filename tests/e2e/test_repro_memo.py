"""The memo of a no-op `mlx repro` (pipeline/noop.py): the next no-op answers from stats alone, and
any change to what the decision read makes the decision again, with the output it always had.

Each change is made, after a memo is written, to the memoized repository and to a twin without a
memo, and the memoized `mlx` must then print, exit with and write what the typer command does on the
twin (tests/e2e/test_repro_fastpath.py's `both`).
"""

from __future__ import annotations

import marshal
import os
import time
from pathlib import Path

import pytest

from mlxkit.pipeline import noop
from mlxkit.pipeline.runner import Runner, RunOptions
from mlxkit.repo.lock import RepoLock
from mlxkit.repo.repository import find_repository

from .test_repro_fastpath import build_chain, both, steady
from .test_startup import imported_modules

SETTLE = 0.25  # longer than the racy window of a file system with ns timestamps (store/state.py)


def memo_of(path: Path) -> Path:
    return path / noop.MEMO


def answered_from_memo(path: Path) -> bool:
    """Whether `mlx repro` answers without the pipeline code (the memo held)."""
    modules = imported_modules("repro", cwd=path)
    return "mlxkit.pipeline.runner" not in modules and "yaml" not in modules


def memoize(path: Path, mlx) -> Path:
    time.sleep(SETTLE)
    result = mlx("repro", cwd=path)
    assert (result.code, result.out) == (0, "Everything is up to date (3 stages).\n"), result
    assert memo_of(path).is_file()
    return path


@pytest.fixture
def chain(repo, mlx) -> Path:
    return memoize(build_chain(repo.path, mlx), mlx)


@pytest.fixture
def twin(tmp_path, mlx) -> Path:
    return build_chain(tmp_path / "twin", mlx)


def test_a_second_noop_answers_from_the_memo_with_the_same_line(chain, mlx):
    memo = memo_of(chain).read_bytes()

    result = mlx("repro", cwd=chain)

    assert (result.code, result.out, result.err) == (0, "Everything is up to date (3 stages).\n", "")
    assert answered_from_memo(chain)
    assert memo_of(chain).read_bytes() == memo  # answering writes nothing
    assert not (chain / ".mlx" / "tmp" / "lock.json").exists()


def edit_keeping_stat_times(path: Path, old: str, new: str) -> None:
    """The same size and mtime after the edit: only the ctime (which nothing can set) tells."""
    before = path.stat()
    path.write_text(path.read_text().replace(old, new))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))


def test_a_change_that_only_the_ctime_shows_is_decided_again(chain, mlx):
    """The memo does not vouch for it; the decision then goes by the stat cache, which (as DVC's)
    compares inode, size and mtime only: docs/pipelines.md."""
    edit_keeping_stat_times(chain / "seed.txt", "seed", "SEED")

    assert not answered_from_memo(chain)


def make_tree_dep(path: Path) -> None:
    (path / "data" / "sub").mkdir(parents=True)
    (path / "data" / "sub" / "a.txt").write_text("a\n")
    (path / "mlx.yaml").write_text((path / "mlx.yaml").read_text() + (
        "  tree:\n    cmd: find data -type f | sort > tree.txt\n    deps: [data]\n    outs: [tree.txt]\n"))  # fmt: skip


CHANGES = {
    "a param": lambda p: (p / "params.yaml").write_text((p / "params.yaml").read_text().replace("k2: 14", "k2: 15")),
    "a dep": lambda p: (p / "seed.txt").write_text("SEED\n"),
    "an out deleted": lambda p: (p / "out" / "s3.txt").unlink(),
    "an out edited": lambda p: (p / "out" / "s2.txt").write_text("edited\n"),
    "a command": lambda p: (p / "mlx.yaml").write_text((p / "mlx.yaml").read_text().replace("grep ^k3:", "grep -e ^k3:")),
    "a lock entry removed": lambda p: (p / "mlx.lock").write_text((p / "mlx.lock").read_text().split("\n  s3:")[0] + "\n"),
    "a pointer file over an out": lambda p: (p / "out" / "s1.txt.mlx").write_text(""),
    "a pointer file over an out's directory": lambda p: (p / "out.mlx").write_text(""),
    "an out's directory replaced by a link": lambda p: ((p / "out").rename(p / "elsewhere"), (p / "out").symlink_to("elsewhere")),
}


@pytest.mark.parametrize("change", list(CHANGES))
def test_a_change_to_what_the_decision_read_is_decided_again(chain, twin, mlx, change):
    for path in (chain, twin):
        CHANGES[change](path)

    fast, slow = both(mlx, "repro", cwd=chain, twin=twin)

    assert (fast[0], steady(fast[1]), steady(fast[2])) == (slow[0], steady(slow[1]), steady(slow[2]))
    assert fast != (0, "Everything is up to date (3 stages).\n", "")
    assert (chain / "mlx.lock").read_bytes() == (twin / "mlx.lock").read_bytes()


def test_a_file_added_deep_in_a_directory_dep_is_seen(repo, mlx):
    path = build_chain(repo.path, mlx)
    make_tree_dep(path)
    assert mlx("repro", cwd=path).code == 0
    memoize_line = "Everything is up to date (4 stages).\n"
    time.sleep(SETTLE)
    assert mlx("repro", cwd=path).out == memoize_line and answered_from_memo(path)

    (path / "data" / "sub" / "b.txt").write_text("b\n")
    result = mlx("repro", cwd=path)

    assert "running 'tree': dep 'data' changed" in result.out, result
    assert (path / "tree.txt").read_text() == "data/sub/a.txt\ndata/sub/b.txt\n"


def test_an_mlxignore_that_hides_part_of_a_directory_dep_is_seen(repo, mlx):
    path = build_chain(repo.path, mlx)
    make_tree_dep(path)
    (path / "data" / "sub" / "b.tmp").write_text("b\n")
    assert mlx("repro", cwd=path).code == 0
    time.sleep(SETTLE)
    assert mlx("repro", cwd=path).code == 0 and answered_from_memo(path)

    (path / ".mlxignore").write_text("*.tmp\n")
    result = mlx("repro", cwd=path)

    assert "running 'tree': dep 'data' changed" in result.out, result


def test_a_declared_environment_variable_is_compared_by_digest(repo, mlx, monkeypatch):
    path = build_chain(repo.path, mlx)
    (path / "mlx.yaml").write_text((path / "mlx.yaml").read_text() + "    env: [MLX_TEST_MODE]\n")
    monkeypatch.setenv("MLX_TEST_MODE", "secret-value")
    assert mlx("repro", cwd=path).code == 0
    memoize(path, mlx)
    assert b"secret-value" not in memo_of(path).read_bytes()
    assert answered_from_memo(path)

    monkeypatch.setenv("MLX_TEST_MODE", "another")
    changed = mlx("repro", cwd=path)
    monkeypatch.delenv("MLX_TEST_MODE")
    unset = mlx("repro", cwd=path)

    assert "running 's3': environment variable 'MLX_TEST_MODE' changed" in changed.out, changed
    assert "running 's3': environment variable 'MLX_TEST_MODE' changed" in unset.out, unset


def test_local_configuration_written_after_the_memo_makes_the_decision_again(chain, mlx):
    (chain / ".mlx" / "config.local.yaml").write_text("core:\n  jobs: 1\n")

    assert not answered_from_memo(chain)
    time.sleep(SETTLE)
    assert mlx("repro", cwd=chain).code == 0
    assert answered_from_memo(chain)


@pytest.mark.parametrize("damage", ["garbage", "empty", "another version", "another format", "not a mapping"])
def test_a_damaged_or_foreign_memo_is_ignored_and_replaced(chain, mlx, damage):
    memo = marshal.loads(memo_of(chain).read_bytes())
    written = {
        "garbage": b"\x00\xff not marshal",
        "empty": b"",
        "another version": marshal.dumps({**memo, "version": "0.0.0"}),
        "another format": marshal.dumps({**memo, "format": 999}),
        "not a mapping": marshal.dumps([1, 2, 3]),
    }[damage]
    memo_of(chain).write_bytes(written)

    result = mlx("repro", cwd=chain)

    assert (result.code, result.out, result.err) == (0, "Everything is up to date (3 stages).\n", "")
    assert marshal.loads(memo_of(chain).read_bytes()) == memo  # the decision wrote it again


def test_a_locked_repository_is_refused_as_without_a_memo(chain, mlx):
    with RepoLock(chain / ".mlx" / "tmp", "mlx add data"):
        fast, slow = both(mlx, "repro", cwd=chain)

    assert fast == slow
    assert fast[0] == 11 and fast[2].startswith(f"mlx: the repository is locked by pid {os.getpid()} on "), fast


def test_no_memo_is_written_for_paths_changed_after_the_decision_began(repo, mlx):
    path = build_chain(repo.path, mlx)
    opened = find_repository(path)
    try:
        runner = Runner(opened, RunOptions(dry=True), os.environ)
        runner.run()
        line = "Everything is up to date (3 stages)."
        memo_of(path).parent.mkdir(parents=True, exist_ok=True)
        memo_of(path).write_bytes(b"an old memo")

        assert not noop.record(opened, runner.graph, os.environ, time.time_ns() - 10**9, line)  # ctimes are later
        assert not memo_of(path).exists()  # and an old memo does not outlive them
        assert noop.record(opened, runner.graph, os.environ, time.time_ns() + 10**9, line)
        assert noop.answer(str(path / "out")) == line  # from a folder below the root too
    finally:
        opened.close()


def test_a_tree_of_more_than_the_limit_writes_no_memo(repo, mlx, monkeypatch):
    path = build_chain(repo.path, mlx)
    make_tree_dep(path)
    for i in range(20):
        (path / "data" / f"f{i}.txt").write_text(str(i))
    assert mlx("repro", cwd=path).code == 0
    monkeypatch.setattr(noop, "MAX_ENTRIES", 10)
    opened = find_repository(path)
    try:
        runner = Runner(opened, RunOptions(dry=True), os.environ)
        runner.run()
        assert not noop.record(opened, runner.graph, os.environ, time.time_ns() + 10**9, "line")
    finally:
        opened.close()
