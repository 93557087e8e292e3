"""The embedded default store: one SQLite file in WAL mode."""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar

from clicksift.errors import StorageError, StoreBusy
from clicksift.storage.sql import SqlStore

log = logging.getLogger("clicksift.storage")
#: Bytes the WAL file is trimmed to after a checkpoint lets it start over.
WAL_SIZE_LIMIT = 64 * 1024 * 1024
#: A WAL past this size is cut back: under steady writes a PASSIVE checkpoint never finds
#: the moment to start the WAL over, and it would grow without end (500 MB in 12 s).
WAL_CUT_BYTES = WAL_SIZE_LIMIT


class SqliteStore(SqlStore):
    _lock_fd: int | None = None
    _turn_fd: int | None = None

    dialect = "sqlite"
    dialect_words: ClassVar[dict[str, str]] = {
        "serial": "INTEGER PRIMARY KEY", "real": "REAL", "blob": "BLOB"}
    driver_errors = (sqlite3.Error,)

    def recover_hint(self) -> str:
        return f"sqlite3 {self.location} .recover | sqlite3 recovered.db"

    timeout: float = 10.0

    @classmethod
    def open(cls, path: str, *, synchronous: str = "full", timeout: float = 10.0,
             checkpoint: bool = True) -> SqliteStore:
        """Open (or create) the database at PATH.

        TIMEOUT is how long a write waits for another writer (0: not at all, the write
        raises :class:`StoreBusy`). Without CHECKPOINT the connection leaves WAL
        checkpoints to someone else (the tracking server runs them in the background)."""
        file = Path(path)
        if not file.parent.exists():
            raise StorageError(f"cannot create the database {path}: folder {file.parent} "
                               "does not exist")
        if not file.exists() and path != ":memory:":
            # It will hold the signing keys and the session secret: only its owner reads
            # it (SQLite gives its WAL and shared-memory files the database file's mode).
            with contextlib.suppress(OSError):
                os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600))
        try:
            connection = sqlite3.connect(path, timeout=timeout, isolation_level=None,
                                         check_same_thread=False)
        except sqlite3.DatabaseError as exc:
            raise StorageError(f"cannot open the database {path}: {exc}") from None
        store = cls(connection, path)
        try:
            connection.execute("PRAGMA journal_mode=WAL")
            level = "FULL" if synchronous == "full" else "NORMAL"
            connection.execute(f"PRAGMA synchronous={level}")
            connection.execute(f"PRAGMA busy_timeout={int(timeout * 1000)}")
            connection.execute("PRAGMA foreign_keys=OFF")
            # Deleted rows (erased, archived) are overwritten, not only unlinked: what the
            # privacy commands remove leaves no bytes behind in the file (docs/privacy.md).
            connection.execute("PRAGMA secure_delete=ON")
            connection.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")
            if not checkpoint:
                connection.execute("PRAGMA wal_autocheckpoint=0")
        except sqlite3.DatabaseError as exc:
            connection.close()
            # A damaged file says so, with how to recover it, like any other read would.
            raise store.failure(exc) from None
        store.timeout = timeout
        store._lock_fd = os.open(path + ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        store._turn_fd = os.open(path + ".turn", os.O_RDWR | os.O_CREAT, 0o600)
        return store

    def erase_recipient(self, address: str, suppression_key: str, now: float
                        ) -> dict[str, int]:
        """As the SQL store's (its deletes overwrite the rows' bytes: secure_delete), then the
        WAL copied back and cut, when no reader still needs it: its older frames hold the
        pages as they were before the erasure."""
        removed = super().erase_recipient(address, suppression_key, now)
        self.connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return removed

    def exposed_files(self) -> list[str]:
        """The store's files that other local users can read (they hold secrets)."""
        found = []
        for name in (self.location, self.location + "-wal", self.location + "-shm"):
            with contextlib.suppress(OSError):
                if os.stat(name).st_mode & 0o077:
                    found.append(name)
        return found

    def checkpoint(self) -> None:
        """Copy what the WAL holds into the database file, without waiting for anyone; a
        WAL grown past WAL_CUT_BYTES is then cut back to nothing, between two writes."""
        self.connection.execute("PRAGMA wal_checkpoint(PASSIVE)")
        try:
            size = os.path.getsize(self.location + "-wal")
        except OSError:
            return
        if size > WAL_CUT_BYTES:
            self._cut_wal(size)

    def _cut_wal(self, size: int) -> None:
        """Catch up with the last frames while holding clicksift's write lock (the PASSIVE
        checkpoint just before copied the rest, so the writers wait only for these): the
        next write then starts the WAL over, and SQLite trims the file."""
        if self._lock_fd is None or self._turn_fd is None:
            return
        deadline = time.monotonic() + self.timeout
        self._flock(self._turn_fd, fcntl.LOCK_EX, deadline)    # new writers wait behind us
        try:
            self._flock(self._lock_fd, fcntl.LOCK_EX, deadline)  # the current one finishes
            try:
                started = time.monotonic()
                _busy, frames, copied = self.connection.execute(
                    "PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            finally:
                self._unlock()
        finally:
            fcntl.flock(self._turn_fd, fcntl.LOCK_UN)
        log.debug("caught up with the WAL of %s at %d MB (%d of %d frames, %.0f ms)",
                  self.location, size >> 20, copied, frames,
                  1000 * (time.monotonic() - started))

    # sqlite3 in autocommit mode (isolation_level=None): transactions are explicit.
    # clicksift's writers take an flock of a lock file beside the database first, so they
    # queue in the kernel instead of in SQLite's busy handler, which sleeps between retries.
    def begin(self) -> None:
        if self._lock_fd is not None:
            self._lock()
        try:
            self.connection.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            self._unlock()
            if "locked" in str(exc) or "busy" in str(exc):
                raise StoreBusy(f"the database {self.location} is busy") from None
            raise self.failure(exc) from None
        except BaseException:
            self._unlock()
            raise

    @contextmanager
    def waiting_at_most(self, seconds: float) -> Iterator[None]:
        usual, self.timeout = self.timeout, min(self.timeout, seconds)
        try:
            yield
        finally:
            self.timeout = usual

    def _lock(self) -> None:
        """Take the write lock, through the turnstile: a checkpointer waiting to catch up
        with the WAL holds the turnstile, so writers queue behind it instead of taking the
        lock back from it batch after batch."""
        assert self._lock_fd is not None and self._turn_fd is not None
        deadline = time.monotonic() + self.timeout
        self._flock(self._turn_fd, fcntl.LOCK_SH, deadline)
        fcntl.flock(self._turn_fd, fcntl.LOCK_UN)
        self._flock(self._lock_fd, fcntl.LOCK_EX, deadline)

    def _flock(self, fd: int, mode: int, deadline: float) -> None:
        pause = 0.0005
        while True:
            try:
                fcntl.flock(fd, mode | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise StoreBusy(f"the database {self.location} is busy (another "
                                    "clicksift process is writing)") from None
                time.sleep(pause)
                pause = min(pause * 2, 0.002)

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
        except sqlite3.Error as exc:
            raise self.failure(exc) from None
        finally:
            self._unlock()

    def close(self) -> None:
        super().close()
        for fd in (self._lock_fd, self._turn_fd):
            if fd is not None:
                os.close(fd)
        self._lock_fd = self._turn_fd = None

    def executemany(self, statement: str, rows: Iterable[Sequence[Any]]) -> int:
        before = self.connection.total_changes
        try:
            self.connection.executemany(statement, rows)
        except sqlite3.Error as exc:
            raise self.failure(exc) from None
        return int(self.connection.total_changes - before)


class Checkpointer:
    """Runs WAL checkpoints in a background thread for connections that do not (the
    tracking server's), so no request waits for one. PASSIVE checkpoints never block
    writers; once one completes, the next write starts the WAL from the beginning again,
    and SQLite trims the file to ``journal_size_limit``."""

    def __init__(self, path: str, *, interval: float = 0.5) -> None:
        self.path = path
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="clicksift-checkpoint",
                                        daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        store: SqliteStore | None = None
        while not self._stop.wait(self.interval):
            try:
                if store is None:
                    store = SqliteStore.open(self.path, timeout=self.interval)
                store.checkpoint()
            except (StorageError, sqlite3.Error) as exc:
                log.warning("WAL checkpoint of %s failed: %s", self.path, exc)
                if store is not None:
                    store.close()
                    store = None
        if store is not None:
            store.close()
