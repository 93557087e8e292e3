"""Counting new events into the report rollups in the background, every
``report_refresh_seconds``, with a store borrowed from a pool."""

from __future__ import annotations

import logging
import threading

from clicksift.reports.rollup import refresh
from clicksift.storage.pool import StorePool

log = logging.getLogger("clicksift.reports")


class RollupRefresher:
    def __init__(self, pool: StorePool, interval: float) -> None:
        self.pool = pool
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start counting (again after :meth:`stop`); an interval of 0 never counts."""
        if self.interval > 0 and self._thread is None:
            self._stop = threading.Event()
            self._thread = threading.Thread(target=self._loop, args=(self._stop,),
                                            name="clicksift-rollups", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None

    def _loop(self, stop: threading.Event) -> None:
        while not stop.wait(self.interval):
            try:
                with self.pool.store() as store:
                    refresh(store, budget=self.interval, cancelled=stop.is_set)
            except Exception as exc:   # keep refreshing; the next round may succeed
                log.warning("counting events into the report rollups failed: %s", exc)
