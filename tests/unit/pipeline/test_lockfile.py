"""mlx.lock: one text per Lock, sorted and merge-friendly; reading refuses anything hostile or corrupt."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from mlxkit.errors import InvalidFileError, UnsafePathError, UnsupportedFormatError
from mlxkit.formats.schema import validate
from mlxkit.formats.yamlio import dump_yaml
from mlxkit.fs.confine import RepoPath, unsafe_reason
from mlxkit.pipeline.lockfile import (
    dump_lock,
    parse_lock,
    read_lock,
    with_stage,
    write_lock,
)
from mlxkit.pipeline.model import Lock, LockedPath, LockEntry
from mlxkit.store.digest import Digest

A, B, C = (Digest.from_hex(digit * 64) for digit in "abc")


def locked(path: str, digest: Digest = A, size: int = 1, files: int | None = None) -> LockedPath:
    return LockedPath(RepoPath.parse(path), digest, size, files)


EXAMPLE = Lock(
    {
        "train": LockEntry(
            cmd=("python src/train.py --seed 1",),
            deps=(locked("src/train.py", B, 99), locked("data/prepared", A, 4567, 2)),
            params={"params.yaml": {"train.seed": 1, "train.lr": 0.1}},
            outs=(locked("models/model.joblib", C, 321),),
        ),
        "prepare": LockEntry(
            cmd=("python src/prepare.py", "touch done"),
            deps=(locked("data/raw", A, 1234, 3),),
            env={"CUDA_VISIBLE_DEVICES": B, "UNSET": None},
            outs=(locked("data/prepared", A, 4567, 2),),
        ),
    }
)

EXAMPLE_TEXT = f"""\
format: 1
stages:
  prepare:
    cmd:
    - python src/prepare.py
    - touch done
    deps:
    - path: data/raw
      hash: {A}
      size: 1234
      files: 3
    env:
      CUDA_VISIBLE_DEVICES: {B}
      UNSET: null
    outs:
    - path: data/prepared
      hash: {A}
      size: 4567
      files: 2

  train:
    cmd: python src/train.py --seed 1
    deps:
    - path: data/prepared
      hash: {A}
      size: 4567
      files: 2
    - path: src/train.py
      hash: {B}
      size: 99
    params:
      params.yaml:
        train.lr: 0.1
        train.seed: 1
    outs:
    - path: models/model.joblib
      hash: {C}
      size: 321
"""


def test_dump_lock_sorts_everything_omits_empty_sections_and_separates_stages_by_a_blank_line():
    assert dump_lock(EXAMPLE) == EXAMPLE_TEXT


def test_dump_lock_of_an_empty_lock_has_an_empty_stages_mapping():
    assert dump_lock(Lock({})) == "format: 1\nstages: {}\n"
    assert parse_lock(dump_lock(Lock({}))) == Lock({})


def test_parse_lock_of_the_documented_text_gives_the_lock_with_paths_in_order():
    lock = parse_lock(EXAMPLE_TEXT)
    assert lock == Lock({**EXAMPLE.stages, "train": LockEntry(
        cmd=EXAMPLE.stages["train"].cmd,
        deps=(locked("data/prepared", A, 4567, 2), locked("src/train.py", B, 99)),
        params=EXAMPLE.stages["train"].params,
        outs=EXAMPLE.stages["train"].outs,
    )})  # fmt: skip
    assert [stage for stage in lock.stages] == ["prepare", "train"]


def test_dump_lock_sorts_params_values_mappings_and_keeps_lists_in_order():
    entry = LockEntry(cmd=("x",), params={"p.yaml": {"model": {"layers": [3, 1, 2], "act": "relu", 1: "one"}}})
    text = dump_lock(Lock({"s": entry}))
    assert text.endswith("    params:\n      p.yaml:\n        model:\n          1: one\n          act: relu\n"
                         "          layers:\n          - 3\n          - 1\n          - 2\n")  # fmt: skip
    assert parse_lock(text) == Lock({"s": entry})


@pytest.mark.parametrize(("value", "written"), [(0.1, "0.1"), (1e-07, "1.0e-07"), (1e20, "1.0e+20"), (2.5, "2.5"),
                                                (float("inf"), ".inf"), (1, "1"), (1.0, "1.0"), ("0.1", "'0.1'")])
def test_param_values_keep_their_exact_value_and_type(value, written):
    entry = LockEntry(cmd=("x",), params={"params.yaml": {"k": value}})
    text = dump_lock(Lock({"s": entry}))
    assert f"        k: {written}\n" in text
    read = parse_lock(text).stages["s"].params["params.yaml"]["k"]
    assert (read, type(read)) == (value, type(value))


def test_write_lock_then_read_lock_gives_the_same_lock_and_leaves_no_temp_file(tmp_path):
    write_lock(tmp_path, EXAMPLE)
    assert (tmp_path / "mlx.lock").read_text() == EXAMPLE_TEXT
    assert read_lock(tmp_path) == parse_lock(EXAMPLE_TEXT)
    assert os.listdir(tmp_path) == ["mlx.lock"]


def test_read_lock_without_a_lockfile_is_an_empty_lock(tmp_path):
    assert read_lock(tmp_path) == Lock({})


def test_read_lock_of_a_corrupt_file_names_the_line_and_leaves_the_file_alone(tmp_path):
    text = EXAMPLE_TEXT.replace("      size: 99\n", "      size: 99\n  oops\n")
    (tmp_path / "mlx.lock").write_text(text)
    with pytest.raises(InvalidFileError) as info:
        read_lock(tmp_path)
    assert info.value.message.startswith("invalid file 'mlx.lock:32': ")
    assert (tmp_path / "mlx.lock").read_text() == text


def test_parse_lock_names_an_unresolved_merge_conflict_and_how_to_settle_it():
    text = "format: 1\nstages:\n<<<<<<< HEAD\n  a:\n    cmd: x\n=======\n  a:\n    cmd: y\n>>>>>>> other\n"
    with pytest.raises(InvalidFileError) as info:
        parse_lock(text)
    assert (info.value.message, info.value.hint) == (
        "invalid file 'mlx.lock:3': unresolved merge conflict (a '<<<<<<<' line)",
        "keep one side ('git checkout --ours mlx.lock' or '--theirs'), then 'mlx run' brings the other stages up to date",
    )


def test_read_lock_refuses_a_lockfile_that_is_a_symlink(tmp_path):
    outside = tmp_path / "outside.lock"
    outside.write_text(EXAMPLE_TEXT)
    root = tmp_path / "repo"
    root.mkdir()
    (root / "mlx.lock").symlink_to(outside)
    with pytest.raises(UnsafePathError, match="^unsafe path 'mlx.lock': 'mlx.lock' is a symbolic link$"):
        read_lock(root)


def test_read_lock_refuses_a_directory_named_mlx_lock(tmp_path):
    (tmp_path / "mlx.lock").mkdir()
    with pytest.raises(InvalidFileError, match="^invalid file 'mlx.lock': a directory, not a lockfile$"):
        read_lock(tmp_path)


@pytest.mark.parametrize("fmt", [2, 17])
def test_parse_lock_refuses_a_newer_format_naming_both_versions(fmt):
    with pytest.raises(UnsupportedFormatError) as info:
        parse_lock(f"format: {fmt}\nstages:\n  a:\n    new_field: x\n")
    assert info.value.message == f"'mlx.lock' uses format {fmt}, this mlx reads 1: upgrade mlx"


@pytest.mark.parametrize(
    ("text", "message", "hint"),
    [
        ("format: 1\nstages:\n  a:\n    cmd: x\n    outz: []\n",
         "invalid file 'mlx.lock:5': at 'stages.a': unknown key 'outz'", "did you mean 'outs'?"),
        ("format: 1\nstages:\n  a:\n    deps: []\n", "invalid file 'mlx.lock:3': at 'stages.a': 'cmd' is required", None),
        ("format: 1\n", "invalid file 'mlx.lock:1': at 'the top level': 'stages' is required", None),
        ("format: 0\nstages: {}\n", "invalid file 'mlx.lock:1': at 'format': 1 was expected", None),
        ("format: 1.0\nstages: {}\n", "invalid file 'mlx.lock:1': at 'format': 1.0 is not format 1", None),
        ("format: 1\nstages:\n  a:\n    cmd: 3\n", "invalid file 'mlx.lock:4': at 'stages.a.cmd': 3 is not valid under any of "
         "the given schemas", None),
        ("format: 1\nstages:\n  a:\n    cmd: x\n    outs:\n    - path: m\n      hash: " + str(A) + "\n      size: -1\n",
         "invalid file 'mlx.lock:8': at 'stages.a.outs.0.size': -1 is less than the minimum of 0", None),
        ("format: 1\nstages:\n  a:\n    cmd: x\n    outs:\n    - path: m\n      hash: " + str(A) + "\n      size: 1.0\n",
         "invalid file 'mlx.lock:8': at 'stages.a.outs.0.size': 1.0 is not a whole number, 0 or more", None),
        ("format: 1\nstages:\n  a:\n    cmd: x\n    deps:\n    - {path: m, hash: '" + str(A) + "', size: 1}\n"
         "    - {path: m, hash: '" + str(B) + "', size: 2}\n",
         "invalid file 'mlx.lock:7': at 'stages.a.deps.1': 'm' is listed twice", None),
        ("format: 1\nstages:\n  a:\n    cmd: x\n    env:\n      X: 5\n",
         "invalid file 'mlx.lock:6': at 'stages.a.env.X': 5 is not valid under any of the given schemas", None),
        ("format: 1\nstages:\n  a:\n    cmd: x\n    params:\n      p.yaml:\n        '': 1\n",
         "invalid file 'mlx.lock:6': at 'stages.a.params.p.yaml': '' should be non-empty", None),
        ("format: 1\nstages:\n  1:\n    cmd: x\n", "invalid file 'mlx.lock:2': at 'stages': 1 is not of type 'string'", None),
        ("- a\n", "invalid file 'mlx.lock:1': at 'the top level': ['a'] is not of type 'object'", None),
    ],
)
def test_parse_lock_refuses_a_malformed_lock_naming_line_and_place(text, message, hint):
    with pytest.raises(InvalidFileError) as info:
        parse_lock(text)
    assert (info.value.message, info.value.hint) == (message, hint)


@pytest.mark.parametrize("value", [f"blake3:{'A' * 64}", "blake3:../../x", f"md5:{'a' * 32}", f"{A}\\n"])
def test_parse_lock_refuses_a_bad_hash_naming_its_line(value):
    with pytest.raises(InvalidFileError) as info:
        parse_lock(f'format: 1\nstages:\n  a:\n    cmd: x\n    outs:\n    - path: m\n      size: 1\n      hash: "{value}"\n')
    assert info.value.line == 8
    assert info.value.problem.endswith("is not a hash of the form 'blake3:<64 lowercase hex digits>'")


def test_parse_lock_refuses_a_bad_env_digest_naming_its_line():
    with pytest.raises(InvalidFileError) as info:
        parse_lock("format: 1\nstages:\n  a:\n    cmd: x\n    env:\n      SECRET: hunter2\n")
    assert str(info.value) == ("invalid file 'mlx.lock:6': 'hunter2' is not a hash of the form "
                               "'blake3:<64 lowercase hex digits>'")  # fmt: skip


@pytest.mark.parametrize(
    ("path", "why"),
    [("/etc/passwd", "the path is absolute"), ("../x", "the path has a '..' component"),
     (".git/hooks/post-checkout", "the path has the reserved name '.git'"), ("a/.MLX/b", "the path has the reserved name '.MLX'"),
     ("a\\\\b", "the path contains a backslash"), ("", "the path is empty"), ("~/x", "the path starts with '~'")],
)
@pytest.mark.parametrize("section", ["deps", "outs"])
def test_parse_lock_refuses_an_unsafe_path_naming_file_and_line(section, path, why):
    text = f'format: 1\nstages:\n  a:\n    cmd: x\n    {section}:\n    - hash: {A}\n      path: "{path}"\n      size: 1\n'
    with pytest.raises(UnsafePathError) as info:
        parse_lock(text)
    assert info.value.message == f"unsafe path in 'mlx.lock:7': {why}"


def test_parse_lock_refuses_an_unsafe_params_file_naming_its_line():
    with pytest.raises(UnsafePathError) as info:
        parse_lock("format: 1\nstages:\n  a:\n    cmd: x\n    params:\n      ../params.yaml:\n        k: 1\n")
    assert info.value.message == "unsafe path in 'mlx.lock:6': the path has a '..' component"


def test_with_stage_returns_a_new_lock():
    one = with_stage(Lock({}), "a", LockEntry(cmd=("x",)))
    two = with_stage(one, "a", LockEntry(cmd=("y",)))
    assert one == Lock({"a": LockEntry(cmd=("x",))})
    assert two == Lock({"a": LockEntry(cmd=("y",))})


# -- merging -------------------------------------------------------------------------------------


def _git(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GIT_AUTHOR_NAME": "Ada Tester", "GIT_AUTHOR_EMAIL": "ada@example.com",
           "GIT_COMMITTER_NAME": "Ada Tester", "GIT_COMMITTER_EMAIL": "ada@example.com", "GIT_CONFIG_NOSYSTEM": "1",
           "GIT_CONFIG_GLOBAL": os.devnull}  # fmt: skip
    return subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=False)


def _three_stages() -> Lock:
    return Lock({
        name: LockEntry(cmd=(f"python {name}.py",), deps=(locked(f"src/{name}.py", A, 10),),
                        params={"params.yaml": {f"{name}.k": 1}}, outs=(locked(f"out/{name}", B, 20),))
        for name in "abc"
    })  # fmt: skip


def _change_out(lock: Lock, name: str, digest: Digest, size: int) -> Lock:
    entry = lock.stages[name]
    return with_stage(lock, name, LockEntry(entry.cmd, entry.deps, entry.params, entry.env,
                                            (LockedPath(entry.outs[0].path, digest, size),)))  # fmt: skip


def _change_cmd(lock: Lock, name: str, cmd: str) -> Lock:
    entry = lock.stages[name]
    return with_stage(lock, name, LockEntry((cmd,), entry.deps, entry.params, entry.env, entry.outs))


@pytest.mark.parametrize(
    "scenario",
    [
        # The brief's case: a's out on one branch; b's out and c's cmd on the other.
        (lambda lock: _change_out(lock, "a", C, 21), lambda lock: _change_cmd(_change_out(lock, "b", A, 22), "c", "run c")),
        # Adjacent lines of two stages: the last line of a (its out) and the first line of b (its cmd).
        (lambda lock: _change_out(lock, "a", C, 21), lambda lock: _change_cmd(lock, "b", "run b")),
        # The next two conflict without the blank line: the new or removed block touches the changed line.
        (lambda lock: with_stage(lock, "b2", LockEntry(cmd=("python b2.py",), outs=(locked("out/b2", C, 5),))),
         lambda lock: _change_out(lock, "b", A, 22)),
        (lambda lock: Lock({name: entry for name, entry in lock.stages.items() if name != "b"}), lambda lock: _change_out(lock, "a", C, 21)),
    ],
    ids=["a-out_vs_b-out-and-c-cmd", "end-of-a_vs_start-of-b", "add-b2_vs_b-out", "remove-b_vs_a-out"],
)
def test_two_branches_that_changed_different_stages_merge_without_a_conflict(tmp_path, scenario):
    left_change, right_change = scenario
    base = _three_stages()
    assert _git(tmp_path, "init", "-q", "-b", "main").returncode == 0

    def commit(lock: Lock, message: str) -> None:
        write_lock(tmp_path, lock)
        assert _git(tmp_path, "add", "mlx.lock").returncode == 0
        assert _git(tmp_path, "commit", "-q", "-m", message).returncode == 0

    commit(base, "base")
    _git(tmp_path, "checkout", "-q", "-b", "left")
    commit(left_change(base), "left")
    _git(tmp_path, "checkout", "-q", "-b", "right", "main")
    commit(right_change(base), "right")
    _git(tmp_path, "checkout", "-q", "left")
    merge = _git(tmp_path, "merge", "--no-edit", "right")
    assert merge.returncode == 0, merge.stdout + merge.stderr
    assert read_lock(tmp_path) == parse_lock(dump_lock(right_change(left_change(base))))


# -- properties ----------------------------------------------------------------------------------

_DIGESTS = st.text("0123456789abcdef", min_size=64, max_size=64).map(Digest.from_hex)
_COMPONENT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="/\\\x00"), min_size=1, max_size=6)
_PATHS = st.lists(_COMPONENT, min_size=1, max_size=3).map("/".join).filter(lambda p: unsafe_reason(p) is None)
_LOCKED = st.builds(LockedPath, _PATHS.map(RepoPath), _DIGESTS, st.integers(0, 2**64), st.none() | st.integers(0, 10**9))
_LOCKED_SET = st.lists(_LOCKED, max_size=3, unique_by=lambda item: item.path).map(
    lambda items: tuple(sorted(items, key=lambda item: item.path))
)
_SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4) | st.integers(), inner, max_size=3),
    max_leaves=6,
)
_NAMES = st.text(min_size=1, max_size=10)
_ENTRIES = st.builds(
    LockEntry,
    cmd=st.lists(st.text(max_size=20), max_size=3).map(tuple),
    deps=_LOCKED_SET,
    params=st.dictionaries(_PATHS, st.dictionaries(_NAMES, _VALUES, max_size=3), max_size=2),
    env=st.dictionaries(_NAMES, st.none() | _DIGESTS, max_size=3),
    outs=_LOCKED_SET,
)
_LOCKS = st.dictionaries(_NAMES, _ENTRIES, max_size=4).map(Lock)


@settings(deadline=None)  # timings are not what these properties check
@given(_LOCKS)
@example(Lock({"a\u2028b": LockEntry(cmd=("x\n\ny", "\x85", " lead", "trail "))}))
@example(Lock({"null": LockEntry(cmd=(), params={"p": {"true": "2024-01-01", "k": [{}, [], ""]}})}))
def test_lock_round_trips_through_its_text(lock):
    text = dump_lock(lock)
    assert parse_lock(text) == lock
    assert dump_lock(parse_lock(text)) == text


@settings(deadline=None)  # timings are not what these properties check
@given(st.binary(max_size=300))
@example(EXAMPLE_TEXT.encode())
@example(b"format: 1\nstages:\n  a:\n    cmd: x\n    outs:\n    - {path: [a], hash: {}, size: 1}\n")
@example(b"format: 99999999999999999999\n")
@example(b"format: .inf\nstages: {}\n")
@example(b"format: 1\nstages:\n  a:\n    cmd: x\n    env: {null: null}\n")
def test_lock_reader_of_arbitrary_bytes_raises_only_documented_errors(data):
    try:
        parse_lock(data)
    except (InvalidFileError, UnsafePathError, UnsupportedFormatError):
        pass


_ANY = (st.none() | st.booleans() | st.integers(-2, 3) | st.floats(allow_nan=False) | st.text(max_size=3)
        | st.sampled_from([str(A), "m", "a/b", "../x", ""]))


def _mostly(valid: st.SearchStrategy[object]) -> st.SearchStrategy[object]:
    """Mostly `valid`, so that whole documents are often valid and both sides of the property get tested."""
    return st.integers(0, 9).flatmap(lambda pick: _ANY if pick == 5 else valid)


_ITEM = st.fixed_dictionaries(
    {"path": _mostly(st.sampled_from(["m", "a/b"])), "hash": _mostly(st.just(str(A))), "size": _mostly(st.integers(0, 3))},
    optional={"files": _mostly(st.integers(0, 3))},
)
_STAGE = st.fixed_dictionaries(
    {"cmd": _mostly(st.just("x") | st.lists(_mostly(st.text(max_size=2)), max_size=2))},
    optional={
        "deps": _mostly(st.lists(_ITEM, max_size=2)),
        "outs": _mostly(st.lists(_ITEM, max_size=2)),
        "params": _mostly(st.dictionaries(_mostly(st.just("p.yaml")).filter(lambda v: v is not None),
                                          _mostly(st.dictionaries(_mostly(st.text(max_size=2)), _ANY, max_size=2)),
                                          max_size=2)),
        "env": _mostly(st.dictionaries(_mostly(st.text(min_size=1, max_size=2)), _mostly(st.just(str(B)) | st.none()),
                                       max_size=2)),
    },
)  # fmt: skip
_DOCUMENTS = st.fixed_dictionaries(
    {"format": _mostly(st.just(1)),
     "stages": _mostly(st.dictionaries(_mostly(st.text(min_size=1, max_size=3)), _STAGE, max_size=2))}  # fmt: skip
)


@settings(deadline=None)  # timings are not what these properties check
@given(_DOCUMENTS)
@example({"format": 1, "stages": {"a": {"cmd": "x", "outs": [{"path": "m", "hash": str(A), "size": 1.0}]}}})
@example({"format": 1.0, "stages": {}})
def test_the_reader_is_never_looser_than_the_schema(data):
    try:
        parse_lock(dump_yaml(data))
    except (InvalidFileError, UnsafePathError, UnsupportedFormatError):
        return
    validate(data, "lock-1")  # whatever the reader takes, lock-1 takes


def test_reading_a_valid_lock_does_not_import_jsonschema():
    # jsonschema costs ~90 ms to import, and `mlx status` reads mlx.lock (docs/design.md).
    code = (
        "import sys\nfrom mlxkit.pipeline.lockfile import parse_lock\n"
        f"parse_lock({EXAMPLE_TEXT!r})\nprint('jsonschema' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout == "False\n"
