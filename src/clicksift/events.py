"""The canonical engagement event (docs/events.md) and its JSON Lines reader.

An :class:`Event` holds the fields the classifier and the store use, already checked and
converted (the timestamp as Unix seconds), and ``raw``: the object exactly as it was read,
unknown fields included, which is what the store keeps and exports write.
"""

from __future__ import annotations

import functools
import io
import ipaddress
import json
import math
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import IO, Any

import orjson

from clicksift.errors import InputError, InvalidEventError


class EventType(StrEnum):
    DELIVERED = "delivered"
    OPEN = "open"
    CLICK = "click"
    UNSUBSCRIBE = "unsubscribe"
    SENT = "sent"
    BOUNCE = "bounce"
    COMPLAINT = "complaint"
    CONVERSION = "conversion"
    UNKNOWN = "unknown"


class LinkKind(StrEnum):
    CONTENT = "content"
    HONEYPOT = "honeypot"
    UNSUBSCRIBE = "unsubscribe"


#: Event types that receive a verdict.
ENGAGEMENT_TYPES = frozenset({EventType.OPEN, EventType.CLICK, EventType.UNSUBSCRIBE})
_TYPES = frozenset(t.value for t in EventType)
_LINK_KINDS = frozenset(k.value for k in LinkKind)
_REQUIRED = ("type", "id", "message_id", "timestamp")
_NEEDS_URL = frozenset({EventType.CLICK.value, EventType.UNSUBSCRIBE.value})

#: Earliest and latest plausible event times (2000-01-01 .. 2100-01-01, Unix seconds).
_MIN_TS, _MAX_TS = 946_684_800.0, 4_102_444_800.0
MAX_HEADERS_BYTES = 64 * 1024
MAX_LINE_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Link:
    url: str
    kind: str = LinkKind.CONTENT.value


@dataclass(slots=True)
class Event:
    type: str
    id: str
    message_id: str
    ts: float
    campaign_id: str | None = None
    recipient: str | None = None
    links: tuple[Link, ...] | None = None
    url: str | None = None
    link_kind: str | None = None
    ip: str | None = None
    user_agent: str | None = None
    method: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    form: dict[str, Any] | None = None
    source: str | None = None
    esp_flags: dict[str, Any] | None = None
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def link_index(self) -> int | None:
        """Position of this click's link in the message's link list, when the tracker knew it."""
        value = self.raw.get("link_index")
        return value if isinstance(value, int) and not isinstance(value, bool) else None


def parse_timestamp(value: Any, *, field_name: str = "timestamp") -> float:
    """RFC 3339 text with a zone, or Unix epoch seconds, as float Unix seconds."""
    if isinstance(value, bool):
        raise ValueError("must be a date-time string or Unix seconds, not true/false")
    if isinstance(value, int | float):
        seconds = float(value)
        if not math.isfinite(seconds):
            raise ValueError("must be a finite number of seconds")
        if _MAX_TS * 100 < seconds < _MAX_TS * 1000 * 100:
            raise ValueError(f"{value} looks like milliseconds; give Unix seconds")
    elif isinstance(value, str):
        text = value.strip()
        if text.endswith(("z", "Z")):
            text = text[:-1] + "+00:00"
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(f"{value!r} is not an RFC 3339 date-time") from None
        if moment.tzinfo is None:
            raise ValueError(f"{value!r} has no time zone; add Z or an offset such as +02:00")
        seconds = moment.timestamp()
    else:
        raise ValueError("must be a date-time string or Unix seconds")
    if not _MIN_TS <= seconds <= _MAX_TS:
        raise ValueError(f"{value!r} is outside 2000..2100")
    return seconds


@functools.lru_cache(maxsize=4096)
def _second_text(whole: int) -> str:
    return datetime.fromtimestamp(whole, UTC).strftime("%Y-%m-%dT%H:%M:%S")


def format_timestamp(seconds: float) -> str:
    """Unix seconds as RFC 3339 UTC text with microseconds and Z."""
    whole = int(seconds // 1)
    micros = round((seconds - whole) * 1_000_000)
    if micros == 1_000_000:
        whole, micros = whole + 1, 0
    return f"{_second_text(whole)}.{micros:06d}Z"


def minute_text(seconds: float | None, empty: str = "") -> str:
    """Unix seconds as 'YYYY-MM-DD HH:MM UTC' for people to read; EMPTY when unknown."""
    if seconds is None:
        return empty
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _text(obj: dict[str, Any], name: str, *, required: bool = False) -> str | None:
    value = obj.get(name)
    if value is None:
        if required:
            raise InvalidEventError("is required", field=name)
        return None
    if not isinstance(value, str):
        raise InvalidEventError(f"must be a string, not {type(value).__name__}", field=name)
    if required and not value:
        raise InvalidEventError("must not be empty", field=name)
    return value


def _links(value: Any) -> tuple[Link, ...]:
    if not isinstance(value, list):
        raise InvalidEventError("must be an array of {url, kind}", field="links")
    out = []
    for position, item in enumerate(value):
        where = f"links[{position}]"
        if not isinstance(item, dict) or not isinstance(item.get("url"), str):
            raise InvalidEventError("must be an object with a string 'url'", field=where)
        kind = item.get("kind", LinkKind.CONTENT.value)
        if kind not in _LINK_KINDS:
            raise InvalidEventError(f"kind {kind!r} is not content, honeypot or unsubscribe",
                                    field=where)
        out.append(Link(item["url"], kind))
    return tuple(out)


def _headers(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        raise InvalidEventError("must be an object of header names to strings", field="headers")
    out: dict[str, str] = {}
    size = 0
    for name, text in value.items():
        if type(text) is not str:
            raise InvalidEventError(f"value of {name!r} must be a string", field="headers")
        size += len(name) + len(text)
        out[name if name.islower() else name.lower()] = text
    if size > MAX_HEADERS_BYTES:
        raise InvalidEventError(f"are {size} bytes; at most {MAX_HEADERS_BYTES} are accepted",
                                field="headers")
    return out


def _object(obj: dict[str, Any], name: str) -> dict[str, Any] | None:
    value = obj.get(name)
    if value is not None and not isinstance(value, dict):
        raise InvalidEventError("must be an object", field=name)
    return value


@functools.lru_cache(maxsize=65536)
def normalize_ip(text: str) -> str:
    """The canonical spelling of an IPv4 or IPv6 address (raises ValueError)."""
    return str(ipaddress.ip_address(text.strip()))


#: Fields that must be strings when present (the required ones are checked apart).
_TEXT_FIELDS = ("campaign_id", "recipient", "url", "link_kind", "ip", "user_agent", "method",
                "source")


def event_from_dict(obj: Any) -> Event:
    """Check OBJ against the event contract and build an :class:`Event`.

    Raises :class:`InvalidEventError` naming the field that is wrong."""
    if not isinstance(obj, dict):
        raise InvalidEventError(f"an event must be a JSON object, not {type(obj).__name__}")
    get = obj.get
    kind, event_id, message_id = get("type"), get("id"), get("message_id")
    if not (kind.__class__ is str and event_id.__class__ is str
            and message_id.__class__ is str and kind and event_id and message_id):
        for name in _REQUIRED:
            if name not in obj or obj[name] is None:
                raise InvalidEventError("is required", field=name)
        kind, event_id, message_id = (_text(obj, name, required=True) or ""
                                      for name in ("type", "id", "message_id"))
    if kind not in _TYPES:
        raise InvalidEventError(f"{kind!r} is not an event type; expected one of "
                                f"{', '.join(t.value for t in EventType)}", field="type")
    if "timestamp" not in obj or obj["timestamp"] is None:
        raise InvalidEventError("is required", field="timestamp")
    try:
        ts = parse_timestamp(obj["timestamp"])
    except ValueError as exc:
        raise InvalidEventError(str(exc), field="timestamp") from None
    for name in _TEXT_FIELDS:      # one pass over the optional strings; _text says what is wrong
        value = get(name)
        if value is not None and value.__class__ is not str:
            _text(obj, name)
    ip = get("ip")
    if ip is not None:
        try:
            ip = normalize_ip(ip)
        except ValueError:
            raise InvalidEventError(f"{ip!r} is not an IPv4 or IPv6 address", field="ip") from None
    url = get("url")
    if url is None and kind in _NEEDS_URL:
        raise InvalidEventError(f"is required on a {kind} event", field="url")
    link_kind = get("link_kind")
    if link_kind is not None and link_kind not in _LINK_KINDS:
        raise InvalidEventError(f"{link_kind!r} is not content, honeypot or unsubscribe",
                                field="link_kind")
    links, headers, method = get("links"), get("headers"), get("method")
    form, esp_flags = get("form"), get("esp_flags")
    if form is not None and form.__class__ is not dict:
        _object(obj, "form")
    if esp_flags is not None and esp_flags.__class__ is not dict:
        _object(obj, "esp_flags")
    return Event(kind, event_id, message_id, ts, get("campaign_id"), get("recipient"),
                 _links(links) if links is not None else None, url, link_kind, ip,
                 get("user_agent"), (method.upper() or None) if method else None,
                 _headers(headers) if headers is not None else {}, form, get("source"),
                 esp_flags, obj)


@dataclass
class ReadStats:
    """What a reader saw: lines read, events accepted, and the invalid lines it skipped."""

    lines: int = 0
    events: int = 0
    skipped: int = 0
    first_errors: list[str] = field(default_factory=list)

    def skip(self, error: InputError) -> None:
        self.skipped += 1
        if len(self.first_errors) < 10:
            self.first_errors.append(str(error))


def open_input(path: str) -> IO[bytes]:
    """Open PATH for reading bytes; '-' is standard input."""
    if path == "-":
        return sys.stdin.buffer
    try:
        return open(path, "rb")
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", source=path) from None


def iter_json_lines(stream: Iterable[bytes], source: str, stats: ReadStats | None = None,
                    first_line: int = 1) -> Iterator[tuple[int, Any, InputError | None]]:
    """Yield (line number, decoded JSON value, None) for every non-blank line of STREAM
    (whose first line is FIRST_LINE of SOURCE), or (line number, None, error) for a line
    that is not JSON."""
    for number, line in enumerate(stream, start=first_line):
        if stats is not None:
            stats.lines += 1
        if not line.strip():
            continue
        if len(line) > MAX_LINE_BYTES:
            yield number, None, InputError(
                f"line is {len(line)} bytes; at most {MAX_LINE_BYTES} are accepted",
                source=source, line=number)
            continue
        try:
            yield number, loads(line), None
        except UnicodeDecodeError:
            yield number, None, InputError("is not valid UTF-8", source=source, line=number)
        except json.JSONDecodeError as exc:
            yield number, None, InputError(f"is not valid JSON: {exc.msg} at column {exc.colno}",
                                           source=source, line=number)


def read_events(paths: Iterable[str], *, skip_invalid: bool = False,
                stats: ReadStats | None = None) -> Iterator[Event]:
    """Stream events from JSON Lines files ('-' is standard input).

    An invalid line raises :class:`InputError` naming file, line and field, unless
    SKIP_INVALID is set: then it is counted in STATS and skipped.
    """
    stats = stats if stats is not None else ReadStats()
    for path in paths:
        source = "<stdin>" if path == "-" else path
        stream = open_input(path)
        try:
            for _, event in checked_events(stream, source, stats, skip_invalid=skip_invalid):
                yield event
        finally:
            if stream is not sys.stdin.buffer:
                stream.close()


def checked_events(lines: Iterable[bytes], source: str, stats: ReadStats, *,
                   skip_invalid: bool = False, first_line: int = 1
                   ) -> Iterator[tuple[int, Event]]:
    """(line number, event) for each valid line of LINES (line FIRST_LINE of SOURCE comes
    first). An invalid line raises its InputError (file, line, field), unless SKIP_INVALID:
    then it is counted in STATS and skipped."""
    for number, obj, error in iter_json_lines(lines, source, stats, first_line):
        if error is None:
            try:
                event = event_from_dict(obj)
            except InvalidEventError as invalid:
                error = InvalidEventError(invalid.reason, source=source, line=number,
                                          field=invalid.field)
        if error is not None:
            if not skip_invalid:
                raise error
            stats.skip(error)
            continue
        stats.events += 1
        yield number, event


def dumps(obj: Any) -> str:
    """One compact JSON line (no trailing newline), non-ASCII kept as UTF-8."""
    try:
        return orjson.dumps(obj).decode("utf-8")
    except TypeError:  # integers beyond 64 bits, which orjson does not write
        return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def loads(data: bytes | str) -> Any:
    """Decode one JSON document (orjson, falling back to json for huge integers)."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data)


def text_stream(binary: IO[bytes]) -> io.TextIOWrapper:
    return io.TextIOWrapper(binary, encoding="utf-8", newline="\n")
