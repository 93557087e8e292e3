"""Canonical events (docs/events.md) from any tracker, for ``POST /api/v1/events``.

A body is a JSON array of event objects or JSON Lines, at most ``MAX_EVENTS`` of them.
Each record is read on its own, as the ESP adapters do: one that does not follow the
contract is kept whole as an ``unknown`` event with its ``parse_error`` (so nothing sent
is lost, and ``clicksift ingest problems`` lists it), and the others are stored. Storing is
idempotent by event id: a retried body stores nothing twice.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from clicksift.classify.vocabulary import Verdict
from clicksift.errors import InputError
from clicksift.events import ENGAGEMENT_TYPES, Event, event_from_dict
from clicksift.ingest.normalize import unreadable
from clicksift.storage import SqlStore

SOURCE = "api"
MAX_EVENTS = 10_000


@dataclass(frozen=True)
class Received:
    """A body's events: the readable ones and, for each unreadable record, its index."""
    events: list[Event]
    unreadable: dict[int, Event]


def read_body(body: bytes, *, array: bool = False) -> Received:
    """The events of BODY (a JSON array, or JSON Lines; ARRAY: only an array, as a body
    sent as application/json is); InputError when it is neither, or holds more than
    MAX_EVENTS."""
    text = body.strip()
    if not text:
        raise InputError("the body is empty: send a JSON array of events or JSON Lines")
    if array and text[:1] != b"[":
        raise InputError("an application/json body must be an array of events (JSON Lines "
                         "go as application/x-ndjson)")
    if text[:1] == b"[":
        try:
            records = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            raise InputError(f"the body is not a JSON array: {exc}") from None
        if not isinstance(records, list):
            raise InputError("the body is not a JSON array")
    else:
        records = []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                records.append(orjson.loads(line))
            except orjson.JSONDecodeError as exc:
                records.append(_Unparsed(f"line {number} is not JSON: {exc}", line))
    if len(records) > MAX_EVENTS:
        raise InputError(f"{len(records):,} events in one body: send at most {MAX_EVENTS:,}")
    events, bad = [], {}
    for index, record in enumerate(records):
        try:
            if isinstance(record, _Unparsed):
                raise InputError(record.reason)
            events.append(event_from_dict(record))
        except InputError as exc:
            kept = record.text.decode("utf-8", "replace") if isinstance(record, _Unparsed) \
                else record
            bad[index] = unreadable(SOURCE, index, kept, exc.reason, exc.field)
    return Received(events, bad)


@dataclass(frozen=True)
class _Unparsed:
    reason: str
    text: bytes


def store(store: SqlStore, received: Received, judge: Callable[[Event], Verdict],
          engine_version: str) -> tuple[int, list[Verdict]]:
    """Store RECEIVED's events with a provisional verdict for each engagement event, in one
    transaction; returns how many were new, and the verdicts."""
    events = [*received.events, *received.unreadable.values()]
    verdicts = [judge(event) for event in received.events if event.type in ENGAGEMENT_TYPES]
    with store.transaction():
        new = store.add_events(events)
        store.save_verdicts(verdicts, engine_version)
    return new, verdicts


def answer(received: Received, new: int, verdicts: list[Verdict]) -> dict[str, Any]:
    """The answer to a body: counts, each stored event's verdict, each unread record."""
    return {"accepted": len(received.events) + len(received.unreadable), "new": new,
            "verdicts": [{"id": v.id, "verdict": v.verdict, "score": v.score, "kind": v.kind,
                          "vendor": v.vendor} for v in verdicts],
            "unreadable": [{"record": index, "id": event.id,
                            "reason": event.raw["parse_notes"][0]}
                           for index, event in sorted(received.unreadable.items())]}
