"""The stat cache (.mlx/state.db): what a file hashed to, keyed by what stat said about it.

Two tables: `files` maps a repository path and its (inode, mtime_ns, size) to a digest; `trees` maps
a tracked directory and a fingerprint of all its files' stats to the tree's digest, so that an
unchanged directory of 10^5 files costs one lookup after the walk. An entry is trusted only when the
file's mtime is older than the moment it was recorded by more than racy_window_ns(): a file written
in the same clock tick as it was hashed could change again without changing its stat (git's
"racily clean" rule). The database is a cache: if it is unreadable it is rebuilt, and mlx never fails
because of it.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterable
from pathlib import Path

from mlxkit.fs.walk import FileStat
from mlxkit.store.digest import Digest

SCHEMA_VERSION = 2
FINE_RACY_WINDOW_NS = 100_000_000  # many clock ticks of a file system with ns timestamps
COARSE_RACY_WINDOW_NS = 2_000_000_000  # FAT's 2 s, and whole-second timestamps (network, archives)


def racy_window_ns(mtime_ns: int) -> int:
    """How much older than the moment of recording a file's mtime must be before its record is
    trusted: a timestamp that is a whole number of milliseconds may come from a coarse clock."""
    return COARSE_RACY_WINDOW_NS if mtime_ns % 1_000_000 == 0 else FINE_RACY_WINDOW_NS
_SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    path TEXT PRIMARY KEY, ino INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, size INTEGER NOT NULL,
    hex TEXT NOT NULL, recorded_ns INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS trees (
    path TEXT PRIMARY KEY, fingerprint TEXT NOT NULL, hex TEXT NOT NULL, newest_mtime_ns INTEGER NOT NULL,
    recorded_ns INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS complete (hex TEXT PRIMARY KEY, generation INTEGER NOT NULL) WITHOUT ROWID;
"""
FileRow = tuple[int, int, int, str, int]  # ino, mtime_ns, size, hex, recorded_ns


def is_trusted(row: FileRow | None, st: FileStat) -> bool:
    if row is None:
        return False
    ino, mtime_ns, size, _hex, recorded_ns = row
    return (
        ino == st.ino and mtime_ns == st.mtime_ns and size == st.size and mtime_ns + racy_window_ns(mtime_ns) < recorded_ns
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
            return self._connect()
        except sqlite3.DatabaseError as exc:
            self._reset(exc)
            return self._connect()

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA busy_timeout = 30000")
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version not in (0, SCHEMA_VERSION):
            db.executescript("DROP TABLE IF EXISTS files; DROP TABLE IF EXISTS trees; DROP TABLE IF EXISTS complete;")
            version = 0
        if version == 0:
            db.execute("PRAGMA journal_mode = WAL")
            db.executescript(_SCHEMA)
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        db.execute("PRAGMA synchronous = NORMAL")
        db.execute("SELECT count(*) FROM files WHERE path = ''").fetchone()  # touch the schema: fail here if corrupt
        return db

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    # -- files --------------------------------------------------------------------------------

    def file_rows(self, prefix: str) -> dict[str, FileRow]:
        """Every row for the path `prefix` itself and everything below it, in one query."""
        try:
            cursor = self.db.execute(
                "SELECT path, ino, mtime_ns, size, hex, recorded_ns FROM files "
                "WHERE path = ? OR (path > ? AND path < ?)",
                (prefix, prefix + "/", prefix + "0"),  # '0' sorts right after '/'
            )
            return {row[0]: row[1:] for row in cursor}
        except sqlite3.DatabaseError as exc:
            self._reset(exc)
            return {}

    def record_files(self, rows: Iterable[tuple[str, FileStat, Digest]]) -> None:
        now = time.time_ns()
        values = [(path, st.ino, st.mtime_ns, st.size, digest.hex, now) for path, st, digest in rows]
        if values:
            self._write("INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?, ?)", values)

    def forget(self, prefix: str) -> None:
        """Drop rows at and below `prefix` (a path that stopped being tracked)."""
        try:
            for table in ("files", "trees"):
                self.db.execute(
                    f"DELETE FROM {table} WHERE path = ? OR (path > ? AND path < ?)",  # noqa: S608 - fixed names
                    (prefix, prefix + "/", prefix + "0"),
                )
        except sqlite3.DatabaseError as exc:
            self._reset(exc)

    # -- trees --------------------------------------------------------------------------------

    def tree_digest(self, path: str, fingerprint: str) -> Digest | None:
        try:
            row = self.db.execute(
                "SELECT fingerprint, hex, newest_mtime_ns, recorded_ns FROM trees WHERE path = ?", (path,)
            ).fetchone()
        except sqlite3.DatabaseError as exc:
            self._reset(exc)
            return None
        if row is None or row[0] != fingerprint or not row[2] + racy_window_ns(row[2]) < row[3]:
            return None
        return Digest(row[1])

    def record_tree(self, path: str, fingerprint: str, digest: Digest, newest_mtime_ns: int) -> None:
        self._write(
            "INSERT OR REPLACE INTO trees VALUES (?, ?, ?, ?, ?)",
            [(path, fingerprint, digest.hex, newest_mtime_ns, time.time_ns())],
        )

    # -- trees whose every object was seen in the cache ------------------------------------------

    def is_complete(self, digest: Digest, generation: int) -> bool:
        """Whether every object of tree `digest` was seen in the cache at this cache `generation`
        (ObjectStore.generation: it moves whenever an object is added or deleted, by mlx or not)."""
        try:
            row = self.db.execute("SELECT generation FROM complete WHERE hex = ?", (digest.hex,)).fetchone()
        except sqlite3.DatabaseError as exc:
            self._reset(exc)
            return False
        return row is not None and row[0] == generation

    def mark_complete(self, digest: Digest, generation: int) -> None:
        self._write("INSERT OR REPLACE INTO complete VALUES (?, ?)", [(digest.hex, generation)])

    def forget_objects(self) -> None:
        """Called by whatever deletes objects (gc, fsck --repair): forget which trees were complete
        and which directories' trees are known, since both imply that objects exist."""
        self._write("DELETE FROM complete", [()])
        self._write("DELETE FROM trees", [()])

    # -- plumbing -----------------------------------------------------------------------------

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

    def _reset(self, exc: Exception) -> None:
        self.close()
        self.warnings.append(f"the stat cache '{self.path.name}' was unreadable ({exc}) and has been rebuilt")
        for suffix in ("", "-wal", "-shm"):
            try:
                os.unlink(f"{self.path}{suffix}")
            except FileNotFoundError:
                pass
