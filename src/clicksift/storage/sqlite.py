"""The embedded default store: one SQLite file in WAL mode."""

from __future__ import annotations

import fcntl
import os
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar

from clicksift.errors import StorageError
from clicksift.storage.sql import SqlStore


class SqliteStore(SqlStore):
    _lock_fd: int | None = None

    dialect = "sqlite"
    dialect_words: ClassVar[dict[str, str]] = {
        "serial": "INTEGER PRIMARY KEY AUTOINCREMENT", "real": "REAL", "blob": "BLOB"}
    driver_errors = (sqlite3.Error,)

    @classmethod
    def open(cls, path: str, *, synchronous: str = "full", timeout: float = 10.0) -> SqliteStore:
        file = Path(path)
        if not file.parent.exists():
            raise StorageError(f"cannot create the database {path}: folder {file.parent} "
                               "does not exist")
        try:
            connection = sqlite3.connect(path, timeout=timeout, isolation_level=None,
                                         check_same_thread=False)
            connection.execute("PRAGMA journal_mode=WAL")
            level = "FULL" if synchronous == "full" else "NORMAL"
            connection.execute(f"PRAGMA synchronous={level}")
            connection.execute(f"PRAGMA busy_timeout={int(timeout * 1000)}")
            connection.execute("PRAGMA foreign_keys=OFF")
        except sqlite3.DatabaseError as exc:
            raise StorageError(f"cannot open the database {path}: {exc}") from None
        store = cls(connection, path)
        store._lock_fd = os.open(path + ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        return store

    # sqlite3 in autocommit mode (isolation_level=None): transactions are explicit.
    # Writers queue on an flock of a lock file beside the database: the kernel wakes the next
    # writer the moment the lock is free, where SQLite's own busy handler sleeps and retries.
    def begin(self) -> None:
        if self._lock_fd is not None:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
        try:
            self.connection.execute("BEGIN IMMEDIATE")
        except BaseException:
            self._unlock()
            raise

    def _unlock(self) -> None:
        if self._lock_fd is not None:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        self.begin()
        try:
            yield
        except BaseException:
            self.connection.rollback()
            self._unlock()
            raise
        try:
            self.connection.commit()
        finally:
            self._unlock()

    def close(self) -> None:
        super().close()
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def executemany(self, statement: str, rows: Iterable[Sequence[Any]]) -> int:
        before = self.connection.total_changes
        self.connection.executemany(statement, rows)
        return int(self.connection.total_changes - before)
