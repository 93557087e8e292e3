"""Keeping ``keep_events_days`` of events in the store: the rest moves to the archive.

Once an hour the housekeeper moves the messages whose events are all older than the
setting's days into the Parquet archive (docs/archive.md), as `clicksift archive --before`
does; the reports keep counting them. Only messages with final verdicts and no unsubscribe
held for review move: the others wait for the next round.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from clicksift.archive import Archive, ArchiveRun, archive_before, locate
from clicksift.errors import StorageError
from clicksift.reports.rollup import recount_uncounted
from clicksift.settings import Settings
from clicksift.storage import SqlStore

log = logging.getLogger("clicksift.retention")

#: How often the retention job runs (seconds); its first run comes a minute after start.
EVERY_SECONDS = 3600.0
FIRST_SECONDS = 60.0
DAY = 86_400.0


def archive_old(store: SqlStore, settings: Settings, now: float | None = None
                ) -> ArchiveRun | None:
    """Move what is older than keep_events_days into the archive; None when the setting
    keeps every event."""
    if settings.keep_events_days <= 0:
        return None
    moment = time.time() if now is None else now
    location = locate(store, settings.archive_dir, settings.database)
    if location is None:
        raise StorageError("keep_events_days needs an archive folder: set archive_dir")
    return archive_before(store, Archive(location), moment - settings.keep_events_days * DAY,
                          lambda ids: recount_uncounted(store, ids))


class Retention:
    """The background thread that applies keep_events_days (one per server)."""

    def __init__(self, settings: Settings, open_store: Callable[[], SqlStore],
                 every: float = EVERY_SECONDS, first: float = FIRST_SECONDS) -> None:
        self.settings = settings
        self.open_store = open_store
        self.every = every
        self.first = first
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self.settings.keep_events_days <= 0:
            return
        self._thread = threading.Thread(target=self._run, name="clicksift-retention",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=60)

    def run_once(self, now: float | None = None) -> ArchiveRun | None:
        with self.open_store() as store:
            return archive_old(store, self.settings, now)

    def _run(self) -> None:
        wait = self.first
        while not self._stop.wait(wait):
            wait = self.every
            try:
                run = self.run_once()
            except StorageError as error:
                log.warning("events were not archived this round: %s", error)
                continue
            if run is not None and run.messages:
                log.info("archived %d events of %d messages (older than %d days) in %.1f s",
                         run.events, run.messages, self.settings.keep_events_days,
                         run.seconds)
