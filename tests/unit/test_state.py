"""The stat cache: a record is trusted only when the stat matches and its files are not racily new; it is a cache."""

from __future__ import annotations

import os
import re
import sqlite3
import time
from pathlib import Path

import pytest

from mlxkit.fs.walk import FileStat
from mlxkit.store.digest import Digest
from mlxkit.store.state import (
    COARSE_RACY_WINDOW_NS,
    FINE_RACY_WINDOW_NS,
    SCHEMA_VERSION,
    FileRow,
    StatCache,
    TreeRecord,
    is_trusted,
    racy_window_ns,
    settled_ns,
)

A = Digest("a" * 64)
B = Digest("b" * 64)
LONG_AGO_NS = 1_600_000_000 * 10**9  # 2020-09-13
SETTLED = LONG_AGO_NS + FINE_RACY_WINDOW_NS  # records of files this old are trusted at once
TREE_A = TreeRecord(A, 12, 3)
ENTRIES = [("a.csv", A.hex, 8, False), ("run.sh", B.hex, 4, True)]


@pytest.fixture
def cache(tmp_path: Path):
    state = StatCache(tmp_path / "state.db")
    yield state
    state.close()


def file_stat(path: Path) -> FileStat:
    return FileStat.of(path.name, os.lstat(path))


def old_file(path: Path, content: bytes = b"data") -> FileStat:
    """A file whose mtime is far in the past, so a row recorded now is outside the racy window."""
    path.write_bytes(content)
    os.utime(path, ns=(LONG_AGO_NS, LONG_AGO_NS))
    return file_stat(path)


def test_state_row_is_trusted_when_ino_mtime_ctime_size_match_and_file_is_old(cache, tmp_path):
    st = old_file(tmp_path / "f")
    cache.record_files([("data/f", st, A)])
    row = cache.file_rows_for(["data/f"])["data/f"]
    assert row[:5] == (st.ino, st.mtime_ns, st.ctime_ns, st.size, A.hex)
    assert is_trusted(row, file_stat(tmp_path / "f"))


def test_state_row_of_a_file_written_now_is_not_trusted(cache, tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"data")
    st = file_stat(path)
    cache.record_files([("f", st, A)])
    row = cache.file_rows_for(["f"])["f"]
    assert row[:4] == (st.ino, st.mtime_ns, st.ctime_ns, st.size)
    assert not is_trusted(row, file_stat(path))


def test_state_row_is_not_trusted_until_the_racy_window_has_passed(tmp_path):
    st = old_file(tmp_path / "f")
    mtime = st.mtime_ns
    assert not is_trusted(FileRow(st.ino, mtime, st.ctime_ns, st.size, A.hex, mtime), st)
    window = racy_window_ns(mtime)
    assert not is_trusted(FileRow(st.ino, mtime, st.ctime_ns, st.size, A.hex, mtime + window), st)
    assert is_trusted(FileRow(st.ino, mtime, st.ctime_ns, st.size, A.hex, mtime + window + 1), st)


def test_state_racy_window_is_two_seconds_for_whole_millisecond_timestamps():
    assert racy_window_ns(1_700_000_000_000_000_000) == COARSE_RACY_WINDOW_NS == 2_000_000_000
    assert racy_window_ns(1_700_000_000_123_000_000) == COARSE_RACY_WINDOW_NS
    assert racy_window_ns(1_700_000_000_123_456_789) == FINE_RACY_WINDOW_NS == 100_000_000


def test_state_row_is_not_trusted_when_the_file_changed(cache, tmp_path):
    path = tmp_path / "f"
    st = old_file(path)
    cache.record_files([("f", st, A)])
    row = cache.file_rows_for(["f"])["f"]

    old_file(path, b"more data")  # same mtime, other size
    assert not is_trusted(row, file_stat(path))

    old_file(path)
    os.utime(path, ns=(LONG_AGO_NS, LONG_AGO_NS + 1))  # same size, other mtime
    assert not is_trusted(row, file_stat(path))

    # back as it was, but written again: its ctime tells (a coarse clock may give the same ctime to
    # a write this quick, so the later ctime is made explicit)
    assert not is_trusted(row, st._replace(ctime_ns=st.ctime_ns + 1))
    assert is_trusted(row, st)
    assert not is_trusted(row, st._replace(ino=st.ino + 1))  # same size, mtime and ctime, other inode


def test_state_missing_row_is_not_trusted(cache, tmp_path):
    assert cache.file_rows_for(["nothing"]) == {}
    assert not is_trusted(None, old_file(tmp_path / "f"))


def test_state_forget_removes_only_that_prefix(cache, tmp_path):
    st = old_file(tmp_path / "f")
    paths = ["data", "data/a", "data/sub/b", "data2", "data2/x", "data.csv", "data-x/y"]
    cache.record_files([(path, st, A) for path in paths])
    cache.record_tree("data", "fp", TREE_A, SETTLED)
    cache.record_tree("data2", "fp", TreeRecord(B, 1, 1), SETTLED)
    cache.record_groups([(key, "fp", SETTLED, 0, ENTRIES) for key in ("data", "data/sub", "data//0/2", "data2")])
    cache.forget("data")
    assert sorted(cache.file_rows_for(paths)) == ["data-x/y", "data.csv", "data2", "data2/x"]
    assert cache.tree_record("data", "fp") is None
    assert cache.tree_record("data2", "fp") == (B, 1, 1)
    assert cache.group_records("data") == {}
    assert list(cache.group_records("data2")) == ["data2"]


def test_state_file_rows_for_returns_exactly_the_paths_asked_for(cache, tmp_path):
    st = old_file(tmp_path / "f")
    paths = [f"data/{n:04}" for n in range(1200)]  # more than one query's worth
    cache.record_files([(path, st, A) for path in paths])
    asked = paths[::2] + ["data/missing", "data"]
    assert sorted(cache.file_rows_for(asked)) == sorted(paths[::2])
    assert cache.file_rows_for([]) == {}


def test_state_record_files_replaces_an_earlier_row(cache, tmp_path):
    st = old_file(tmp_path / "f")
    cache.record_files([("f", st, A)])
    cache.record_files([("f", st, B)])
    assert cache.file_rows_for(["f"])["f"].hex == B.hex


def test_state_tree_record_is_found_by_path_and_fingerprint(cache):
    cache.record_tree("data", "fingerprint-1", TREE_A, SETTLED)
    assert cache.tree_record("data", "fingerprint-1") == TREE_A
    assert cache.tree_record("data", "fingerprint-2") is None
    assert cache.tree_record("other", "fingerprint-1") is None


def test_state_tree_of_racily_new_files_is_not_trusted(cache):
    now = time.time_ns()
    cache.record_tree("data", "fp", TREE_A, settled_ns([now]))
    assert cache.tree_record("data", "fp") is None


def test_state_settled_is_the_latest_mtime_plus_its_own_window():
    fine, coarse = LONG_AGO_NS + 123_456_789, LONG_AGO_NS + 5 * 10**9  # the coarse one is older but waits longer
    assert settled_ns([fine]) == fine + FINE_RACY_WINDOW_NS
    assert settled_ns([fine, coarse]) == coarse + COARSE_RACY_WINDOW_NS
    assert settled_ns([]) == 0


def test_state_group_records_are_found_at_and_below_the_directory(cache):
    rows = [("data", "f1", SETTLED, 7, ENTRIES), ("data/sub", "f2", SETTLED, 0, []), ("data//3/32", "f3", SETTLED, 0, []),
            ("data2", "f4", SETTLED, 0, []), ("data-x", "f5", SETTLED, 0, [])]
    cache.record_groups(rows)
    assert cache.group_records("data") == {"data": ("f1", SETTLED, 7), "data/sub": ("f2", SETTLED, 0), "data//3/32": ("f3", SETTLED, 0)}
    assert list(cache.group_records("data/sub")) == ["data/sub"]


def test_state_group_of_racily_new_files_is_not_trusted(cache):
    cache.record_groups([("data", "fp", settled_ns([time.time_ns()]), 0, ENTRIES)])
    assert cache.group_records("data") == {}


def test_state_group_entries_come_back_only_for_the_fingerprint_they_were_recorded_with(cache):
    cache.record_groups([("data", "fp-1", SETTLED, 0, ENTRIES), ("data/sub", "fp-2", SETTLED, 0, ENTRIES[:1])])
    assert cache.group_entries("data", {"data": "fp-1", "data/sub": "fp-2"}) == {"data": ENTRIES, "data/sub": ENTRIES[:1]}
    assert cache.group_entries("data", {"data": "fp-9"}) == {}
    cache.record_groups([("data", "fp-3", SETTLED, 0, ENTRIES[1:])])  # recorded again since: another fingerprint
    assert cache.group_entries("data", {"data": "fp-1"}) == {}


def test_state_damaged_group_entries_are_a_missing_record(cache):
    cache.record_groups([("data", "fp", SETTLED, 0, ENTRIES)])
    cache.db.execute("UPDATE groups SET entries = ?", (b"[[1, 2]]",))
    assert cache.group_entries("data", {"data": "fp"}) == {}
    assert cache.warnings == []


def test_state_complete_marks_are_forgotten_with_trees_when_objects_are_deleted(cache):
    cache.mark_complete([A], 7)
    cache.record_tree("data", "fp", TREE_A, SETTLED)
    cache.record_groups([("data", "fp", SETTLED, 7, ENTRIES)])
    assert cache.is_complete(A, 7)
    assert not cache.is_complete(B, 7)
    cache.forget_objects()
    assert not cache.is_complete(A, 7)
    assert cache.tree_record("data", "fp") is None
    assert cache.group_records("data") == {"data": ("fp", SETTLED, 0)}  # its entries still hold; not its completeness


def test_state_complete_mark_holds_only_at_the_cache_generation_it_was_made_at(cache):
    cache.mark_complete([A], 7)
    assert cache.is_complete(A, 7)
    assert not cache.is_complete(A, 8)
    cache.record_groups([("data", "fp", SETTLED, 7, ENTRIES), ("data/sub", "fp", SETTLED, 7, ENTRIES)])
    cache.mark_groups_complete(["data"], 8)
    assert {key: record.generation for key, record in cache.group_records("data").items()} == {"data": 8, "data/sub": 7}


def test_state_persists_across_reopening(tmp_path):
    st = old_file(tmp_path / "f")
    first = StatCache(tmp_path / "state.db")
    first.record_files([("f", st, A)])
    first.close()
    second = StatCache(tmp_path / "state.db")
    try:
        assert second.file_rows_for(["f"])["f"].hex == A.hex
        assert second.warnings == []
    finally:
        second.close()


def test_state_db_declares_its_schema_version(cache, tmp_path):
    cache.file_rows_for(["x"])
    db = sqlite3.connect(tmp_path / "state.db")
    try:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 4
    finally:
        db.close()


@pytest.mark.parametrize(
    "garbage",
    [b"garbage" * 1000, b"SQLite format 3\x00" + b"\xff" * 5000, bytes(range(256)) * 64, b"\x00" * 100],
    ids=["text", "bad-header", "bytes", "zeros"],
)
def test_state_corrupt_db_is_rebuilt_with_a_warning_and_never_raises(tmp_path, garbage):
    path = tmp_path / "state.db"
    path.write_bytes(garbage)
    st = old_file(tmp_path / "f")
    cache = StatCache(path)
    try:
        assert cache.file_rows_for(["f"]) == {}
        assert cache.tree_record("d", "fp") is None
        assert cache.group_records("d") == {}
        assert not cache.is_complete(A, 0)
        cache.record_files([("f", st, A)])
        cache.forget("nothing")
        assert cache.file_rows_for(["f"])["f"].hex == A.hex
        assert len(cache.warnings) == 1
        assert re.fullmatch(r"the stat cache 'state.db' was unreadable \(.+\) and has been rebuilt", cache.warnings[0])
    finally:
        cache.close()


def test_state_that_cannot_be_rebuilt_says_so_once_and_never_raises(tmp_path):
    path = tmp_path / "state.db"
    path.write_bytes(b"garbage" * 1000)
    (tmp_path / "state.db-journal").mkdir()  # sqlite cannot open a database beside this
    cache = StatCache(path)
    try:
        assert cache.file_rows_for(["f"]) == {}
        cache.record_files([("f", old_file(tmp_path / "f"), A)])
        assert len(cache.warnings) == 1, cache.warnings
        pattern = r"the stat cache 'state.db' is unreadable \(.+\) and cannot be rebuilt \(.+\): every file is hashed"
        assert re.fullmatch(pattern, cache.warnings[0])
    finally:
        cache.close()


def test_state_corrupted_pages_after_a_valid_header_are_rebuilt(tmp_path):
    path = tmp_path / "state.db"
    st = old_file(tmp_path / "f")
    cache = StatCache(path)
    paths = [f"data/{n:05}" for n in range(2000)]
    cache.record_files([(path, st, A) for path in paths])
    cache.close()
    size = path.stat().st_size
    assert size > 8192
    with open(path, "r+b") as handle:  # keep the 100-byte header and page 1, smash the rest
        handle.seek(4096)
        handle.write(b"\xa5" * (size - 4096))
    cache = StatCache(path)
    try:
        assert cache.file_rows_for(paths) == {}
        assert len(cache.warnings) == 1
        assert re.fullmatch(r"the stat cache 'state.db' was unreadable \(.+\) and has been rebuilt", cache.warnings[0])
        cache.record_files([("f", st, B)])
        assert cache.file_rows_for(["f"])["f"].hex == B.hex
        assert cache.file_rows_for(paths) == {}
    finally:
        cache.close()


def test_state_from_a_newer_schema_version_is_dropped_and_rebuilt(tmp_path):
    path = tmp_path / "state.db"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE files (path TEXT PRIMARY KEY, other TEXT)")
    db.execute("INSERT INTO files VALUES ('f', 'x')")
    db.execute("PRAGMA user_version = 99")
    db.commit()
    db.close()
    st = old_file(tmp_path / "f")
    cache = StatCache(path)
    try:
        assert cache.file_rows_for(["f"]) == {}
        cache.record_files([("f", st, A)])
        assert cache.file_rows_for(["f"])["f"].hex == A.hex
    finally:
        cache.close()


@pytest.mark.parametrize("version", [2, 3])
def test_state_of_an_older_version_is_dropped_because_its_file_rows_lack_the_ctime(tmp_path, version):
    # Those rows cannot tell a file whose mtime was set back after an edit: trusting them once more
    # could hide that edit, so the upgrade costs one re-hash instead.
    path = tmp_path / "state.db"
    db = sqlite3.connect(path)
    db.executescript(
        "CREATE TABLE files (path TEXT PRIMARY KEY, ino INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, size INTEGER NOT NULL,"
        " hex TEXT NOT NULL, recorded_ns INTEGER NOT NULL) WITHOUT ROWID;"
        "CREATE TABLE complete (hex TEXT PRIMARY KEY, generation INTEGER NOT NULL) WITHOUT ROWID;"
    )
    db.execute("INSERT INTO files VALUES ('f', 1, 2, 3, ?, 4)", (A.hex,))
    db.execute("INSERT INTO complete VALUES (?, 7)", (A.hex,))
    db.execute(f"PRAGMA user_version = {version}")
    db.commit()
    db.close()
    st = old_file(tmp_path / "f")
    cache = StatCache(path)
    try:
        assert cache.file_rows_for(["f"]) == {}
        assert not cache.is_complete(A, 7)
        cache.record_files([("f", st, B)])
        assert cache.file_rows_for(["f"])["f"] == (st.ino, st.mtime_ns, st.ctime_ns, st.size, B.hex, pytest.approx(time.time_ns(), abs=10**10))
        assert cache.warnings == []
    finally:
        cache.close()
