"""Which of several tracking servers on one PostgreSQL does the background work.

Rollups, outbound webhooks and settling run once across servers: the server whose
housekeeper holds a session advisory lock on a connection of its own does them. PostgreSQL
releases the lock the moment that connection ends, so when the holder dies (``kill -9``,
a crash, a lost machine whose socket closes) the next server to try takes it over; servers
without it try again every few seconds. The lease connection names its holder
(``application_name``), so who holds it is one query away (docs/scale.md). A SQLite store
serves one machine: its lease is always held.
"""

from __future__ import annotations

import os
import socket
from typing import TYPE_CHECKING

from clicksift.errors import StorageError
from clicksift.storage import is_postgres
from clicksift.storage.queries.store import (
    ADVISORY_LOCK_HOLDER,
    HOLD_ADVISORY_LOCK,
    PING,
    RELEASE_ADVISORY_LOCK,
)
from clicksift.storage.sql import SqlStore

if TYPE_CHECKING:
    from clicksift.storage.postgres import PostgresStore

#: The advisory lock key of the background work ("clicksift background").
BACKGROUND_LOCK = 0x0C11C5B6


def holder_name() -> str:
    """How the lease connection names this process in ``pg_stat_activity``."""
    # PostgreSQL keeps 63 bytes of it: shorten the host name, never the process id
    return f"clicksift background {socket.gethostname()[:30]}:{os.getpid()}"


class BackgroundLease:
    def __init__(self, database: str, *, key: int = BACKGROUND_LOCK, timeout: float = 5.0
                 ) -> None:
        self.database = database
        self.key = key
        self.timeout = timeout
        self._store: PostgresStore | None = None
        self.held = not is_postgres(database)

    def renew(self) -> bool:
        """Whether this process holds the lease now: take it if it is free, check that a
        held one still is (its connection alive). Never raises: a database that cannot be
        reached means the lease is not held."""
        if not is_postgres(self.database):
            return True
        from clicksift.storage.postgres import PostgresStore

        try:
            if self._store is None:
                self._store = PostgresStore.open(self.database, timeout=self.timeout,
                                                 application_name=holder_name())
            store = self._store
            with store.transaction():
                if self.held:
                    store.execute(PING).fetchone()
                else:
                    self.held = bool(store.execute(HOLD_ADVISORY_LOCK, (self.key,))
                                     .fetchone()[0])
        except StorageError:
            self.release()
        return self.held

    def release(self) -> None:
        """Give the lease up: unlocked at once, and its connection closed (which releases
        the lock too, once PostgreSQL notices, if the unlock could not be sent)."""
        store, self._store = self._store, None
        held, self.held = self.held, False
        if store is None:
            return
        try:
            if held:
                with store.transaction():
                    store.execute(RELEASE_ADVISORY_LOCK, (self.key,)).fetchone()
        except StorageError:
            pass
        finally:
            try:
                store.close()
            except StorageError:
                pass


def lease_holder(store: SqlStore, key: int = BACKGROUND_LOCK) -> str | None:
    """The name of the connection that holds the lease KEY on a PostgreSQL STORE, if any
    holds it."""
    with store.transaction():
        row = store.execute(ADVISORY_LOCK_HOLDER, (key,)).fetchone()
    return row[0] if row else None
