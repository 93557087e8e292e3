"""Report rollups kept in step with the event log and with re-scores.

The store holds, per campaign, report cells (``rollup_cells``) and, per message, the summary
it last contributed (``rollup_messages``). :func:`refresh` walks the events stored since the
last refresh (by ``seq``) and the messages a re-score marked (``rollup_dirty``), recomputes
each touched message's summary from all its events, and adds the difference between its new
and old cells to the campaign's cells, in one transaction per chunk of messages. Recomputing
a message is idempotent, so a refresh that stops half-way (or runs twice) leaves the cells
right; only the watermark says where the next one starts.

A report then reads a few thousand cells instead of millions of events.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from clicksift.archive import open_archive
from clicksift.errors import StorageError
from clicksift.events import EventType, loads
from clicksift.reports.summary import Cells, MessageSummary, Row, cells, difference, summarize
from clicksift.storage import ArchivedEvent, SqlStore
from clicksift.storage.queries import rollups as sql

log = logging.getLogger(__name__)

#: Bump when the summary or the cells change meaning: the rollups are then rebuilt.
ROLLUP_VERSION = "6"   # 6: ESP flags beside verdicts; 5: anchored events
WATERMARK_KEY = "rollup.seq"
VERSION_KEY = "rollup.version"
WINDOW = 500_000            # events read per step
CHUNK = 500                 # messages whose events are read at once
WRITE_CHUNK = 25            # messages whose summaries are written per transaction
#: PostgreSQL hands out seq numbers before commit, so a slow transaction can commit a lower
#: seq after a higher one was counted: each refresh there looks back this many numbers again.
POSTGRES_LOOKBACK = 5_000
_ADVISORY_LOCK = 0x0C11C5F8

Progress = Callable[[int, int], None]   # (events counted, events stored)


@dataclass
class RefreshStats:
    messages: int = 0
    events_behind: int = 0      # events not yet counted when the refresh stopped
    seconds: float = 0.0
    rebuilt: bool = False


def events_behind(store: SqlStore) -> int:
    """How many stored events the rollups have not counted yet."""
    return max(0, _max_seq(store) - _watermark(store))


def refresh(store: SqlStore, *, budget: float | None = None, window: int = WINDOW,
            progress: Progress | None = None,
            cancelled: Callable[[], bool] | None = None) -> RefreshStats:
    """Bring the rollups up to date, WINDOW events at a time; with a BUDGET (seconds), stop
    after the first window that ends past it. When CANCELLED says so, stop after the chunk
    of messages at hand (the next refresh recounts the window)."""
    started = time.monotonic()
    stats = RefreshStats()
    if store.get_meta(VERSION_KEY) != ROLLUP_VERSION:
        _reset(store)
        stats.rebuilt = True
    low = _surely_counted(store)
    while True:
        high = _max_seq(store)
        dirty = _dirty(store)
        if high <= low and not dirty:
            break
        window_end = max(low, min(high, low + window))
        touched = sorted(set(_messages_between(store, low, window_end))
                         | {message_id for message_id, _ in dirty})
        for start in range(0, len(touched), CHUNK):
            chunk = touched[start:start + CHUNK]
            recount(store, chunk)
            stats.messages += len(chunk)
            if progress is not None:
                progress(window_end, high)
            if cancelled is not None and cancelled():
                return _finished(store, stats, started)
        with store.transaction():
            _set_watermark(store, max(window_end, _watermark(store)))
            _clear_dirty(store, dirty)
        low = window_end
        if budget is not None and time.monotonic() - started > budget:
            break
    return _finished(store, stats, started)


def _finished(store: SqlStore, stats: RefreshStats, started: float) -> RefreshStats:
    stats.events_behind = events_behind(store)
    stats.seconds = time.monotonic() - started
    return stats


def recount(store: SqlStore, message_ids: Sequence[str]) -> None:
    """Recompute MESSAGE_IDS' summaries and apply the differences.

    The events are read and summarized before any write transaction; each transaction then
    only reads the old summaries of WRITE_CHUNK messages and writes the differences, so
    writers (the tracking server) never wait while a busy message's events are read. Events
    stored meanwhile come after the watermark the caller read: the next refresh counts them.

    A message with events in the archive is counted with them (read back from its files);
    when the archive cannot be read, its summary stays as it was."""
    rows = _event_rows(store, message_ids)
    archived, unreadable = _archived_rows(store, message_ids)
    for message_id, events in archived.items():
        rows.setdefault(message_id, []).extend(events)
    if unreadable:
        message_ids = [m for m in message_ids if m not in unreadable]
    new = {}
    for message_id, events in rows.items():
        summary = summarize(events)
        new[message_id] = (summary, cells(summary), summary.dumps())
    for start in range(0, len(message_ids), WRITE_CHUNK):
        _write_summaries(store, message_ids[start:start + WRITE_CHUNK], new)


def recount_uncounted(store: SqlStore, message_ids: Sequence[str]) -> None:
    """Recount those of MESSAGE_IDS that have events the rollups may not have counted yet
    (after the watermark; on PostgreSQL, within POSTGRES_LOOKBACK of it): what archiving
    needs before a message's rows leave the store."""
    placeholders = ", ".join("?" for _ in message_ids)
    found = store.column(sql.MESSAGES_AFTER.format(marks=placeholders),
                         (*message_ids, _surely_counted(store)))
    if found:
        recount(store, sorted(found))


def _write_summaries(store: SqlStore, message_ids: Sequence[str],
                     new: dict[str, tuple[MessageSummary, Cells, str]]) -> None:
    with store.transaction():
        if store.dialect == "postgresql":
            store.execute(sql.LOCK_CELLS, (_ADVISORY_LOCK,))
        old = _summaries(store, message_ids)
        delta: dict[str, Cells] = {}
        writes, deletes = [], []
        for message_id in message_ids:
            before = old.get(message_id)
            after = new.get(message_id)
            if before is not None and after is not None and before == after[0]:
                continue
            if after is not None:
                summary, after_cells, text = after
                _add(delta, summary.campaign, after_cells)
                writes.append((message_id, summary.campaign, text))
            elif before is not None:
                deletes.append((message_id,))
            if before is not None:
                _add(delta, before.campaign, Counter({k: -n for k, n in cells(before).items()}))
        _apply(store, delta)
        if writes:
            store.executemany(sql.UPSERT_SUMMARY, writes)
        if deletes:
            store.executemany(sql.DELETE_SUMMARY, deletes)


def mark_dirty(store: SqlStore, message_ids: Iterable[str]) -> None:
    """Have the next refresh count MESSAGE_IDS again (in the caller's transaction)."""
    now = time.time()
    store.executemany(sql.MARK_DIRTY, [(message_id, now) for message_id in message_ids])


@contextmanager
def counted_again(store: SqlStore, message_ids: Sequence[str]) -> Iterator[None]:
    """Around judging MESSAGE_IDS again, with verdicts saved in transactions of their own:
    the messages are marked before (reports read meanwhile count them anew) and again
    after (a refresh that counted them while their verdicts were being saved, in another
    thread or server, counts them once more)."""
    with store.transaction():
        mark_dirty(store, message_ids)
    yield
    with store.transaction():
        mark_dirty(store, message_ids)


def _event_rows(store: SqlStore, message_ids: Sequence[str]) -> dict[str, list[Row]]:
    fields = {name: store.json_field("e.data", name, numeric=numeric)
              for name, numeric in sql.EVENT_ROW_FIELDS}
    statement = sql.EVENT_ROWS.format(marks=", ".join("?" for _ in message_ids), **fields)
    out: dict[str, list[Row]] = {}
    for row in store.rows(Row, statement, tuple(message_ids)):
        out.setdefault(row.message_id, []).append(row)
    return out


def _archived_rows(store: SqlStore, message_ids: Sequence[str]
                   ) -> tuple[dict[str, list[Row]], set[str]]:
    """The archived events of those of MESSAGE_IDS that have some, and the messages whose
    archive could not be read."""
    known = store.archived_messages(message_ids)
    if not known:
        return {}, set()
    try:
        archive = open_archive(store)
        if archive is None:
            raise StorageError("the store names no archive folder")
        partitions = {p for record in known.values() for p in record.partitions}
        out: dict[str, list[Row]] = {}
        for archived in archive.read(partitions=partitions, message_ids=known):
            out.setdefault(archived.message_id, []).append(row_of_archived(archived))
    except StorageError as error:
        log.warning("%d archived messages keep their report counts unchanged: %s",
                    len(known), error)
        return {}, set(known)
    return out, set()


def row_of_archived(archived: ArchivedEvent) -> Row:
    """An archived event as the rollup reads one from the store (:func:`_event_rows`)."""
    try:
        raw = loads(archived.event)
    except ValueError:
        raw = None
    if not isinstance(raw, dict):     # kept as it came; the columns still count
        raw = {}
    kind = archived.type
    return Row(
        archived.message_id, archived.campaign_id, archived.recipient, kind, archived.ts,
        archived.link_index, archived.link_kind, archived.verdict, archived.kind,
        archived.vendor,
        raw.get("url") if kind == EventType.CLICK and archived.link_index is None else None,
        raw.get("prepared_at") if kind != EventType.DELIVERED else None,
        raw.get("value") if kind == EventType.CONVERSION else None,
        raw.get("currency") if kind == EventType.CONVERSION else None,
        archived.id, raw.get("ip"),
        raw.get("form") if kind == EventType.UNSUBSCRIBE else None,
        raw.get("click_id") if kind == EventType.CONVERSION else None,
        archived.source,
        raw.get("esp_flags") if kind in (EventType.OPEN, EventType.CLICK) else None)


def _summaries(store: SqlStore, message_ids: Sequence[str]) -> dict[str, MessageSummary]:
    placeholders = ", ".join("?" for _ in message_ids)
    rows = store.rows(sql.SummaryRow, sql.SUMMARIES.format(marks=placeholders), tuple(message_ids))
    return {row.message_id: MessageSummary.loads(row.summary) for row in rows}


def _add(delta: dict[str, Cells], campaign: str, change: Cells) -> None:
    delta.setdefault(campaign, Counter()).update(change)


def _apply(store: SqlStore, delta: dict[str, Cells]) -> None:
    rows = [(campaign, dim, key, metric, n)
            for campaign, change in delta.items()
            for (dim, key, metric), n in difference(change, Counter()).items()]
    if rows:
        store.executemany(sql.ADD_CELL, rows)


def _messages_between(store: SqlStore, low: int, high: int) -> list[str]:
    return store.column(sql.MESSAGES_BETWEEN, (low, high))


def _dirty(store: SqlStore) -> list[sql.Dirty]:
    return store.rows(sql.Dirty, sql.DIRTY)


def _clear_dirty(store: SqlStore, dirty: list[sql.Dirty]) -> None:
    store.executemany(sql.CLEAR_DIRTY, dirty)


def _max_seq(store: SqlStore) -> int:
    return int(store.value(sql.MAX_SEQ) or 0)


def _surely_counted(store: SqlStore) -> int:
    """The seq up to which every stored event is surely counted: the watermark, less
    POSTGRES_LOOKBACK on PostgreSQL (a slow transaction may commit a lower seq late)."""
    watermark = _watermark(store)
    if store.dialect == "postgresql":
        return max(0, watermark - POSTGRES_LOOKBACK)
    return watermark


def _watermark(store: SqlStore) -> int:
    return int(store.get_meta(WATERMARK_KEY) or 0)


def _set_watermark(store: SqlStore, seq: int) -> None:
    store.set_meta(WATERMARK_KEY, str(seq))


def _reset(store: SqlStore) -> None:
    """Forget every rollup (their meaning changed): the next steps count everything."""
    with store.transaction():
        for statement in sql.CLEAR:
            store.execute(statement)
        _set_watermark(store, 0)
        # Archived messages have no events in the store to be found by: mark them.
        store.execute(sql.MARK_ARCHIVED_DIRTY, (time.time(),))
        store.set_meta(VERSION_KEY, ROLLUP_VERSION)
