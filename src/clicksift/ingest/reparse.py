"""``clicksift ingest reparse``: stored ESP records read again by today's adapters.

Every ESP event keeps the record it came from (``esp_payload``). After an upgrade that
reads more of a format, the stored records are run through the adapter again, one by one:

- a record kept whole as ``unknown`` because it could not be read, and readable now,
  becomes the event it always was (the unreadable one is removed);
- a record read differently now (a field read that was left out, a type mapped anew) is
  rewritten in place, keeping its id, and its verdict is dropped to be judged again;
- anything else stays as it is: a record today's adapter cannot read, or reads as
  several events, never replaces what is stored.

Running it twice changes nothing the second time.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from clicksift.events import Event, dumps
from clicksift.ingest import ADAPTERS
from clicksift.ingest.base import Adapter
from clicksift.ingest.errors import PayloadError, SignatureError
from clicksift.storage import SqlStore

#: Events rewritten per transaction.
BATCH = 500


@dataclass
class Reparsed:
    """What reading one ESP's stored records again did."""

    esp: str
    read: int = 0            # stored events of the ESP looked at
    recovered: int = 0       # unreadable before, events now
    rewritten: int = 0       # read differently now, rewritten in place
    unchanged: int = 0
    still_unread: int = 0    # unreadable before and still
    kept: int = 0            # not readable on its own today: kept as stored
    messages: set[str] = field(default_factory=set)   # whose events changed

    def to_json(self) -> dict[str, Any]:
        return {"esp": self.esp, "read": self.read, "recovered": self.recovered,
                "rewritten": self.rewritten, "unchanged": self.unchanged,
                "still_unread": self.still_unread, "kept": self.kept,
                "messages": len(self.messages)}


def _read_again(adapter: Adapter, stored: dict[str, Any]) -> Event | None:
    """STORED's record as today's ADAPTER reads it; None when it reads no single event."""
    if adapter.reread is None or stored.get("esp_payload") is None:
        return None
    body, headers = adapter.reread(stored["esp_payload"])
    try:
        events = adapter.parse(body, headers)
    except (PayloadError, SignatureError):
        return None
    return events[0] if len(events) == 1 else None


def _same(event: Event, stored: dict[str, Any]) -> bool:
    return bool(json.loads(dumps(event.raw)) == stored)


def _keep_id(event: Event, stored_id: str) -> Event:
    event.id = event.raw["id"] = stored_id
    return event


def reparse(store: SqlStore, esp: str, *,
            progress: Callable[[int], None] | None = None) -> Reparsed:
    """Read ESP's stored records again and store what reads differently now."""
    adapter = ADAPTERS[esp]
    result = Reparsed(esp)
    changes: list[tuple[Event, str | None]] = []    # (event, the unreadable id it replaces)
    added: set[str] = set()        # recovered events, met again at the end of the table
    for _seq, stored in store.source_events(esp):
        if stored["id"] in added:
            continue
        result.read += 1
        unread = "parse_error" in stored
        event = _read_again(adapter, stored)
        if event is None or "parse_error" in event.raw:
            if unread:
                result.still_unread += 1
            else:
                result.kept += 1
        elif unread:
            changes.append((event, stored["id"]))
            added.add(event.id)
        elif _same(_keep_id(event, stored["id"]), stored):
            result.unchanged += 1
        else:
            changes.append((event, None))
            result.messages.add(stored["message_id"])
        if len(changes) >= BATCH:
            _apply(store, changes, result)
        if progress is not None and result.read % 1000 == 0:
            progress(result.read)
    _apply(store, changes, result)
    return result


def _apply(store: SqlStore, changes: list[tuple[Event, str | None]], result: Reparsed) -> None:
    """Store CHANGES in one transaction (events keep their places: arrival order is kept)."""
    if not changes:
        return
    with store.transaction():
        for event, replaces in changes:
            if replaces is not None:
                store.add_events([event])
                store.remove_event(replaces)
                result.recovered += 1
            else:
                store.rewrite_event(event)
                result.rewritten += 1
            result.messages.add(event.message_id)
    changes.clear()
