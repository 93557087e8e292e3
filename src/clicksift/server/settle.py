"""Settling the server's provisional verdicts: final verdicts in the background.

Every tracked request, webhook event and event posted to the API gets a provisional
verdict at once, judged from the event and the message's events so far. Once the newest
provisional verdict of a message is ``settle_after_seconds`` old, the settler judges the
message again with all its events, together with every other message due at the same
time (so one source acting on many recipients' mail is seen across them), as `clicksift
rescore` and `import` do, and the verdicts become final; the reports count the messages
again. Messages with later events come due again, and are judged again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from clicksift import reports
from clicksift.classify import Engine
from clicksift.classify.rescore import rescore
from clicksift.errors import StorageError
from clicksift.storage import SqlStore

log = logging.getLogger("clicksift.settle")

#: Messages judged together at most (their events are read into memory).
BATCH_MESSAGES = 5000
#: How often the settler looks for messages that are due (seconds).
POLL_SECONDS = 5.0


def settle_due(store: SqlStore, engine: Engine, settle_after: float,
               now: float | None = None, limit: int = BATCH_MESSAGES) -> int:
    """Judge again the messages whose provisional verdicts are SETTLE_AFTER seconds old;
    returns how many messages were settled."""
    moment = time.time() if now is None else now
    due = store.provisional_messages(moment - settle_after, limit)
    if not due:
        return 0
    with reports.counted_again(store, due):
        rescore(store, engine, due)
    return len(due)


class Settler:
    """The background thread that settles provisional verdicts (one per server)."""

    def __init__(self, settle_after: float, open_store: Callable[[], SqlStore],
                 engine: Engine, poll: float = POLL_SECONDS) -> None:
        self.settle_after = settle_after
        self.open_store = open_store
        self.engine = engine
        self.poll = min(poll, settle_after) if settle_after > 0 else poll
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self.settle_after <= 0:
            return
        self._thread = threading.Thread(target=self._run, name="clicksift-settle",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def run_once(self, now: float | None = None) -> int:
        store = self.open_store()
        try:
            return settle_due(store, self.engine, self.settle_after, now)
        finally:
            store.close()

    def _run(self) -> None:
        while not self._stop.wait(self.poll):
            try:
                while not self._stop.is_set():
                    settled = self.run_once()
                    if settled:
                        log.info("settled the verdicts of %d messages", settled)
                    if settled < BATCH_MESSAGES:
                        break
            except StorageError as exc:   # the store is away: try again at the next poll
                log.warning("settling verdicts failed: %s", exc)
