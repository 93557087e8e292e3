"""The SQL store shared by SQLite and PostgreSQL: one schema, one set of queries."""

from __future__ import annotations

import dataclasses
import functools
import json
import secrets
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, ClassVar, TypeVar

from clicksift.classify.vocabulary import Finding, Verdict
from clicksift.errors import InputError, StorageError, StoreDamaged
from clicksift.events import Event, EventType, dumps, event_from_dict, redacted_address
from clicksift.storage import schema
from clicksift.storage.queries import store as queries
from clicksift.storage.records import (
    ArchivedEvent,
    ArchivedMessage,
    CampaignRecord,
    DoctorReport,
    MessageRecord,
    MxRecord,
    StoredEvent,
    event_row,
)

T = TypeVar("T")
R = TypeVar("R")


class SqlStore:
    """Storage over a DB-API connection. Subclasses open the connection and name the dialect.

    A store is used by one thread at a time; the tracking server gives its writer thread a
    store of its own.
    """

    dialect: ClassVar[str] = "sql"
    dialect_words: ClassVar[dict[str, str]] = {}
    #: Exceptions of the driver that mean "the store failed" (translated to StorageError).
    driver_errors: ClassVar[tuple[type[BaseException], ...]] = ()

    def __init__(self, connection: Any, location: str) -> None:
        self.connection = connection
        self.location = location

    # -- plumbing -----------------------------------------------------------------------------

    def sql(self, statement: str) -> str:
        return statement

    def execute(self, statement: str, params: Sequence[Any] = ()) -> Rows:
        """Run STATEMENT; the rows come through a cursor whose failures are StorageError."""
        try:
            cursor = self.connection.cursor()
            cursor.execute(self.sql(statement), params)
        except self.driver_errors as exc:
            raise self.failure(exc) from None
        return Rows(cursor, self)

    def rows(self, shape: Callable[..., R], statement: str,
             params: Sequence[Any] = ()) -> list[R]:
        """The rows of STATEMENT, each made a SHAPE (a named tuple or dataclass whose fields
        are the statement's columns, in order: checked on first use)."""
        cursor = self.execute(statement, params)
        _check_shape(shape, statement, cursor.description)
        return [shape(*row) for row in cursor.fetchall()]

    def row(self, shape: Callable[..., R], statement: str,
            params: Sequence[Any] = ()) -> R | None:
        """The first row of STATEMENT as a SHAPE, or None when there is none."""
        cursor = self.execute(statement, params)
        _check_shape(shape, statement, cursor.description)
        found = cursor.fetchone()
        return None if found is None else shape(*found)

    def value(self, statement: str, params: Sequence[Any] = ()) -> Any:
        """The first column of the first row of STATEMENT (None when there is no row)."""
        found = self.execute(statement, params).fetchone()
        return None if found is None else found[0]

    def column(self, statement: str, params: Sequence[Any] = ()) -> list[Any]:
        """The first column of every row of STATEMENT."""
        return [row[0] for row in self.execute(statement, params).fetchall()]

    def exists(self, statement: str, params: Sequence[Any] = ()) -> bool:
        """Does STATEMENT return a row?"""
        return self.execute(statement, params).fetchone() is not None

    def change(self, statement: str, params: Sequence[Any] = ()) -> int:
        """Run STATEMENT (an INSERT, UPDATE or DELETE); how many rows it changed."""
        return int(self.execute(statement, params).rowcount or 0)

    def executemany(self, statement: str, rows: Iterable[Sequence[Any]]) -> int:
        try:
            cursor = self.connection.cursor()
            cursor.executemany(self.sql(statement), rows)
        except self.driver_errors as exc:
            raise self.failure(exc) from None
        return int(cursor.rowcount)

    #: Words in a driver's message that mean the files are damaged, not the request.
    DAMAGE_WORDS: ClassVar[tuple[str, ...]] = ("malformed", "not a database",
                                               "disk image", "corrupt")

    def recover_hint(self) -> str:
        """How to recover a damaged store with the database's own tools."""
        return "see your database's documentation on recovering from corruption"

    def failure(self, exc: BaseException) -> StorageError:
        """The driver's exception EXC as clicksift's own (the one place they are translated:
        no driver exception passes the store)."""
        text = str(exc).strip() or type(exc).__name__
        if any(word in text.lower() for word in self.DAMAGE_WORDS):
            return StoreDamaged(f"the database {self.location} is damaged ({text}): restore "
                                f"a backup, or recover it: {self.recover_hint()}")
        return StorageError(f"the database {self.location} failed: {text}")

    def json_field(self, column: str, name: str, *, numeric: bool = False) -> str:
        """SQL for the top-level field NAME of the JSON text in COLUMN."""
        return f"json_extract({column}, '$.{name}')"

    @contextmanager
    def waiting_at_most(self, seconds: float) -> Iterator[None]:
        """Within the block, a write waits at most SECONDS for another writer before it is
        StoreBusy (for writes that can be skipped, such as a report's refresh). PostgreSQL
        keeps the lock timeout it connected with."""
        yield

    def begin(self) -> None:
        """Start a transaction (drivers that start one implicitly do nothing)."""

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Run the block in one transaction: committed at the end, rolled back on error."""
        self.begin()
        try:
            yield
        except BaseException:
            try:
                self.connection.rollback()
            except self.driver_errors:   # the connection is gone: the error says why
                pass
            raise
        try:
            self.connection.commit()
        except self.driver_errors as exc:
            raise self.failure(exc) from None

    def __enter__(self) -> SqlStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        try:
            self.connection.close()
        except self.driver_errors as exc:
            raise self.failure(exc) from None

    # -- schema -------------------------------------------------------------------------------

    def _create_migrations_table(self) -> None:
        self.execute(f"CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY "
                     f"KEY, applied_at {self.dialect_words['real']} NOT NULL)")

    def migrate(self) -> list[int]:
        """Apply the migrations this database lacks; return their numbers. An up-to-date
        database is only read (a read-only command never waits for another writer)."""
        if self._up_to_date():
            return []
        with self.transaction():
            self._lock_for_migration()
            self._create_migrations_table()
            done = {row[0] for row in self.execute(queries.SELECT_MIGRATIONS).fetchall()}
            applied = []
            for version, _title, _body in schema.MIGRATIONS:
                if version in done:
                    continue
                for statement in schema.statements(self.dialect, self.dialect_words, version):
                    self.execute(statement)
                self.execute(queries.INSERT_MIGRATION, (version, time.time()))
                applied.append(version)
        return applied

    def _up_to_date(self) -> bool:
        try:
            done = {row[0] for row in self.execute(queries.SELECT_MIGRATIONS).fetchall()}
        except StoreDamaged:
            raise
        except StorageError:                  # no migrations table yet: a new database
            return False
        finally:
            self.connection.rollback()        # end the read (PostgreSQL opened a transaction)
        return done >= {version for version, _title, _body in schema.MIGRATIONS}

    def _lock_for_migration(self) -> None:
        """Keep two processes from migrating at once (PostgreSQL takes an advisory lock)."""

    def schema_version(self) -> int:
        rows = self.execute(queries.SELECT_MIGRATIONS).fetchall()
        return max((row[0] for row in rows), default=0)

    # -- meta ---------------------------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        row = self.execute(queries.GET_META, (key,)).fetchone()
        return None if row is None else str(row[0])

    def put_meta_if_absent(self, key: str, value: str) -> str:
        """Store VALUE under KEY unless another writer got there first; return what is stored."""
        with self.transaction():
            self.execute(queries.INSERT_META, (key, value))
        stored = self.get_meta(key)
        assert stored is not None
        return stored

    def set_meta(self, key: str, value: str) -> None:
        """Store VALUE under KEY (in the caller's transaction)."""
        self.execute(queries.SET_META, (key, value))

    def delete_meta(self, key: str) -> None:
        """Forget KEY (in the caller's transaction)."""
        self.execute(queries.DELETE_META, (key,))

    # -- messages and events --------------------------------------------------------------------

    def save_messages(self, records: Iterable[MessageRecord]) -> None:
        now = time.time()
        rows, campaigns = [], {}
        for record in records:
            rows.append((record.id, record.campaign_id, record.recipient,
                         record.recipient_domain, record.sent_at, record.links_json(),
                         record.source))
            if record.campaign_id:
                campaigns[record.campaign_id] = (record.campaign_id, None, now)
        if campaigns:
            self.executemany(queries.INSERT_CAMPAIGN, list(campaigns.values()))
        if rows:
            self.executemany(queries.UPSERT_MESSAGE, rows)
            self.executemany(queries.BACKFILL_EVENTS, [(row[0],) for row in rows])

    def add_events(self, events: Sequence[Event], received_at: float | None = None) -> int:
        """Store EVENTS (in the caller's transaction); events already stored are skipped.

        A ``delivered`` event also records its message (campaign, recipient, links).
        Returns how many events were new.
        """
        received = time.time() if received_at is None else received_at
        delivered = [MessageRecord.from_event(e) for e in events
                     if e.type == EventType.DELIVERED]
        if delivered:
            self.save_messages(delivered)
        return self._insert_event_rows([event_row(e, received) for e in events])

    def _insert_event_rows(self, rows: list[tuple[Any, ...]]) -> int:
        return self.executemany(queries.INSERT_EVENT, rows)

    def get_message(self, message_id: str) -> MessageRecord | None:
        row = self.row(queries.MessageRow, queries.SELECT_MESSAGE, (message_id,))
        if row is None:
            return None
        return MessageRecord(row.id, row.campaign_id, row.recipient, row.sent_at,
                             MessageRecord.parse_links(row.links), row.source)

    def iter_events(self, *, campaign_id: str | None = None, types: Sequence[str] = (),
                    since: float | None = None, until: float | None = None,
                    page_size: int = 5000) -> Iterator[StoredEvent]:
        """Stream stored events in arrival order, optionally filtered."""
        filters, params = _event_filters(campaign_id, types, since, until)
        statement = queries.SELECT_EVENTS.format(
            filters="".join(f" AND {condition}" for condition in filters))
        last = 0
        while True:
            rows = self.execute(statement, (last, *params, page_size)).fetchall()
            for seq, data, campaign, recipient, received_at in rows:
                yield StoredEvent(seq, json.loads(data), campaign, recipient, received_at)
            if len(rows) < page_size:
                return
            last = rows[-1][0]

    def provisional_messages(self, before: float, limit: int) -> list[str]:
        """Messages with a provisional verdict computed before BEFORE, the longest waiting
        first (at most LIMIT)."""
        rows = self.execute(queries.PROVISIONAL_MESSAGES, (before, limit)).fetchall()
        return [row[0] for row in rows]

    def source_events(self, source: str, *, page_size: int = 1000
                      ) -> Iterator[tuple[int, dict[str, Any]]]:
        """Every stored event of SOURCE (an ESP's name) in arrival order, as (seq, event)."""
        last = 0
        while True:
            rows = self.execute(queries.SELECT_SOURCE_EVENTS,
                                (source, last, page_size)).fetchall()
            for seq, data in rows:
                yield seq, json.loads(data)
            if len(rows) < page_size:
                return
            last = rows[-1][0]

    def rewrite_event(self, event: Event) -> None:
        """Store EVENT over the stored event with its id (in the caller's transaction);
        its verdict is dropped, to be judged again."""
        self.execute(queries.UPDATE_EVENT, (
            event.type, event.message_id, event.campaign_id, event.recipient, event.ts,
            event.link_index, event.link_kind, dumps(event.raw), event.id))
        self.execute(queries.DELETE_VERDICT, (event.id,))

    def remove_event(self, event_id: str) -> None:
        """Delete a stored event and its verdict (in the caller's transaction)."""
        self.execute(queries.DELETE_VERDICT, (event_id,))
        self.execute(queries.DELETE_EVENT, (event_id,))

    def save_verdicts(self, verdicts: Iterable[Verdict], engine_version: str) -> int:
        """Store verdicts (in the caller's transaction); a final verdict replaces a
        provisional one, never the other way round."""
        now = time.time()
        rows = [(v.id, v.verdict, v.score, v.kind, v.vendor, reasons_json(tuple(v.reasons)),
                 engine_version, 1 if v.final else 0, now) for v in verdicts]
        return self.executemany(queries.UPSERT_VERDICT, rows) if rows else 0

    def verdict_rows(self, event_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Stored verdicts of EVENT_IDS by id."""
        out: dict[str, dict[str, Any]] = {}
        for chunk in _chunks(event_ids):
            statement = queries.SELECT_VERDICTS.format(placeholders=_marks(chunk))
            for row in self.rows(queries.VerdictRow, statement, tuple(chunk)):
                out[row.event_id] = {
                    "id": row.event_id, "verdict": row.verdict, "score": row.score,
                    "kind": row.kind, "vendor": row.vendor, "reasons": json.loads(row.reasons),
                    "engine_version": row.engine_version, "final": bool(row.final)}
        return out

    def message_ids(self, *, campaign_id: str | None = None, since: float | None = None,
                    until: float | None = None) -> list[str]:
        """Messages with events in the campaign and/or period."""
        filters, params = _event_filters(campaign_id, (), since, until)
        where = " AND ".join(filters) or "1 = 1"
        rows = self.execute(f"SELECT DISTINCT message_id FROM events WHERE {where}",
                            tuple(params)).fetchall()
        return [row[0] for row in rows]

    def events_of_messages(self, message_ids: Sequence[str]) -> Iterator[StoredEvent]:
        for chunk in _chunks(message_ids):
            statement = queries.SELECT_MESSAGE_EVENTS.format(placeholders=_marks(chunk))
            for seq, data, campaign, recipient, received_at in self.execute(
                    statement, tuple(chunk)).fetchall():
                yield StoredEvent(seq, json.loads(data), campaign, recipient, received_at)

    def message_context(self, message_id: str, moments: Sequence[float], *, first: int,
                        before: int, after: int) -> list[StoredEvent]:
        """At most FIRST + len(MOMENTS) * (BEFORE + AFTER) events of MESSAGE_ID, in seq
        order: its FIRST earliest, and for each moment the BEFORE events at or before it
        and the AFTER events after it."""
        reads: list[tuple[str, tuple[Any, ...]]] = [
            (queries.SELECT_MESSAGE_FIRST, (message_id, first))]
        for moment in moments:
            reads.append((queries.SELECT_MESSAGE_UP_TO, (message_id, moment, before)))
            if after:
                reads.append((queries.SELECT_MESSAGE_AFTER, (message_id, moment, after)))
        found: dict[int, StoredEvent] = {}
        for statement, params in reads:
            for seq, data, campaign, recipient, received_at in self.execute(
                    statement, params).fetchall():
                if seq not in found:
                    found[seq] = StoredEvent(seq, json.loads(data), campaign, recipient,
                                             received_at)
        return [found[seq] for seq in sorted(found)]

    # -- recipient domains' mail exchangers, the doctor's reports ------------------------------

    def mx_records(self, domains: Sequence[str] | None = None) -> dict[str, MxRecord]:
        """The cached MX records of DOMAINS (every cached domain when None)."""
        rows: list[queries.MxRow] = []
        if domains is None:
            rows = self.rows(queries.MxRow, queries.SELECT_ALL_MX_RECORDS)
        else:
            for chunk in _chunks(sorted(set(domains))):
                statement = queries.SELECT_MX_RECORDS.format(placeholders=_marks(chunk))
                rows.extend(self.rows(queries.MxRow, statement, tuple(chunk)))
        return {row.domain: MxRecord(row.domain, tuple(json.loads(row.hosts)), row.status,
                                     float(row.looked_up_at), float(row.expires_at))
                for row in rows}

    def save_mx_records(self, records: Iterable[MxRecord]) -> None:
        """Store (or replace) looked-up MX records, in a transaction of their own."""
        rows = [(r.domain, dumps(list(r.hosts)), r.status, r.looked_up_at, r.expires_at)
                for r in records]
        if rows:
            with self.transaction():
                self.executemany(queries.UPSERT_MX_RECORD, rows)

    def recipient_domains(self, campaign_id: str | None = None) -> list[tuple[str, int]]:
        """Recipient domains of the stored messages (of CAMPAIGN_ID) with their message
        counts, most messages first."""
        statement = queries.RECIPIENT_DOMAINS.format(
            campaign="" if campaign_id is None else "AND campaign_id = ?")
        params = () if campaign_id is None else (campaign_id,)
        return [(row.recipient_domain, int(row.messages))
                for row in self.rows(queries.DomainCount, statement, params)]

    def save_doctor_report(self, report: DoctorReport) -> None:
        with self.transaction():
            self.execute(queries.UPSERT_DOCTOR_REPORT,
                         (report.domain, report.checked_at, dumps(report.report)))

    def doctor_report(self, domain: str | None = None) -> DoctorReport | None:
        """The kept doctor report of DOMAIN (None: the latest of any domain)."""
        if domain is None:
            row = self.row(queries.DoctorRow, queries.LATEST_DOCTOR_REPORT)
        else:
            row = self.row(queries.DoctorRow, queries.SELECT_DOCTOR_REPORT, (domain.lower(),))
        if row is None:
            return None
        return DoctorReport(row.domain, float(row.checked_at), json.loads(row.report))

    # -- the archive (docs/archive.md) --------------------------------------------------------

    def archivable_messages(self, before: float, limit: int,
                            among: Sequence[str] | None = None) -> list[str]:
        """Up to LIMIT messages (of AMONG) ready to move to the archive: every event older
        than BEFORE, every verdict final, no unsubscribe held for review, no recount
        pending. Oldest first."""
        if among is None:
            statement = queries.ARCHIVABLE_MESSAGES.format(among="")
            return [row[0] for row in self.execute(statement, (before, limit)).fetchall()]
        found: list[str] = []
        for chunk in _chunks(among):
            statement = queries.ARCHIVABLE_MESSAGES.format(
                among=f"e.message_id IN ({_marks(chunk)}) AND")
            found.extend(row[0] for row in self.execute(
                statement, (*chunk, before, limit)).fetchall())
        return found[:limit]

    def archive_rows(self, message_ids: Sequence[str]) -> list[ArchivedEvent]:
        """The stored events of MESSAGE_IDS with their verdicts, in arrival order."""
        out: list[ArchivedEvent] = []
        for chunk in _chunks(message_ids):
            statement = queries.ARCHIVE_ROWS.format(placeholders=_marks(chunk))
            out.extend(_archived_event(row) for row in
                       self.execute(statement, tuple(chunk)).fetchall())
        return out

    def forget_archived(self, rows: Sequence[ArchivedEvent], batch: str,
                        partitions: dict[str, tuple[str, ...]], now: float) -> None:
        """Delete the archived ROWS' events and verdicts and record their messages (in the
        caller's transaction). PARTITIONS: each message's archive folders, old and new."""
        ids = [row.id for row in rows]
        for chunk in _chunks(ids):
            self.execute(queries.DELETE_VERDICTS.format(placeholders=_marks(chunk)),
                         tuple(chunk))
            self.execute(queries.DELETE_EVENTS.format(placeholders=_marks(chunk)), tuple(chunk))
        counts: dict[str, int] = {}
        campaigns: dict[str, str | None] = {}
        for row in rows:
            counts[row.message_id] = counts.get(row.message_id, 0) + 1
            campaigns[row.message_id] = row.campaign_id or campaigns.get(row.message_id)
        self.executemany(queries.UPSERT_ARCHIVED, [
            (message_id, campaigns[message_id], dumps(list(partitions[message_id])), n, batch,
             now)
            for message_id, n in counts.items()])

    def restore_archived(self, rows: Sequence[ArchivedEvent]) -> int:
        """Store archived ROWS again, events and verdicts (in the caller's transaction);
        a delivery records its message as :meth:`add_events` does. Returns how many events
        were new."""
        delivered = [_message_of(row) for row in rows if row.type == EventType.DELIVERED]
        if delivered:
            self.save_messages(delivered)
        added = self._insert_event_rows([
            (row.id, row.type, row.message_id, row.campaign_id, row.recipient, row.ts,
             row.received_at, row.link_index, row.link_kind, row.source, row.event,
             row.message_id) for row in rows])
        judged = [(row.id, row.verdict, row.score, row.kind, row.vendor, row.reasons,
                   row.engine_version, 1 if row.final else 0, row.computed_at)
                  for row in rows if row.verdict is not None]
        if judged:
            self.executemany(queries.UPSERT_VERDICT, judged)
        return added

    def campaigns(self) -> list[CampaignRecord]:
        """Every campaign."""
        return [row._replace(created_at=float(row.created_at))
                for row in self.rows(CampaignRecord, queries.SELECT_CAMPAIGNS)]

    def save_campaigns(self, campaigns: Iterable[tuple[str, str | None, float]]) -> None:
        """Record campaigns (id, name, created_at) not yet known (caller's transaction)."""
        rows = list(campaigns)
        if rows:
            self.executemany(queries.INSERT_CAMPAIGN, rows)

    def archived_messages(self, message_ids: Sequence[str]) -> dict[str, ArchivedMessage]:
        """The archive's records of those of MESSAGE_IDS that have events in it."""
        out: dict[str, ArchivedMessage] = {}
        for chunk in _chunks(message_ids):
            statement = queries.SELECT_ARCHIVED.format(placeholders=_marks(chunk))
            for row in self.rows(queries.ArchivedRow, statement, tuple(chunk)):
                out[row.message_id] = ArchivedMessage(
                    row.message_id, row.campaign_id, tuple(json.loads(row.partitions)),
                    int(row.events), row.batch, float(row.archived_at))
        return out

    def archived_message_ids(self, campaign_id: str | None = None) -> list[str]:
        """Messages with events in the archive (of CAMPAIGN_ID)."""
        if campaign_id is None:
            rows = self.execute(queries.SELECT_ARCHIVED_IDS).fetchall()
        else:
            rows = self.execute(queries.SELECT_ARCHIVED_OF_CAMPAIGN, (campaign_id,)).fetchall()
        return [row[0] for row in rows]

    def count_message_events(self, message_ids: Sequence[str]) -> int:
        """How many events of MESSAGE_IDS the store holds."""
        total = 0
        for chunk in _chunks(message_ids):
            statement = queries.COUNT_MESSAGE_EVENTS.format(placeholders=_marks(chunk))
            total += int(self.execute(statement, tuple(chunk)).fetchone()[0])
        return total

    def campaigns_of_messages(self, message_ids: Sequence[str]) -> set[str | None]:
        """The campaigns of MESSAGE_IDS' stored events."""
        found: set[str | None] = set()
        for chunk in _chunks(message_ids):
            statement = queries.CAMPAIGNS_OF_MESSAGES.format(placeholders=_marks(chunk))
            found.update(row[0] for row in self.execute(statement, tuple(chunk)).fetchall())
        return found

    def archive_totals(self) -> tuple[int, int]:
        """(messages, events) moved to the archive so far."""
        row = self.row(queries.ArchiveTotals, queries.ARCHIVE_TOTALS)
        assert row is not None        # an aggregate always has its row
        return int(row.messages), int(row.events)

    def recipient_message_ids(self, address: str) -> list[str]:
        """The messages sent to ADDRESS (lower case)."""
        return [row[0] for row in
                self.execute(queries.ERASE_FIND_MESSAGES, (address,)).fetchall()]

    # -- address retention -----------------------------------------------------------------------

    def redact_addresses(self, message_ids: Sequence[str], mode: str) -> int:
        """Apply address retention MODE ('truncate' or 'hash', docs/privacy.md) to the
        stored events of MESSAGE_IDS; the hash key is made once and kept in meta. Returns
        how many events changed."""
        if mode == "keep":
            return 0
        key = bytes.fromhex(self.put_meta_if_absent("ip_hash_key", secrets.token_hex(32)))
        changed: list[tuple[str, str]] = []
        for stored in self.events_of_messages(message_ids):
            raw = stored.raw
            if redacted_address(raw, mode, key):
                changed.append((dumps(raw), str(raw["id"])))
        for rows in _chunks(changed, 1000):
            with self.transaction():
                self.executemany(queries.UPDATE_EVENT_DATA, rows)
        return len(changed)

    # -- erasure ---------------------------------------------------------------------------------

    def erase_recipient(self, address: str, suppression_key: str, now: float
                        ) -> dict[str, int]:
        """Remove ADDRESS (lower case) from every table that names it, in one transaction,
        and keep SUPPRESSION_KEY in the suppressions so the address is not mailed again.
        Returns what was removed, by what it was."""
        removed: dict[str, int] = {}

        def run(label: str, statement: str, params: Sequence[Any]) -> None:
            count = self.execute(statement, params).rowcount
            removed[label] = removed.get(label, 0) + max(0, count)

        with self.transaction():
            messages = self.recipient_message_ids(address)
            events: list[str] = []
            for chunk in _chunks(messages or [""]):
                statement = queries.ERASE_FIND_EVENTS.format(placeholders=_marks(chunk))
                events.extend(row[0] for row in
                              self.execute(statement, (address, *chunk)).fetchall())
            for label, statement in queries.ERASE_BY_EVENT:
                for chunk in _chunks(sorted(set(events))):
                    run(label, statement.format(placeholders=_marks(chunk)), chunk)
            for label, statement in queries.ERASE_BY_MESSAGE:
                for chunk in _chunks(messages):
                    run(label, statement.format(placeholders=_marks(chunk)), chunk)
            for label, statement in queries.ERASE_BY_ADDRESS:
                run(label, statement, (address,))
            self.execute(queries.INSERT_ERASED_SUPPRESSION, (suppression_key, now))
        return {label: n for label, n in removed.items() if n}

    def event_counts(self) -> dict[str, int]:
        return {row[0]: int(row[1]) for row in self.execute(queries.COUNT_EVENTS).fetchall()}


def _message_of(delivery: ArchivedEvent) -> MessageRecord:
    """The message an archived delivery records: from its columns, with the links its
    event names when the event still reads as one."""
    try:
        links = event_from_dict(json.loads(delivery.event)).links
    except (ValueError, InputError):
        links = None
    return MessageRecord(delivery.message_id, delivery.campaign_id, delivery.recipient,
                         delivery.ts, links, delivery.source)


def _archived_event(row: Sequence[Any]) -> ArchivedEvent:
    """A row of ``queries.ARCHIVE_ROWS``."""
    (event_id, kind_of_event, message_id, campaign_id, recipient, ts, received_at,
     link_index, link_kind, source, data, verdict, score, kind, vendor, reasons,
     engine_version, final, computed_at) = row
    return ArchivedEvent(
        id=event_id, type=kind_of_event, message_id=message_id, campaign_id=campaign_id,
        recipient=recipient, ts=float(ts), received_at=float(received_at),
        link_index=link_index, link_kind=link_kind, source=source, event=data,
        verdict=verdict, score=score, kind=kind, vendor=vendor, reasons=reasons,
        engine_version=engine_version, final=None if final is None else bool(final),
        computed_at=computed_at)


def _event_filters(campaign_id: str | None, types: Sequence[str], since: float | None,
                   until: float | None) -> tuple[list[str], list[Any]]:
    """SQL conditions on the events table (to be joined with AND) and their parameters."""
    filters: list[str] = []
    params: list[Any] = []
    if campaign_id is not None:
        filters.append("campaign_id = ?")
        params.append(campaign_id)
    if types:
        filters.append(f"type IN ({', '.join('?' for _ in types)})")
        params.extend(types)
    if since is not None:
        filters.append("ts >= ?")
        params.append(since)
    if until is not None:
        filters.append("ts < ?")
        params.append(until)
    return filters, params


def _chunks(items: Sequence[T], size: int = 500) -> Iterator[Sequence[T]]:
    """ITEMS in slices of SIZE (statements with one placeholder per item stay short)."""
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _marks(chunk: Sequence[Any]) -> str:
    return ", ".join("?" for _ in chunk)


@functools.lru_cache(maxsize=4096)
def reasons_json(reasons: tuple[Finding, ...]) -> str:
    """A verdict's reasons as stored (rule, weight, detail): the same few reason lists
    recur across thousands of verdicts, so each is written once."""
    return dumps([{"rule": f.rule, "weight": f.weight, "detail": f.detail} for f in reasons])


@functools.lru_cache(maxsize=1024)
def _shape_checked(shape: Callable[..., Any], statement: str,
                   columns: tuple[str, ...]) -> None:
    fields = getattr(shape, "_fields", None)
    if fields is None:
        fields = tuple(field.name for field in dataclasses.fields(shape))  # type: ignore[arg-type]
    if tuple(fields) != columns:
        raise TypeError(f"{getattr(shape, '__name__', shape)} has fields {tuple(fields)} but "
                        f"the statement returns {columns}: {statement.strip()[:80]}")


def _check_shape(shape: Callable[..., Any], statement: str, description: Any) -> None:
    _shape_checked(shape, statement,
                   tuple(str(column[0]).rsplit(".", 1)[-1] for column in description or ()))


class Rows:
    """A driver's cursor whose reads raise StorageError (a damaged page shows when its rows
    are read, not when the statement starts)."""

    __slots__ = ("_cursor", "_store")

    def __init__(self, cursor: Any, store: SqlStore) -> None:
        self._cursor = cursor
        self._store = store

    @property
    def rowcount(self) -> int:
        return int(self._cursor.rowcount)

    @property
    def description(self) -> Any:
        return self._cursor.description

    def fetchone(self) -> Any:
        try:
            return self._cursor.fetchone()
        except self._store.driver_errors as exc:
            raise self._store.failure(exc) from None

    def fetchall(self) -> list[Any]:
        try:
            return list(self._cursor.fetchall())
        except self._store.driver_errors as exc:
            raise self._store.failure(exc) from None

    def fetchmany(self, size: int) -> list[Any]:
        try:
            return list(self._cursor.fetchmany(size))
        except self._store.driver_errors as exc:
            raise self._store.failure(exc) from None

    def __iter__(self) -> Iterator[Any]:
        try:
            yield from self._cursor
        except self._store.driver_errors as exc:
            raise self._store.failure(exc) from None
