"""Storage: one interface (:class:`~clicksift.storage.sql.SqlStore`), SQLite or PostgreSQL.

:func:`open_store` picks the backend from the ``database`` setting: a ``postgresql://`` URL
or a SQLite file path. The schema is migrated on open.
"""

from __future__ import annotations

from clicksift.errors import StorageError
from clicksift.settings import Settings
from clicksift.storage.records import ArchivedEvent, ArchivedMessage, MessageRecord, StoredEvent
from clicksift.storage.sql import SqlStore

__all__ = ["ArchivedEvent", "ArchivedMessage", "MessageRecord", "SqlStore", "StoredEvent",
           "is_postgres", "open_store"]


def is_postgres(database: str) -> bool:
    return database.startswith(("postgresql://", "postgres://"))


def open_store(settings: Settings, *, migrate: bool = True, timeout: float | None = None,
               checkpoint: bool = True) -> SqlStore:
    """Open the configured store (and bring its schema up to date).

    TIMEOUT (seconds) overrides how long a write waits for a busy store; CHECKPOINT=False
    leaves SQLite's WAL checkpoints to the caller."""
    store: SqlStore
    wait = settings.store_timeout_ms / 1000 if timeout is None else timeout
    if is_postgres(settings.database):
        from clicksift.storage.postgres import PostgresStore
        store = PostgresStore.open(settings.database, timeout=wait)
    else:
        from clicksift.storage.sqlite import SqliteStore
        store = SqliteStore.open(settings.database, synchronous=settings.sqlite_synchronous,
                                 timeout=wait, checkpoint=checkpoint)
    if migrate:
        try:
            store.migrate()
        except store.driver_errors as exc:
            store.close()
            raise StorageError(f"cannot prepare the database {store.location}: {exc}") from None
    return store
