"""The stat cache: a row is trusted only when the stat matches and the file is not racily new; it is a cache."""

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
    StatCache,
    is_trusted,
    racy_window_ns,
)

A = Digest("a" * 64)
B = Digest("b" * 64)
LONG_AGO_NS = 1_600_000_000 * 10**9  # 2020-09-13


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


def test_state_row_is_trusted_when_ino_mtime_size_match_and_file_is_old(cache, tmp_path):
    st = old_file(tmp_path / "f")
    cache.record_files([("data/f", st, A)])
    row = cache.file_rows("data/f")["data/f"]
    assert row[:4] == (st.ino, st.mtime_ns, st.size, A.hex)
    assert is_trusted(row, file_stat(tmp_path / "f"))


def test_state_row_of_a_file_written_now_is_not_trusted(cache, tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"data")
    st = file_stat(path)
    cache.record_files([("f", st, A)])
    row = cache.file_rows("f")["f"]
    assert row[:3] == (st.ino, st.mtime_ns, st.size)
    assert not is_trusted(row, file_stat(path))


def test_state_row_is_not_trusted_until_the_racy_window_has_passed(tmp_path):
    st = old_file(tmp_path / "f")
    mtime = st.mtime_ns
    assert not is_trusted((st.ino, mtime, st.size, A.hex, mtime), st)
    window = racy_window_ns(mtime)
    assert not is_trusted((st.ino, mtime, st.size, A.hex, mtime + window), st)
    assert is_trusted((st.ino, mtime, st.size, A.hex, mtime + window + 1), st)


def test_state_racy_window_is_two_seconds_for_whole_millisecond_timestamps():
    assert racy_window_ns(1_700_000_000_000_000_000) == COARSE_RACY_WINDOW_NS == 2_000_000_000
    assert racy_window_ns(1_700_000_000_123_000_000) == COARSE_RACY_WINDOW_NS
    assert racy_window_ns(1_700_000_000_123_456_789) == FINE_RACY_WINDOW_NS == 100_000_000


def test_state_row_is_not_trusted_when_the_file_changed(cache, tmp_path):
    path = tmp_path / "f"
    st = old_file(path)
    cache.record_files([("f", st, A)])
    row = cache.file_rows("f")["f"]

    old_file(path, b"more data")  # same mtime, other size
    assert not is_trusted(row, file_stat(path))

    old_file(path)
    os.utime(path, ns=(LONG_AGO_NS, LONG_AGO_NS + 1))  # same size, other mtime
    assert not is_trusted(row, file_stat(path))

    old_file(path)  # back as it was: trusted again
    assert is_trusted(row, file_stat(path))
    assert not is_trusted(row, file_stat(path)._replace(ino=st.ino + 1))  # same size and mtime, other inode


def test_state_missing_row_is_not_trusted(cache, tmp_path):
    assert cache.file_rows("nothing") == {}
    assert not is_trusted(None, old_file(tmp_path / "f"))


def test_state_file_rows_returns_the_prefix_and_everything_below_it_only(cache, tmp_path):
    st = old_file(tmp_path / "f")
    paths = ["data", "data/a", "data/sub/b", "data2", "data2/x", "data.csv", "data-x/y", "dat", "datab"]
    cache.record_files([(path, st, A) for path in paths])
    assert sorted(cache.file_rows("data")) == ["data", "data/a", "data/sub/b"]
    assert sorted(cache.file_rows("data/sub")) == ["data/sub/b"]


def test_state_forget_removes_only_that_prefix(cache, tmp_path):
    st = old_file(tmp_path / "f")
    paths = ["data", "data/a", "data/sub/b", "data2", "data2/x", "data.csv", "data-x/y"]
    cache.record_files([(path, st, A) for path in paths])
    cache.record_tree("data", "fp", A, LONG_AGO_NS)
    cache.record_tree("data2", "fp", B, LONG_AGO_NS)
    cache.forget("data")
    assert sorted(cache.file_rows("data")) == []
    remaining = {path for prefix in ("data2", "data.csv", "data-x") for path in cache.file_rows(prefix)}
    assert remaining == {"data2", "data2/x", "data.csv", "data-x/y"}
    assert cache.tree_digest("data", "fp") is None
    assert cache.tree_digest("data2", "fp") == B


def test_state_record_files_replaces_an_earlier_row(cache, tmp_path):
    st = old_file(tmp_path / "f")
    cache.record_files([("f", st, A)])
    cache.record_files([("f", st, B)])
    assert cache.file_rows("f")["f"][3] == B.hex


def test_state_tree_digest_is_found_by_path_and_fingerprint(cache):
    cache.record_tree("data", "fingerprint-1", A, LONG_AGO_NS)
    assert cache.tree_digest("data", "fingerprint-1") == A
    assert cache.tree_digest("data", "fingerprint-2") is None
    assert cache.tree_digest("other", "fingerprint-1") is None


def test_state_tree_with_a_racily_new_file_is_not_trusted(cache):
    cache.record_tree("data", "fp", A, time.time_ns())
    assert cache.tree_digest("data", "fp") is None


def test_state_complete_marks_are_forgotten_with_trees_when_objects_are_deleted(cache):
    cache.mark_complete(A, 7)
    cache.record_tree("data", "fp", A, LONG_AGO_NS)
    assert cache.is_complete(A, 7)
    assert not cache.is_complete(B, 7)
    cache.forget_objects()
    assert not cache.is_complete(A, 7)
    assert cache.tree_digest("data", "fp") is None


def test_state_complete_mark_holds_only_at_the_cache_generation_it_was_made_at(cache):
    cache.mark_complete(A, 7)
    assert cache.is_complete(A, 7)
    assert not cache.is_complete(A, 8)


def test_state_persists_across_reopening(tmp_path):
    st = old_file(tmp_path / "f")
    first = StatCache(tmp_path / "state.db")
    first.record_files([("f", st, A)])
    first.close()
    second = StatCache(tmp_path / "state.db")
    try:
        assert second.file_rows("f")["f"][3] == A.hex
        assert second.warnings == []
    finally:
        second.close()


def test_state_db_declares_its_schema_version(cache, tmp_path):
    cache.file_rows("x")
    db = sqlite3.connect(tmp_path / "state.db")
    try:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 2
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
        assert cache.file_rows("f") == {}
        assert cache.tree_digest("d", "fp") is None
        assert not cache.is_complete(A, 0)
        cache.record_files([("f", st, A)])
        cache.forget("nothing")
        assert cache.file_rows("f")["f"][3] == A.hex
        assert len(cache.warnings) == 1
        assert re.fullmatch(r"the stat cache 'state.db' was unreadable \(.+\) and has been rebuilt", cache.warnings[0])
    finally:
        cache.close()


def test_state_corrupted_pages_after_a_valid_header_are_rebuilt(tmp_path):
    path = tmp_path / "state.db"
    st = old_file(tmp_path / "f")
    cache = StatCache(path)
    cache.record_files([(f"data/{n:05}", st, A) for n in range(2000)])
    cache.close()
    size = path.stat().st_size
    assert size > 8192
    with open(path, "r+b") as handle:  # keep the 100-byte header and page 1, smash the rest
        handle.seek(4096)
        handle.write(b"\xa5" * (size - 4096))
    cache = StatCache(path)
    try:
        assert cache.file_rows("data") == {}
        assert len(cache.warnings) == 1
        assert re.fullmatch(r"the stat cache 'state.db' was unreadable \(.+\) and has been rebuilt", cache.warnings[0])
        cache.record_files([("f", st, B)])
        assert cache.file_rows("f")["f"][3] == B.hex
        assert cache.file_rows("data") == {}
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
        assert cache.file_rows("f") == {}
        cache.record_files([("f", st, A)])
        assert cache.file_rows("f")["f"][3] == A.hex
    finally:
        cache.close()
