"""The embedded default store: one SQLite file in WAL mode."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, ClassVar

from clicksift.errors import StorageError
from clicksift.storage.sql import SqlStore


class SqliteStore(SqlStore):
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
            connection.execute(f"PRAGMA synchronous={'FULL' if synchronous == 'full' else 'NORMAL'}")
            connection.execute(f"PRAGMA busy_timeout={int(timeout * 1000)}")
            connection.execute("PRAGMA foreign_keys=OFF")
        except sqlite3.DatabaseError as exc:
            raise StorageError(f"cannot open the database {path}: {exc}") from None
        return cls(connection, path)

    # sqlite3 in autocommit mode (isolation_level=None): transactions are explicit.
    def begin(self) -> None:
        self.connection.execute("BEGIN IMMEDIATE")

    def executemany(self, statement: str, rows: Iterable[Sequence[Any]]) -> int:
        before = self.connection.total_changes
        self.connection.executemany(statement, rows)
        return int(self.connection.total_changes - before)
