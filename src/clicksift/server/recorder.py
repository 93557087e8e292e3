"""Group commit: every tracked request waits until its event is durably stored.

Request handlers call :meth:`Recorder.record`, which queues the event and returns a future.
The event loop gathers what arrives while it is busy, then writes the whole batch in one
transaction and only after the commit wakes the waiting requests: a response is never sent
for an event that is not stored. A busy server writes many requests per commit, an idle one
commits each at once.

Where the write happens: in a writer thread, which waits for the store up to
``store_timeout_ms`` while the loop keeps serving, so a disk that stalls holds up only the
requests whose events wait for it, never the health check or the pages. With
``commit_on_loop`` (SQLite only), the loop commits a batch itself when the store is free
this instant, which saves handing every batch to another thread and back but lets a
stalled disk stall the loop.

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

from clicksift.events import Event
from clicksift.server.spool import Spool
from clicksift.storage import SqlStore

log = logging.getLogger("clicksift.recorder")
RETRY_SECONDS = 2.0
SUMMARY_SECONDS = 60.0      # while degraded, the log says how things stand this often

#: Called inside the write transaction with the batch just stored (verdicts, rollups).
AfterInsert = Callable[[SqlStore, list[Event]], None]
Batch = list[tuple[Event, "asyncio.Future[None]"]]


class Recorder:
    """OPEN_STORE opens the writer thread's store (it waits when the store is busy);
    OPEN_INLINE_STORE, when given, opens the loop's own store, which never waits."""

    def __init__(self, open_store: Callable[[], SqlStore], spool: Spool, *,
                 open_inline_store: Callable[[], SqlStore] | None = None,
                 batch_size: int = 1000, after_insert: AfterInsert | None = None) -> None:
        self._open_store = open_store
        self._open_inline_store = open_inline_store
        self.spool = spool
        self.batch_size = batch_size
        self.after_insert = after_insert
        # Loop-thread state.
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pending: Batch = []
        self._flush_scheduled = False
        self._in_flight = False
        self._inline_store: SqlStore | None = None
        # Hand-over to the writer thread: a batch, or None to stop.
        self._work: queue.SimpleQueue[Batch | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        # Writer-thread state.
        self._store: SqlStore | None = None
        self._spooled = 0
        self._next_replay = 0.0
        self._next_summary = 0.0
        self.stats = {"committed": 0, "batches": 0, "handed_over": 0, "spooled": 0,
                      "failures": 0, "lost": 0}

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._spooled = len(self.spool.pending())
        if not self.spool.reserve():
            log.warning("the spool's disk (%s) has no room for its %d MB reserve: a full "
                        "disk could lose answered events", self.spool.folder,
                        self.spool.reserve_bytes >> 20)
        self._thread = threading.Thread(target=self._run, name="clicksift-writer", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Write what is still pending (without waking its requests) and stop the writer."""
        pending, self._pending = self._pending, []
        if pending:
            self._work.put(pending)
        self._work.put(None)
        if self._thread is not None:
            self._thread.join(timeout)
        for store in (self._store, self._inline_store):
            if store is not None:
                store.close()
        self._store = self._inline_store = None
        self.spool.drop_reserve()

    @property
    def queued(self) -> int:
        return len(self._pending)

    @property
    def spool_pending(self) -> bool:
        return self._spooled > 0

    def health(self) -> str:
        """'failing' once answered events were lost (neither store nor spool took them),
        'degraded' while events wait in the spool or the spool's reserve is not whole,
        else 'ok'."""
        if self.stats["lost"]:
            return "failing"
        if self._spooled or self.spool.reserve_left < self.spool.reserve_bytes:
            return "degraded"
        return "ok"

    # -- loop thread ----------------------------------------------------------------------------

    def record(self, event: Event) -> asyncio.Future[None]:
        """Queue EVENT; the returned future completes once it is committed (or spooled)."""
        loop = self._loop
        assert loop is not None, "recorder not started"
        future: asyncio.Future[None] = loop.create_future()
        self._pending.append((event, future))
        if not self._flush_scheduled and not self._in_flight:
            # Let the loop run every request that is ready first, so they share the commit.
            self._flush_scheduled = True
            loop.call_soon(self._flush)
        return future

    def _flush(self) -> None:
        self._flush_scheduled = False
        while self._pending and not self._in_flight:
            batch, self._pending = (self._pending[:self.batch_size],
                                    self._pending[self.batch_size:])
            if self._commit_inline(batch):
                _wake(batch)
            else:
                self._in_flight = True
                self.stats["handed_over"] += 1
                self._work.put(batch)

    def _commit_inline(self, batch: Batch) -> bool:
        """Commit BATCH on the loop when the store is free right now; False: hand it over."""
        if self._open_inline_store is None or self._spooled:
            return False
        events = [event for event, _ in batch]
        try:
            if self._inline_store is None:
                self._inline_store = self._open_inline_store()
            self._write_events(self._inline_store, events, time.time())
        except Exception:
            if self._inline_store is not None:
                _close_quietly(self._inline_store)
                self._inline_store = None
            return False
        return True

    def _done(self, batch: Batch) -> None:
        _wake(batch)
        self._in_flight = False
        if self._pending:
            self._flush()

    # -- writer thread --------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            try:
                batch = self._work.get(
                    timeout=RETRY_SECONDS if self.health() != "ok" else None)
            except queue.Empty:
                batch = []
            if batch is None:
                self._drain_after_stop()
                return
            if batch:
                self._write(batch)
                assert self._loop is not None
                try:
                    self._loop.call_soon_threadsafe(self._done, batch)
                except RuntimeError:  # the loop is closed: the server is shutting down
                    pass
            if self._spooled and time.monotonic() >= self._next_replay:
                self._replay_spool()
            elif not self._spooled and self.spool.reserve_left < self.spool.reserve_bytes:
                self.spool.reserve()  # the disk may have room again
            if self.health() != "ok" and time.monotonic() >= self._next_summary:
                self._summarise()

    def _summarise(self) -> None:
        self._next_summary = time.monotonic() + SUMMARY_SECONDS
        log.warning("%s: the spool %s; %d events spooled, %d failed writes and %d events "
                    "lost since start; spool reserve %d of %d bytes", self.health(),
                    "holds events not stored yet" if self._spooled else "is empty",
                    self.stats["spooled"], self.stats["failures"], self.stats["lost"],
                    self.spool.reserve_left, self.spool.reserve_bytes)

    def _drain_after_stop(self) -> None:
        while True:
            try:
                batch = self._work.get_nowait()
            except queue.Empty:
                return
            if batch:
                self._write(batch)

    def _store_or_open(self) -> SqlStore:
        if self._store is None:
            self._store = self._open_store()
        return self._store

    def _write_events(self, store: SqlStore, events: list[Event], received_at: float) -> None:
        with store.transaction():
            store.add_events(events, received_at)
            if self.after_insert is not None:
                self.after_insert(store, events)
        self.stats["committed"] += len(events)
        self.stats["batches"] += 1

    def _commit(self, events: list[Event], received_at: float) -> None:
        self._write_events(self._store_or_open(), events, received_at)

    def _write(self, batch: Batch) -> None:
        events = [event for event, _ in batch]
        received_at = time.time()
        try:
            self._commit(events, received_at)
        except Exception as exc:
            self._on_failure(exc, events, received_at)

    def _on_failure(self, exc: Exception, events: list[Event], received_at: float) -> None:
        self.stats["failures"] += 1
        log.error("storing %d events failed (%s); spooling them", len(events), exc)
        if self._store is not None:
            _close_quietly(self._store)
            self._store = None
        try:
            self.spool.append(events, received_at)
            self.stats["spooled"] += len(events)
            self._spooled += len(events)
            self._next_replay = time.monotonic() + RETRY_SECONDS
        except OSError as spool_error:
            self.stats["lost"] += len(events)
            log.critical("spooling %d events failed too (%s); they are lost: %s",
                         len(events), spool_error, [e.id for e in events])

    def _replay_spool(self) -> None:
        try:
            replayed = self.spool.replay(self._commit)
        except Exception as exc:
            log.warning("the store still fails (%s); retrying in %.0f s", exc, RETRY_SECONDS)
            if self._store is not None:
                _close_quietly(self._store)
                self._store = None
            self._next_replay = time.monotonic() + RETRY_SECONDS
            return
        if replayed:
            log.info("stored %d spooled events", replayed)
        self._spooled = len(self.spool.pending())


def _wake(batch: Batch) -> None:
    for _, future in batch:
        if not future.done():
            future.set_result(None)


def _close_quietly(store: SqlStore) -> None:
    try:
        store.close()
    except Exception:  # noqa: S110 - a broken connection may not close cleanly
        pass
