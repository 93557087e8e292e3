"""A small pool of open stores, shared by the threads of one process (the API, the
dashboard, webhooks and the preference center borrow one for each piece of blocking work).

A store whose driver failed is closed rather than returned: the next borrower gets a
fresh one.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from clicksift.errors import StorageError
from clicksift.settings import Settings
from clicksift.storage import SqlStore, open_store

log = logging.getLogger("clicksift.storage")
#: How long a borrower waits for a store when all are out.
WAIT_SECONDS = 30


class StorePool:
    def __init__(self, settings: Settings, size: int = 4) -> None:
        self.settings = settings
        self._pool: queue.LifoQueue[SqlStore] = queue.LifoQueue()
        self._size = size
        self._made = 0
        self._lock = threading.Lock()

    @contextmanager
    def store(self) -> Iterator[SqlStore]:
        """Borrow a store for one piece of work."""
        store = self._take()
        healthy = True
        try:
            yield store
        except StorageError:
            healthy = False
            raise
        finally:
            if healthy:
                self._pool.put(store)
            else:
                _close(store)
                with self._lock:
                    self._made -= 1

    def close(self) -> None:
        """Close the stores not lent out."""
        while True:
            try:
                _close(self._pool.get_nowait())
            except queue.Empty:
                return

    def _take(self) -> SqlStore:
        try:
            return self._pool.get_nowait()
        except queue.Empty:
            pass
        with self._lock:
            if self._made < self._size:
                self._made += 1
                try:
                    return open_store(self.settings, migrate=False, checkpoint=False)
                except Exception:
                    self._made -= 1
                    raise
        return self._pool.get(timeout=WAIT_SECONDS)


def _close(store: SqlStore) -> None:
    try:
        store.close()
    except Exception as exc:
        log.debug("closing a pooled store failed: %s", exc)
