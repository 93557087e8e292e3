"""One ESP record becomes one canonical event: fields that cannot be read are left out
with a note (``parse_notes``), a record that cannot be read at all is kept whole as
``unknown`` (``parse_error``), and no record stops the others.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from clicksift.errors import InvalidEventError
from clicksift.events import Event, EventType, dumps, event_from_dict
from clicksift.ingest.errors import PayloadError, SignatureError
from clicksift.ingest.ids import stable_id, text_id
from clicksift.ingest.reading import payload_error
from clicksift.ingest.times import epoch_now

#: Event types that always carry a url (possibly empty).
_NEEDS_URL = (EventType.CLICK.value, EventType.UNSUBSCRIBE.value)


def build(esp: str, esp_type: str, payload: Any, *, types: Mapping[str, str],
          event_id: str, message_id: str | None, timestamp: str | float,
          index: int | None = None, canonical: str | None = None, **fields: Any) -> Event:
    """One canonical event from an ESP record (its type from TYPES unless CANONICAL says
    otherwise). Fields that are None are left out; an optional field whose value cannot
    be read is left out too, with a note saying which and why (``parse_notes``)."""
    kind = canonical or types.get(esp_type, EventType.UNKNOWN.value)
    notes: list[str] = []
    if message_id is not None:
        message_id = _readable("message_id", message_id, notes)
    obj: dict[str, Any] = {
        "type": kind, "id": event_id, "message_id": message_id or event_id,
        "timestamp": timestamp, "source": esp, "esp_type": esp_type,
    }
    for name, value in fields.items():
        if value is not None and value != {} and value != "":
            obj[name] = _readable(name, value, notes)
    if kind in _NEEDS_URL and "url" not in obj:
        obj["url"] = ""
    obj["esp_payload"] = payload
    for _attempt in range(len(fields) + 1):
        if notes:
            obj["parse_notes"] = notes
        try:
            return event_from_dict(obj)
        except InvalidEventError as exc:
            if exc.field not in fields or exc.field not in obj:
                raise payload_error(exc.reason, record=index, field=exc.field) from None
            notes.append(f"{exc.field}: {exc.reason}; left out")
            if exc.field == "url" and kind in _NEEDS_URL:
                obj["url"] = ""
            else:
                del obj[exc.field]
    raise payload_error("cannot be read", record=index)


#: Fields an ESP gives as numbers at times (ids) and that are kept as their text.
_NUMBERS_AS_TEXT = frozenset({"campaign_id"})


def _readable(name: str, value: Any, notes: list[str]) -> Any:
    """VALUE of field NAME as the event contract can read it: ids given as numbers as
    their text, NUL characters removed (with a note); anything else as it is, for
    event_from_dict to judge."""
    if name in _NUMBERS_AS_TEXT and isinstance(value, int | float) \
            and not isinstance(value, bool):
        return text_id(value)
    if isinstance(value, str) and "\x00" in value:     # no database column holds NUL
        notes.append(f"{name}: NUL characters removed")
        return value.replace("\x00", "")
    return value


def unreadable(esp: str, index: int | None, record: Any, reason: str,
               field: str | None = None) -> Event:
    """A record that cannot be normalized, kept whole as an ``unknown`` event with its
    reason (its id follows from its content, so a retried body stores it once)."""
    digest = stable_id(esp, "unreadable", dumps(record) if _dumpable(record) else repr(record))
    where = f"record {index}: " if index is not None else ""
    what = f"{field}: {reason}" if field else reason
    return event_from_dict({
        "type": EventType.UNKNOWN.value, "id": digest, "message_id": digest,
        "timestamp": epoch_now(), "source": esp, "esp_payload": record,
        "parse_error": {"record": index, "field": field, "reason": reason},
        "parse_notes": [f"{where}{what}", "timestamp: not readable; the time it was received"]})


def readable(events: list[Event]) -> list[Event]:
    """EVENTS, unless not one record of the body could be read: then the body is not this
    ESP's at all, and the first record's error says why."""
    if events and all("parse_error" in e.raw for e in events):
        error = events[0].raw["parse_error"]
        raise payload_error(error["reason"], record=error["record"], field=error["field"])
    return events


def _dumpable(record: Any) -> bool:
    try:
        dumps(record)
    except (TypeError, ValueError):
        return False
    return True


@contextmanager
def one_record(esp: str, index: int, record: Any, events: list[Event]) -> Iterator[None]:
    """Normalize one record of a body inside this block: a record that cannot be read
    (whatever goes wrong) is kept as an ``unknown`` event instead of losing the body."""
    try:
        yield
    except SignatureError:
        raise
    except PayloadError as exc:
        events.append(unreadable(esp, index, record, exc.reason, exc.field))
    except Exception as exc:   # one record never loses the others
        events.append(unreadable(esp, index, record,
                                 f"cannot be read ({type(exc).__name__}: {exc})"))


def number_repeats(events: list[Event]) -> list[Event]:
    """Give the 2nd, 3rd... event with the same derived id in one body its own id.

    For ESPs without event ids: two records alike in every field (a scanner's HEAD and GET
    in the same second) are two events, while the same body posted again still repeats
    the same ids."""
    seen: dict[str, int] = {}
    for event in events:
        count = seen.get(event.id, 0) + 1
        seen[event.id] = count
        if count > 1:
            event.id = event.raw["id"] = f"{event.id}~{count}"
    return events


def recipient_domain_ok(address: str | None) -> str | None:
    return address if address and "@" in address else None
