"""The per-stage 3-way merge of mlx.lock (pipeline/lockmerge.py), case by case and as properties."""

from __future__ import annotations

import os
import stat

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlxkit.errors import InvalidFileError, UnsupportedFormatError
from mlxkit.fs.confine import RepoPath
from mlxkit.pipeline.lockfile import dump_lock, parse_lock
from mlxkit.pipeline.lockmerge import merge_lock_files, merge_locks
from mlxkit.pipeline.model import Lock, LockedPath, LockEntry
from mlxkit.store.digest import Digest

DIGESTS = [Digest.parse("blake3:" + digit * 64) for digit in "0123"]


def entry(cmd: str = "python train.py", out: int = 0, **params: object) -> LockEntry:
    return LockEntry(
        cmd=(cmd,),
        params={"params.yaml": dict(params)} if params else {},
        outs=(LockedPath(RepoPath("model.bin"), DIGESTS[out], 10 + out),),
    )


def text(**stages: LockEntry) -> str:
    return dump_lock(Lock(stages))


A, A2, A3 = entry("a", 0), entry("a", 1), entry("a", 2)
B, B2 = entry("b", 0), entry("b", 1)


@pytest.mark.parametrize(
    ("base", "ours", "theirs", "merged"),
    [
        pytest.param({"a": A, "b": B}, {"a": A, "b": B}, {"a": A2, "b": B}, {"a": A2, "b": B}, id="only-theirs-changed"),
        pytest.param({"a": A, "b": B}, {"a": A2, "b": B}, {"a": A, "b": B}, {"a": A2, "b": B}, id="only-ours-changed"),
        pytest.param({"a": A, "b": B}, {"a": A2, "b": B}, {"a": A, "b": B2}, {"a": A2, "b": B2}, id="different-stages"),
        pytest.param({"a": A}, {"a": A2}, {"a": A2}, {"a": A2}, id="both-changed-identically"),
        pytest.param({"a": A, "b": B}, {"a": A, "b": B}, {"b": B}, {"b": B}, id="deleted-theirs-unchanged-ours"),
        pytest.param({"a": A, "b": B}, {"b": B}, {"a": A, "b": B}, {"b": B}, id="deleted-ours-unchanged-theirs"),
        pytest.param({"a": A, "b": B}, {"b": B}, {"b": B}, {"b": B}, id="deleted-on-both-sides"),
        pytest.param({"a": A}, {"a": A}, {"a": A, "b": B}, {"a": A, "b": B}, id="added-on-one-side"),
        pytest.param({}, {"a": A}, {"b": B}, {"a": A, "b": B}, id="added-different-stages-on-both-sides"),
        pytest.param({}, {"a": A}, {"a": A}, {"a": A}, id="added-identically-on-both-sides"),
        pytest.param({"a": A}, {}, {}, {}, id="every-stage-deleted"),
    ],
)
def test_clean_merges_take_the_side_that_changed_each_stage(base, ours, theirs, merged):
    result = merge_locks(text(**base), text(**ours), text(**theirs))

    assert result.conflicts == ()
    assert result.is_clean
    assert result.text == text(**merged)  # byte for byte what `mlx run` would write


@pytest.mark.parametrize(
    ("base", "ours", "theirs", "our_block", "their_block"),
    [
        pytest.param({"a": A}, {"a": A2}, {"a": A3}, "a2", "a3", id="both-changed-differently"),
        pytest.param({"a": A}, {}, {"a": A2}, None, "a2", id="deleted-ours-modified-theirs"),
        pytest.param({"a": A}, {"a": A2}, {}, "a2", None, id="modified-ours-deleted-theirs"),
        pytest.param({}, {"a": A2}, {"a": A3}, "a2", "a3", id="added-differently-on-both-sides"),
    ],
)
def test_a_stage_both_sides_changed_differently_conflicts_between_markers(base, ours, theirs, our_block, their_block):
    unrelated = {"b": B}
    result = merge_locks(text(**base, **unrelated), text(**ours, **unrelated), text(**theirs, **{"b": B2}))

    blocks = {"a2": text(a=A2).split("stages:\n")[1], "a3": text(a=A3).split("stages:\n")[1], None: ""}
    conflict = f"<<<<<<< ours\n{blocks[our_block]}=======\n{blocks[their_block]}>>>>>>> theirs\n"
    assert result.conflicts == ("a",)
    assert not result.is_clean
    assert result.text == "format: 1\nstages:\n" + conflict + "\n" + text(b=B2).split("stages:\n")[1]


def test_reading_a_conflicted_merge_names_the_markers_line():
    result = merge_locks(text(a=A), text(a=A2), text(a=A3))

    with pytest.raises(InvalidFileError) as raised:
        parse_lock(result.text)
    assert raised.value.message == "invalid file 'mlx.lock:3': unresolved merge conflict (a '<<<<<<<' line)"


def test_values_equal_in_python_but_written_differently_are_a_change():
    base, theirs = text(a=entry("a", lr=1)), text(a=entry("a", lr=1.0))

    assert merge_locks(base, base, theirs).text == theirs
    assert merge_locks(base, text(a=entry("a", lr=True)), theirs).conflicts == ("a",)


@pytest.mark.parametrize("empty", ["", b"", "\n", b"  \n"])
def test_an_empty_base_is_a_lockfile_without_stages(empty):
    assert merge_locks(empty, text(a=A), text(b=B)).text == text(a=A, b=B)


@pytest.mark.parametrize(
    ("garbage", "error"),
    [
        ("format: [\n", InvalidFileError),
        ("format: 1\nstages:\n<<<<<<< HEAD\n", InvalidFileError),
        ("format: 9\nstages: {}\n", UnsupportedFormatError),
    ],
)
def test_a_side_that_is_not_a_lockfile_is_not_merged(garbage, error):
    with pytest.raises(error):
        merge_locks(text(a=A), garbage, text(a=A2))


def test_the_driver_merges_into_ours_and_keeps_its_mode(tmp_path):
    base, ours, theirs = tmp_path / "O", tmp_path / "A", tmp_path / "B"
    base.write_text(text(a=A, b=B))
    ours.write_text(text(a=A2, b=B))
    theirs.write_text(text(a=A, b=B2))
    os.chmod(ours, 0o640)

    result = merge_lock_files(base, ours, theirs)

    assert (result.is_clean, result.conflicts, result.problem) == (True, (), None)
    assert ours.read_text() == text(a=A2, b=B2)
    assert stat.S_IMODE(os.stat(ours).st_mode) == 0o640
    assert sorted(path.name for path in tmp_path.iterdir()) == ["A", "B", "O"]  # no temp file left


def test_the_driver_leaves_ours_byte_for_byte_when_a_side_is_garbage(tmp_path):
    base, ours, theirs = tmp_path / "O", tmp_path / "A", tmp_path / "B"
    base.write_text(text(a=A))
    ours.write_bytes(b"format: 1\nstages:\n<<<<<<< HEAD\n  a: {}\n")
    theirs.write_text(text(a=A2))

    result = merge_lock_files(base, ours, theirs, name="sub/mlx.lock")

    assert not result.is_clean
    assert result.problem == "invalid file 'sub/mlx.lock (ours):3': unresolved merge conflict (a '<<<<<<<' line)"
    assert ours.read_bytes() == b"format: 1\nstages:\n<<<<<<< HEAD\n  a: {}\n"


def test_the_driver_reports_a_missing_file_as_a_problem(tmp_path):
    ours = tmp_path / "A"
    ours.write_text(text(a=A))

    result = merge_lock_files(tmp_path / "missing", ours, ours)

    assert result.problem is not None and "No such file" in result.problem
    assert ours.read_text() == text(a=A)


# -- properties ----------------------------------------------------------------------------------

NAMES = ["prepare", "train", "evaluate@small", "report"]
entries = st.builds(
    LockEntry,
    cmd=st.lists(st.sampled_from(["python a.py", "echo 'x y'", "make"]), min_size=1, max_size=2).map(tuple),
    params=st.dictionaries(
        st.just("params.yaml"), st.dictionaries(st.sampled_from(["lr", "seed"]), st.sampled_from([1, 1.0, True, "1"])), max_size=1
    ),
    outs=st.lists(st.sampled_from(DIGESTS), max_size=1).map(
        lambda digests: tuple(LockedPath(RepoPath("out"), digest, 1) for digest in digests)
    ),
)
locks = st.dictionaries(st.sampled_from(NAMES), entries)
changes = st.one_of(st.none(), entries)  # None deletes the stage


def changed(stages: dict[str, LockEntry], name: str, new: LockEntry | None) -> dict[str, LockEntry]:
    rest = {key: value for key, value in stages.items() if key != name}
    return rest if new is None else {**rest, name: new}


@given(locks, st.permutations(NAMES), changes, changes)
def test_changes_to_different_stages_merge_cleanly_and_commute(base, order, change_x, change_y):
    x, y = order[:2]
    ours, theirs = changed(base, x, change_x), changed(base, y, change_y)
    both = changed(changed(base, x, change_x), y, change_y)

    forward = merge_locks(text(**base), text(**ours), text(**theirs))
    backward = merge_locks(text(**base), text(**theirs), text(**ours))

    assert forward.conflicts == backward.conflicts == ()
    assert forward.text == backward.text == text(**both)


@given(locks, locks, locks)
def test_swapping_the_sides_gives_the_same_conflicts_and_clean_text(base, ours, theirs):
    forward = merge_locks(text(**base), text(**ours), text(**theirs))
    backward = merge_locks(text(**base), text(**theirs), text(**ours))

    assert forward.conflicts == backward.conflicts
    if forward.is_clean:
        assert forward.text == backward.text
        assert parse_lock(forward.text).stages.keys() <= set(base) | set(ours) | set(theirs)


@given(locks, locks)
def test_a_side_that_changed_nothing_takes_the_other_side(base, other):
    assert merge_locks(text(**base), text(**base), text(**other)).text == text(**other)
    assert merge_locks(text(**base), text(**other), text(**base)).text == text(**other)
