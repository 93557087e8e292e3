"""Group commit: every tracked request waits until its event is durably stored.

Request handlers call :meth:`Recorder.record`, which queues the event and returns an
awaitable. One writer thread takes everything queued (up to ``batch_size``), writes it in a
single transaction, commits, and only then wakes the waiting requests, so a response is
never sent for an event that is not stored. While one commit runs the next batch gathers,
so a busy server writes many requests per commit and an idle one commits each at once.

If the store fails, the batch goes to the :class:`~clicksift.server.spool.Spool` (fsynced)
and the requests are answered; the writer replays the spool when the store works again.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from clicksift.events import Event
from clicksift.server.spool import Spool
from clicksift.storage import SqlStore

log = logging.getLogger("clicksift.recorder")
RETRY_SECONDS = 2.0

#: Called inside the write transaction with the batch just stored (verdicts, rollups).
AfterInsert = Callable[[SqlStore, list[Event]], None]


class Recorder:
    def __init__(self, open_store: Callable[[], SqlStore], spool: Spool, *,
                 batch_size: int = 1000, after_insert: AfterInsert | None = None) -> None:
        self._open_store = open_store
        self.spool = spool
        self.batch_size = batch_size
        self.after_insert = after_insert
        self._queue: queue.SimpleQueue[tuple[Event, asyncio.Future[None]] | None] = (
            queue.SimpleQueue())
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._store: SqlStore | None = None
        self._spooled = 0
        self._next_replay = 0.0
        self.stats = {"committed": 0, "batches": 0, "spooled": 0, "failures": 0}

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._spooled = len(self.spool.pending())
        self._thread = threading.Thread(target=self._run, name="clicksift-writer", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping = True
        self._queue.put(None)  # wakes the writer, which finishes what is queued and ends
        if self._thread is not None:
            self._thread.join(timeout)
        if self._store is not None:
            self._store.close()
            self._store = None

    @property
    def queued(self) -> int:
        return self._queue.qsize()

    @property
    def spool_pending(self) -> bool:
        return self._spooled > 0

    # -- request side ---------------------------------------------------------------------------

    def record(self, event: Event) -> asyncio.Future[None]:
        """Queue EVENT; the returned future completes once it is committed (or spooled)."""
        assert self._loop is not None, "recorder not started"
        future: asyncio.Future[None] = self._loop.create_future()
        self._queue.put((event, future))
        return future

    # -- writer thread --------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            batch, stop = self._next_batch()
            if batch:
                self._write(batch)
            if self._spooled and time.monotonic() >= self._next_replay:
                self._replay_spool()
            if stop:
                return

    def _next_batch(self) -> tuple[list[tuple[Event, asyncio.Future[None]]], bool]:
        """Wait for work, then take everything queued (up to batch_size). Also says whether
        the recorder is stopping. While spool files wait, wake up now and then to retry."""
        try:
            first = self._queue.get(timeout=RETRY_SECONDS if self._spooled else None)
        except queue.Empty:
            return [], False
        batch: list[tuple[Event, asyncio.Future[None]]] = []
        stop = first is None
        if first is not None:
            batch.append(first)
        while len(batch) < self.batch_size:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is None:
                stop = True
            else:
                batch.append(item)
        return batch, stop and self._queue.empty()

    def _store_or_open(self) -> SqlStore:
        if self._store is None:
            self._store = self._open_store()
        return self._store

    def _commit(self, events: list[Event], received_at: float) -> None:
        store = self._store_or_open()
        with store.transaction():
            store.add_events(events, received_at)
            if self.after_insert is not None:
                self.after_insert(store, events)

    def _write(self, batch: list[tuple[Event, asyncio.Future[None]]]) -> None:
        events = [event for event, _ in batch]
        received_at = time.time()
        try:
            self._commit(events, received_at)
            self.stats["committed"] += len(events)
            self.stats["batches"] += 1
        except Exception as exc:
            self._on_failure(exc, events, received_at)
        assert self._loop is not None
        self._loop.call_soon_threadsafe(_resolve, [future for _, future in batch])

    def _on_failure(self, exc: Exception, events: list[Event], received_at: float) -> None:
        self.stats["failures"] += 1
        log.error("storing %d events failed (%s); spooling them", len(events), exc)
        self._drop_store()
        try:
            self.spool.append(events, received_at)
            self.stats["spooled"] += len(events)
            self._spooled += len(events)
            self._next_replay = time.monotonic() + RETRY_SECONDS
        except OSError as spool_error:
            log.critical("spooling %d events failed too (%s); they are lost: %s",
                         len(events), spool_error, [e.id for e in events])

    def _drop_store(self) -> None:
        if self._store is not None:
            try:
                self._store.close()
            except Exception:  # noqa: S110 - a broken connection may not close cleanly
                pass
            self._store = None

    def _replay_spool(self) -> None:
        try:
            replayed = self.spool.replay(self._commit)
        except Exception as exc:
            log.warning("the store still fails (%s); retrying in %.0f s", exc, RETRY_SECONDS)
            self._drop_store()
            self._next_replay = time.monotonic() + RETRY_SECONDS
            return
        if replayed:
            log.info("stored %d spooled events", replayed)
        self._spooled = len(self.spool.pending())


def _resolve(futures: list[asyncio.Future[Any]]) -> None:
    for future in futures:
        if not future.done():
            future.set_result(None)
