"""What the API and the dashboard share: stores for reading, off the event loop.

Report queries and rollup refreshes are blocking database work; they run in Starlette's
thread pool with a store from a small pool, so the tracking hot paths on the event loop
never wait for them.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from starlette.concurrency import run_in_threadpool

from clicksift import access, reports
from clicksift.errors import StorageError
from clicksift.settings import Settings
from clicksift.storage import SqlStore, open_store

log = logging.getLogger("clicksift.web")
T = TypeVar("T")
#: A report asked for counts new events for at most this long first (the background
#: refresher does the rest).
REQUEST_REFRESH_BUDGET = 0.5
REQUEST_REFRESH_WINDOW = 20_000


class ReportService:
    def __init__(self, settings: Settings, size: int = 4) -> None:
        self.settings = settings
        self._pool: queue.LifoQueue[SqlStore] = queue.LifoQueue()
        self._size = size
        self._made = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._refresher: threading.Thread | None = None

    # -- stores -------------------------------------------------------------------------------

    @contextmanager
    def store(self) -> Iterator[SqlStore]:
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
        return self._pool.get(timeout=30)

    async def run(self, func: Callable[..., T], *args: Any, refresh: bool = True) -> T:
        """FUNC(store, *ARGS) in the thread pool, after counting recent events."""
        def work() -> T:
            with self.store() as store:
                if refresh:
                    reports.refresh(store, budget=REQUEST_REFRESH_BUDGET,
                                    window=REQUEST_REFRESH_WINDOW)
                return func(store, *args)
        return await run_in_threadpool(work)

    async def verify_key(self, presented: str) -> access.ApiKey | None:
        return await self.run(access.verify_key, presented, refresh=False)

    async def verify_password(self, name: str, password: str) -> bool:
        return await self.run(access.verify_password, name, password, refresh=False)

    # -- background refresh --------------------------------------------------------------------

    def start(self) -> None:
        """Count new events into the rollups in the background (again after
        :meth:`stop_refresh`)."""
        interval = self.settings.report_refresh_seconds
        if interval > 0 and self._refresher is None:
            self._stop = threading.Event()
            self._refresher = threading.Thread(target=self._refresh_loop,
                                               args=(interval, self._stop),
                                               name="clicksift-rollups", daemon=True)
            self._refresher.start()

    def stop_refresh(self) -> None:
        """Stop counting in the background; the stores stay open."""
        self._stop.set()
        if self._refresher is not None:
            self._refresher.join(10)
            self._refresher = None

    def stop(self) -> None:
        self.stop_refresh()
        while True:
            try:
                _close(self._pool.get_nowait())
            except queue.Empty:
                return

    def _refresh_loop(self, interval: float, stop: threading.Event) -> None:
        while not stop.wait(interval):
            try:
                with self.store() as store:
                    reports.refresh(store, budget=interval, cancelled=stop.is_set)
            except Exception as exc:   # keep refreshing; the next round may succeed
                log.warning("counting events into the report rollups failed: %s", exc)


def _close(store: SqlStore) -> None:
    try:
        store.close()
    except Exception as exc:
        log.debug("closing a report store failed: %s", exc)
