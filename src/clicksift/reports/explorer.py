"""The event explorer: stored events in order, each with its verdict and every reason."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from clicksift.archive import open_archive
from clicksift.classify.rules import RULES
from clicksift.classify.vocabulary import KINDS, Label
from clicksift.errors import InputError, NotFoundError, StorageError
from clicksift.events import EventType, format_timestamp, parse_time_bound
from clicksift.reports.model import EventPage, EventRow, Reason
from clicksift.storage import ArchivedEvent, SqlStore
from clicksift.storage.queries import explorer as sql

MAX_PER_PAGE = 500
MAX_PAGE = 1_000_000
VERDICTS = (Label.HUMAN, Label.NHI, "pending")


@dataclass(frozen=True, slots=True)
class EventQuery:
    """Filters of the explorer; :meth:`parse` checks text values (a query string)."""

    campaign: str | None = None
    message: str | None = None
    recipient: str | None = None
    domain: str | None = None
    type: str | None = None
    verdict: str | None = None
    kind: str | None = None
    vendor: str | None = None
    rule: str | None = None
    since: float | None = None
    until: float | None = None
    page: int = 1
    per_page: int = 50

    @classmethod
    def parse(cls, values: Mapping[str, str], **fixed: Any) -> EventQuery:
        """Filters from text VALUES; a bad value raises InputError naming the field."""
        known = {f for f in cls.__dataclass_fields__}
        unknown = sorted(set(values) - known)
        if unknown:
            raise InputError(f"unknown filter; use {', '.join(sorted(known))}",
                             field=unknown[0])
        args: dict[str, Any] = {k: v for k, v in values.items() if v != ""}
        for name in ("since", "until"):
            if name in args:
                args[name] = _time(args[name], name)
        for name, low, high in (("page", 1, MAX_PAGE), ("per_page", 1, MAX_PER_PAGE)):
            if name in args:
                args[name] = _integer(args[name], name, low, high)
        query = cls(**{**args, **fixed})
        query.check()
        return query

    def check(self) -> None:
        _choice(self.type, "type", [t.value for t in EventType])
        _choice(self.verdict, "verdict", list(VERDICTS))
        _choice(self.kind, "kind", list(KINDS))
        if self.rule is not None and self.rule not in RULES:
            near = [rule for rule in RULES if self.rule.split(".")[0] in rule][:5]
            hint = f"; did you mean {', '.join(near)}" if near else ""
            raise InputError(f"no rule '{self.rule}' (docs/rules.md lists them){hint}",
                             field="rule")

    def as_filters(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items()
                if v is not None and k not in ("page", "per_page")}


def event_page(store: SqlStore, query: EventQuery) -> EventPage:
    """One page of events matching QUERY, oldest first."""
    where, params = _where(store, query)
    offset = (query.page - 1) * query.per_page
    rows = store.rows(sql.EventWithVerdict, sql.PAGE.format(where=where),
                      (*params, query.per_page + 1, offset))
    if query.campaign and not rows and query.page == 1:
        _require_campaign(store, query.campaign)
    items = tuple(_row(row) for row in rows[:query.per_page])
    return EventPage(items, query.page, query.per_page, len(rows) > query.per_page,
                     query.as_filters())


def message_events(store: SqlStore, message_id: str) -> list[EventRow]:
    """Every event of one message in time order, those moved to the archive included
    (read back from its folders; their ``seq`` is 0: they have no place in the store)."""
    rows = store.rows(sql.EventWithVerdict, sql.OF_MESSAGE, (message_id,))
    record = store.archived_messages([message_id]).get(message_id)
    if record is not None:
        archive = open_archive(store)
        if archive is None:
            raise StorageError(f"message '{message_id}' was archived, but the store names no "
                               "archive folder")
        archived = [_archived_columns(row) for row in
                    archive.read(partitions=record.partitions, message_ids=[message_id])]
        rows = sorted(archived + rows, key=lambda row: (row.ts, row.seq))
    if not rows:
        raise NotFoundError(f"no events of message '{message_id}'")
    return [_row(row) for row in rows]


def _archived_columns(row: ArchivedEvent) -> sql.EventWithVerdict:
    """An archived row as a stored one."""
    return sql.EventWithVerdict(
        0, row.id, row.type, row.ts, row.message_id, row.campaign_id, row.recipient,
        row.link_index, row.link_kind, row.event, row.source, row.verdict, row.score,
        row.kind, row.vendor, row.final, row.engine_version, row.reasons)


def iter_events(store: SqlStore, query: EventQuery, page_size: int = 2000) -> Iterator[EventRow]:
    """Every event matching QUERY (ignoring its page), streamed in pages: exports."""
    where, params = _where(store, query)
    last = 0
    statement = sql.AFTER.format(where=where)
    while True:
        rows = store.rows(sql.EventWithVerdict, statement, (*params, last, page_size))
        for row in rows:
            yield _row(row)
        if len(rows) < page_size:
            return
        last = rows[-1].seq


def _where(store: SqlStore, query: EventQuery) -> tuple[str, list[Any]]:
    return sql.where(store.dialect, campaign=query.campaign, message=query.message,
                     recipient=query.recipient, domain=query.domain, type=query.type,
                     verdict=query.verdict, kind=query.kind, vendor=query.vendor,
                     rule=query.rule, since=query.since, until=query.until)


def _row(row: sql.EventWithVerdict) -> EventRow:
    (seq, event_id, type_, ts, message_id, campaign_id, recipient, link_index, link_kind,
     data, source, verdict, score, kind, vendor, final, engine, reasons) = row
    raw = json.loads(data)
    return EventRow(
        seq=int(seq), id=event_id, type=type_, timestamp=format_timestamp(ts),
        message_id=message_id, campaign_id=campaign_id, recipient=recipient,
        link_index=link_index, link_kind=link_kind, url=raw.get("url"), ip=raw.get("ip"),
        user_agent=raw.get("user_agent"), method=raw.get("method"), source=source,
        verdict=verdict, score=None if score is None else round(float(score), 4), kind=kind,
        vendor=vendor, final=None if final is None else bool(final), engine_version=engine,
        reasons=tuple(Reason(r["rule"], r.get("weight"), r.get("detail", ""))
                      for r in (json.loads(reasons) if reasons else [])))


def _require_campaign(store: SqlStore, campaign: str) -> None:
    if not store.exists(sql.CAMPAIGN_HAS_EVENTS, (campaign,)):
        raise NotFoundError(f"no campaign '{campaign}'")


def _choice(value: str | None, name: str, allowed: list[str]) -> None:
    if value is not None and value not in allowed:
        raise InputError(f"'{value}' is not one of {', '.join(allowed)}", field=name)


def _integer(text: str, name: str, low: int, high: int) -> int:
    try:
        number = int(text)
    except ValueError:
        raise InputError(f"'{text}' is not a whole number", field=name) from None
    if not low <= number <= high:
        raise InputError(f"must be between {low} and {high:,}", field=name)
    return number


def _time(text: str, name: str) -> float:
    try:
        return parse_time_bound(text, field_name=name)
    except ValueError as exc:
        raise InputError(f"{exc} (example: 2026-05-01T00:00:00Z)", field=name) from None
