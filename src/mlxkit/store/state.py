"""The stat cache (.mlx/state.db): what files hashed to, keyed by what stat said about them.

Three tables of records (and one of completeness marks):

- `files` maps a repository path and its (inode, mtime_ns, ctime_ns, size) to a digest.
- `groups` maps a *group* (the files of one directory, or one share of a large one: fs/walk.py) and
  the fingerprint of its files' names and stats to its entries (name, digest, size, executable), so
  that a changed tree re-reads only its changed groups, not 10^5 file rows.
- `trees` maps a tracked directory and the fingerprint of all its groups to the tree's digest, size
  and file count, so that an unchanged directory of 10^5 files costs one lookup after the scan.

A record is trusted only once the moment it was recorded is past its files' mtimes by more than
racy_window_ns(): a file written in the same clock tick as it was hashed could change again without
changing its stat (git's "racily clean" rule). The database is a cache: if it is unreadable it is
rebuilt, and mlx never fails because of it.

The ctime is compared as git compares it: a program can set a file's mtime back after changing it
(`cp -p` onto an existing file, `touch -r`, some sync tools), but only the kernel sets the ctime.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

from mlxkit.fs.walk import FileStat
from mlxkit.store.digest import Digest

SCHEMA_VERSION = 4
FINE_RACY_WINDOW_NS = 100_000_000  # many clock ticks of a file system with ns timestamps
COARSE_RACY_WINDOW_NS = 2_000_000_000  # FAT's 2 s, and whole-second timestamps (network, archives)


def racy_window_ns(mtime_ns: int) -> int:
    """How much older than the moment of recording a file's mtime must be before its record is
    trusted: a timestamp that is a whole number of milliseconds may come from a coarse clock."""
    return COARSE_RACY_WINDOW_NS if mtime_ns % 1_000_000 == 0 else FINE_RACY_WINDOW_NS


def settled_ns(mtimes: Iterable[int]) -> int:
    """The moment after which a record made of files with these mtimes may be trusted."""
    return max((mtime + racy_window_ns(mtime) for mtime in mtimes), default=0)


_SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    path TEXT PRIMARY KEY, ino INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, ctime_ns INTEGER NOT NULL,
    size INTEGER NOT NULL, hex TEXT NOT NULL, recorded_ns INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS groups (
    path TEXT PRIMARY KEY, fingerprint TEXT NOT NULL, settled_ns INTEGER NOT NULL, recorded_ns INTEGER NOT NULL,
    generation INTEGER NOT NULL, entries BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS trees (
    path TEXT PRIMARY KEY, fingerprint TEXT NOT NULL, hex TEXT NOT NULL, size INTEGER NOT NULL,
    files INTEGER NOT NULL, settled_ns INTEGER NOT NULL, recorded_ns INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS complete (hex TEXT PRIMARY KEY, generation INTEGER NOT NULL) WITHOUT ROWID;
"""
_TABLES = ("files", "groups", "trees", "complete")
GroupEntry = tuple[str, str, int, bool]  # name in its directory, digest hex, size, executable
_BELOW = "path = ? OR (path > ? AND path < ?)"  # a path, and every path below it ('0' sorts right after '/')
IN_CHUNK = 500  # paths per `IN (...)` query: under every SQLite's limit of bound parameters


def _below(path: str) -> tuple[str, str, str]:
    return (path, path + "/", path + "0")


class FileRow(NamedTuple):
    """What a file's stat said when it hashed to `hex`, and when that was recorded."""

    ino: int
    mtime_ns: int
    ctime_ns: int
    size: int
    hex: str
    recorded_ns: int


class GroupRecord(NamedTuple):
    fingerprint: str
    settled_ns: int
    generation: int  # the cache generation at which every object of its entries was seen; 0: never


class TreeRecord(NamedTuple):
    digest: Digest
    size: int
    files: int


def is_trusted(row: FileRow | None, st: FileStat) -> bool:
    if row is None:
        return False
    return (
        (row.ino, row.mtime_ns, row.ctime_ns, row.size) == (st.ino, st.mtime_ns, st.ctime_ns, st.size)
        and row.mtime_ns + racy_window_ns(row.mtime_ns) < row.recorded_ns
    )


class StatCache:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._db: sqlite3.Connection | None = None
        self.warnings: list[str] = []

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            self._db = self._open()
        return self._db

    def _open(self) -> sqlite3.Connection:
        try:
            return self._connect(self.path)
        except sqlite3.DatabaseError as exc:
            if self._reset(exc):
                try:
                    return self._connect(self.path)
                except sqlite3.DatabaseError as again:  # in place of _reset's "has been rebuilt"
                    self.warnings[-1] = (
                        f"the stat cache '{self.path.name}' is unreadable ({exc}) and cannot be rebuilt ({again}): "
                        "every file is hashed"
                    )
        return self._connect(":memory:")  # carry on without it: a cache, never a reason to fail

    def _connect(self, path: Path | str) -> sqlite3.Connection:
        db = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA busy_timeout = 30000")
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version != SCHEMA_VERSION:
            # Without fsyncs: a crash here leaves an empty or damaged cache, which _open resets.
            # (With them, creating the schema took 14 fsyncs, each waiting behind a pull's flush.)
            db.execute("PRAGMA synchronous = OFF")
            db.execute("PRAGMA journal_mode = WAL")
            drops = "".join(f"DROP TABLE IF EXISTS {table};" for table in _TABLES)
            db.executescript(f"BEGIN; {drops} {_SCHEMA} PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;")
        # WAL with NORMAL: a commit is not fsynced (a checkpoint is). A crash may lose the newest
        # rows, which costs a re-hash, never a wrong answer.
        db.execute("PRAGMA synchronous = NORMAL")
        db.execute("SELECT count(*) FROM files WHERE path = ''").fetchone()  # touch the schema: fail here if corrupt
        return db

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    # -- files --------------------------------------------------------------------------------

    def file_rows_for(self, paths: Sequence[str]) -> dict[str, FileRow]:
        """The rows of these paths (a changed group's files, not the whole tree's)."""
        found: dict[str, FileRow] = {}
        for start in range(0, len(paths), IN_CHUNK):
            chunk = paths[start : start + IN_CHUNK]
            marks = ",".join("?" * len(chunk))
            rows = self._select(f"SELECT path, ino, mtime_ns, ctime_ns, size, hex, recorded_ns FROM files WHERE path IN ({marks})", chunk)
            found.update((path, FileRow._make(row)) for path, row in rows)
        return found

    def record_files(self, rows: Iterable[tuple[str, FileStat, Digest]]) -> None:
        now = time.time_ns()
        values = [(path, st.ino, st.mtime_ns, st.ctime_ns, st.size, digest.hex, now) for path, st, digest in rows]
        if values:
            self._write("INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?, ?, ?)", values)

    def forget(self, prefix: str) -> None:
        """Drop rows at and below `prefix` (a path that stopped being tracked)."""
        try:
            for table in ("files", "groups", "trees"):
                self.db.execute(f"DELETE FROM {table} WHERE " + _BELOW, _below(prefix))  # noqa: S608 - fixed names
        except sqlite3.DatabaseError as exc:
            self._reset(exc)

    # -- groups -------------------------------------------------------------------------------

    def group_records(self, top: str) -> dict[str, GroupRecord]:
        """The trusted records of the groups at and below the directory `top`, by group key."""
        rows = self._select(
            "SELECT path, fingerprint, settled_ns, generation FROM groups WHERE settled_ns < recorded_ns AND (" + _BELOW + ")",
            _below(top),
        )
        return {key: GroupRecord(fingerprint, settled, generation) for key, (fingerprint, settled, generation) in rows}

    def group_entries(self, top: str, wanted: Mapping[str, str]) -> dict[str, list[GroupEntry]]:
        """The entries of the groups below `top` that `wanted` maps to the fingerprint they were
        recorded with; a group recorded since with another fingerprint, or damaged, is left out."""
        rows = self._select("SELECT path, fingerprint, entries FROM groups WHERE " + _BELOW, _below(top))
        found = {}
        for key, (fingerprint, blob) in rows:
            if wanted.get(key) == fingerprint:
                try:
                    found[key] = [(name, hex_digits, size, bool(x)) for name, hex_digits, size, x in json.loads(blob)]
                except (ValueError, TypeError):  # a damaged record is a missing one
                    continue
        return found

    def record_groups(self, rows: Iterable[tuple[str, str, int, int, list[GroupEntry]]]) -> None:
        """(key, fingerprint, settled_ns, generation, entries) for each group."""
        now = time.time_ns()
        values = [
            (key, fingerprint, settled, now, generation, json.dumps(entries, separators=(",", ":")).encode())
            for key, fingerprint, settled, generation, entries in rows
        ]
        if values:
            self._write("INSERT OR REPLACE INTO groups VALUES (?, ?, ?, ?, ?, ?)", values)

    def mark_groups_complete(self, keys: Iterable[str], generation: int) -> None:
        values = [(generation, key) for key in keys]
        if values:
            self._write("UPDATE groups SET generation = ? WHERE path = ?", values)

    # -- trees --------------------------------------------------------------------------------

    def tree_record(self, path: str, fingerprint: str) -> TreeRecord | None:
        """What the tracked directory `path` held when its groups had this combined fingerprint."""
        rows = self._select(
            "SELECT path, hex, size, files FROM trees WHERE path = ? AND fingerprint = ? AND settled_ns < recorded_ns",
            (path, fingerprint),
        )
        for _path, (hex_digits, size, files) in rows:
            return TreeRecord(Digest(hex_digits), size, files)
        return None

    def record_tree(self, path: str, fingerprint: str, record: TreeRecord, settled: int) -> None:
        self._write(
            "INSERT OR REPLACE INTO trees VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(path, fingerprint, record.digest.hex, record.size, record.files, settled, time.time_ns())],
        )

    # -- trees whose every object was seen in the cache ------------------------------------------

    def is_complete(self, digest: Digest, generation: int) -> bool:
        """Whether every object of tree `digest` was seen in the cache at this cache `generation`
        (ObjectStore.generation: it moves whenever an object is added or deleted, by mlx or not)."""
        rows = self._select("SELECT hex, generation FROM complete WHERE hex = ?", (digest.hex,))
        return any(row[0] == generation for _hex, row in rows)

    def mark_complete(self, digests: Iterable[Digest], generation: int) -> None:
        self._write("INSERT OR REPLACE INTO complete VALUES (?, ?)", [(digest.hex, generation) for digest in digests])

    def forget_objects(self) -> None:
        """Called by whatever deletes objects (gc, fsck --repair): forget which trees and groups were
        complete, and which directories' trees are known, since both imply that objects exist."""
        self._write("DELETE FROM complete", [()])
        self._write("DELETE FROM trees", [()])
        self._write("UPDATE groups SET generation = 0", [()])

    # -- plumbing -----------------------------------------------------------------------------

    def _select(self, sql: str, values: Sequence[object]) -> list[tuple[str, tuple]]:  # type: ignore[type-arg]
        """(first column, the other columns) for each row; none when the database is unreadable."""
        try:
            return [(row[0], row[1:]) for row in self.db.execute(sql, values)]
        except sqlite3.DatabaseError as exc:
            self._reset(exc)
            return []

    def _write(self, sql: str, values: list[tuple[object, ...]]) -> None:
        try:
            with self.db:
                self.db.execute("BEGIN")
                self.db.executemany(sql, values)
        except sqlite3.OperationalError as exc:
            if "readonly" in str(exc) or "locked" in str(exc):
                self.warnings.append(f"could not update the stat cache: {exc}")
                return
            self._reset(exc)
        except sqlite3.DatabaseError as exc:
            self._reset(exc)

    def _reset(self, exc: Exception) -> bool:
        """Delete the unreadable database so that it is rebuilt; False when it cannot be deleted."""
        self.close()
        for suffix in ("", "-wal", "-shm"):
            try:
                os.unlink(f"{self.path}{suffix}")
            except FileNotFoundError:
                pass
            except OSError as error:  # a directory in its place, a read-only .mlx/
                name = os.path.basename(f"{self.path}{suffix}")
                self.warnings.append(f"the stat cache '{self.path.name}' is unreadable ({exc}) and '{name}' cannot be "
                                     f"removed ({error.strerror}): every file is hashed")
                return False
        self.warnings.append(f"the stat cache '{self.path.name}' was unreadable ({exc}) and has been rebuilt")
        return True
