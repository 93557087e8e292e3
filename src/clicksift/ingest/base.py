"""What every ESP adapter shares: the adapter record, errors, and small pure helpers.

An adapter is two pure functions and some data:

- ``verify(body, headers, secrets)`` checks that a webhook request is genuine and raises
  :class:`SignatureError` when it is not (headers are given with lower-case names);
- ``parse(body, headers)`` turns a request body (or one body from an import file) into
  canonical events (``docs/events.md``) and raises :class:`PayloadError` naming the record
  and field when the body is malformed;
- ``types``: the ESP's event names and the canonical type each becomes (anything not in the
  table becomes ``unknown``; an unknown type is never an error);
- ``settings`` it needs and the ``guide`` of its page in docs/esps/; a ``handshake`` and a
  ``fetch`` when its webhooks have them.

Its inverse, the bodies that ESP would post for canonical events, signed as it signs, is
in :mod:`clicksift.ingest.samples` (the demo, the accuracy benchmark, tests and fixtures).

Every event keeps the ESP's record in ``esp_payload`` and its event name in ``esp_type``;
its id is derived from the ESP's own ids, so a webhook delivered twice is stored once.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

from clicksift.errors import ClicksiftError, InputError, InvalidEventError
from clicksift.events import (
    Event,
    EventType,
    dumps,
    event_from_dict,
    format_timestamp,
    loads,
)
from clicksift.settings import SettingInfo

Headers = Mapping[str, str]
Secrets = Mapping[str, str]
Record = dict[str, Any]

#: The header under which an import names the file a body came from (the file's path can
#: say what its records are: Braze Currents writes one event type per folder).
FILE_HEADER = "x-clicksift-file"
#: The Avro object container's first bytes (a file read whole, never line by line).
AVRO_MAGIC = b"Obj\x01"

#: How far a signed timestamp may be from our clock (seconds), where the scheme signs one.
TIMESTAMP_TOLERANCE = 300.0


class SignatureError(ClicksiftError):
    """A webhook request is not proven to come from the ESP (missing, wrong or stale)."""


class PayloadError(InputError):
    """A body is not what the ESP sends: the message names the record and the field."""


@dataclass(frozen=True)
class Guide:
    """The words of an ESP's page in docs/esps/ (clicksift.reference renders them with the
    adapter's own tables, so the mapping and the settings cannot drift from the code)."""

    setup: str
    signature: str
    quirks: tuple[str, ...]
    docs: tuple[str, ...]            # the ESP's own pages this adapter follows


@dataclass(frozen=True)
class Handshake:
    """An ESP asks to subscribe the webhook (SNS's SubscriptionConfirmation): the server
    opens CONFIRM_URL when CONFIRM is true, and otherwise logs it with HINT."""

    subject: str          # what subscribes (a topic)
    confirm_url: str
    confirm: bool
    hint: str = ""        # how to have it confirmed automatically


@dataclass(frozen=True)
class Adapter:
    name: str                                   # as in /webhooks/NAME and --esp NAME
    title: str                                  # the ESP's own spelling
    types: Mapping[str, str]                    # ESP event name -> canonical type
    parse: Callable[[bytes, Headers], list[Event]]
    guide: Guide                                # its page in docs/esps/
    verify: Callable[[bytes, Headers, Secrets], None] | None = None   # None: files only
    #: The secrets verify needs: its name for each -> the setting that holds it.
    secrets: Mapping[str, str] = field(default_factory=dict)
    optional: tuple[str, ...] = ()              # secrets verify can do without
    #: The secret that is the webhook's own public URL (signed by some ESPs); when it is not
    #: configured, the endpoint fills in base_url + /webhooks/NAME.
    url_field: str | None = None
    #: A subscription handshake to answer instead of storing events, when BODY is one.
    handshake: Callable[[bytes, Secrets], Handshake | None] | None = None
    #: Fetches, before verify runs, what verify needs and may not hold yet (network: only
    #: when the ESP's settings allow it).
    fetch: Callable[[bytes, Secrets], None] | None = None
    content_types: tuple[str, ...] = ("application/json",)
    #: The body (and its headers) that carries exactly one stored record (an event's
    #: ``esp_payload``), so that ``ingest reparse`` can read it again; None: a record this
    #: ESP's format cannot give on its own (it needs the report around it).
    reread: Callable[[Any], tuple[bytes, dict[str, str]]] | None = \
        lambda record: (json_body([record]), {"content-type": "application/json"})
    #: Which signals this ESP's engagement events carry (docs and the accuracy benchmark).
    carries: tuple[str, ...] = ()
    #: The settings this ESP needs (its secrets, and options of its handshake), each named
    #: after it: clicksift.configuration adds them to the settings table.
    settings: tuple[SettingInfo, ...] = ()

    @property
    def webhook(self) -> bool:
        return self.verify is not None


def esp_setting(name: str, default: str | bool | list[str], help: str, *,
                secret: bool = False) -> SettingInfo:
    """Declare one setting of an ESP (its type is its default's)."""
    kind = "list[str]" if isinstance(default, list) else type(default).__name__
    return SettingInfo(name, kind, default, help, secret, None)


# -- errors with a place ------------------------------------------------------------------------

def payload_error(reason: str, *, record: int | None = None, field: str | None = None
                  ) -> PayloadError:
    where = None if record is None else f"record {record}"
    return PayloadError(reason, source=where, field=field)


def decode_json(body: bytes) -> Any:
    if not body.strip():
        raise payload_error("the body is empty")
    try:
        return loads(body)
    except UnicodeDecodeError:
        raise payload_error("the body is not UTF-8") from None
    except ValueError as exc:
        raise payload_error(f"the body is not JSON ({exc})") from None


def as_list(document: Any, what: str) -> list[Any]:
    """A JSON array, or one object taken as an array of one."""
    if isinstance(document, list):
        return document
    if isinstance(document, dict):
        return [document]
    raise payload_error(f"expected {what}, found {type(document).__name__}")


def need(record: Any, name: str, index: int | None, kinds: type | tuple[type, ...] = str
         ) -> Any:
    """RECORD[NAME] when it is present and of KINDS; a PayloadError naming it otherwise."""
    if not isinstance(record, dict):
        raise payload_error(f"expected an object, found {type(record).__name__}", record=index)
    value = record.get(name)
    if value is None or value == "":
        raise payload_error("is missing", record=index, field=name)
    if not isinstance(value, kinds) or isinstance(value, bool):
        raise payload_error(f"has the wrong type ({type(value).__name__})", record=index,
                            field=name)
    return value


def obj(value: Any) -> dict[str, Any]:
    """VALUE when it is an object, else an empty one."""
    return value if isinstance(value, dict) else {}


def dig(record: Any, *path: str) -> Any:
    """RECORD[a][b]... or None where any step is missing."""
    for step in path:
        if not isinstance(record, dict):
            return None
        record = record.get(step)
    return record


# -- time ---------------------------------------------------------------------------------------

def seconds(value: Any, index: int | None, name: str) -> float:
    """Unix seconds from an int, float or numeric string."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise payload_error(f"{value!r} is not Unix seconds", record=index, field=name) from None
    if not math.isfinite(number):
        raise payload_error(f"{value!r} is not Unix seconds", record=index, field=name)
    return number


def millis(value: Any, index: int | None, name: str) -> float:
    return seconds(value, index, name) / 1000.0


def instant(value: Any, index: int | None, name: str) -> str | float:
    """An ISO 8601 / RFC 3339 text with a zone (any fraction length, space or T), or
    Unix seconds; returned in a form the event contract accepts."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, str) or not value.strip():
        raise payload_error(f"{value!r} is not a date-time", record=index, field=name)
    text = value.strip()
    try:
        return float(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text[:-1] + "+00:00" if text[-1] in "zZ" else text)
    except ValueError:
        raise payload_error(f"{value!r} is not an ISO 8601 date-time", record=index,
                            field=name) from None
    if moment.tzinfo is None:
        raise payload_error(f"{value!r} has no time zone", record=index, field=name)
    return format_timestamp(moment.timestamp())


def check_fresh(signed: str, now: float, tolerance: float = TIMESTAMP_TOLERANCE) -> None:
    """A signed Unix timestamp must be within TOLERANCE seconds of NOW (replay window)."""
    try:
        moment = float(signed)
    except ValueError:
        raise SignatureError(f"the signed timestamp {signed!r} is not a number") from None
    if not math.isfinite(moment) or abs(now - moment) > tolerance:
        raise SignatureError(
            f"the signed timestamp is {int(now - moment) if math.isfinite(moment) else '?'} s "
            f"away from now; at most {int(tolerance)} s is accepted (replayed or a wrong clock)")


def epoch_now() -> float:
    return datetime.now(UTC).timestamp()


# -- ids ----------------------------------------------------------------------------------------

def stable_id(esp: str, *parts: Any) -> str:
    """An event id from the ESP's own ids: the same record always gives the same id."""
    if len(parts) == 1 and isinstance(parts[0], str) and 0 < len(parts[0]) <= 80 \
            and "\x00" not in parts[0]:          # no database column holds NUL
        return f"{esp}-{parts[0]}"
    digest = hashlib.sha256("\x1f".join("" if p is None else str(p) for p in parts)
                            .encode("utf-8")).hexdigest()[:32]
    return f"{esp}-{digest}"


def big_number(text: str, bits: int = 60) -> int:
    """A large integer derived from TEXT (beyond 2^53, as some ESPs' ids are)."""
    return (1 << 53) + int(hashlib.sha256(text.encode("utf-8")).hexdigest()[:16], 16) % (
        1 << bits)


def text_id(value: Any) -> str | None:
    """An ESP id as text; integers (Mailjet's exceed 2^53) keep every digit."""
    if value is None or value == "" or isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


# -- building events ----------------------------------------------------------------------------

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


def campaign_of(*candidates: Any) -> str | None:
    """The first candidate that names a campaign (a string, a number, or a list's first)."""
    for value in candidates:
        if isinstance(value, list):
            value = value[0] if value else None
        text = text_id(value)
        if text:
            return text
    return None


def metadata_campaign(metadata: Any) -> str | None:
    if not isinstance(metadata, dict):
        return None
    return campaign_of(metadata.get("campaign_id"), metadata.get("campaign"))


def key(message_id: str, recipient: Any) -> str:
    """A message id that names one email to one recipient, for ESPs whose ids name a send
    (a recipient that is not text is no recipient)."""
    if isinstance(recipient, str) and recipient:
        return f"{message_id}/{recipient.lower()}"
    return message_id


# -- verification helpers -----------------------------------------------------------------------

def secret(secrets: Secrets, name: str, esp: str) -> str:
    value = secrets.get(name, "")
    if not value:
        raise SignatureError(f"no {name} is configured for {esp}")
    return value


def header(headers: Headers, name: str) -> str:
    value = headers.get(name)
    if not value:
        raise SignatureError(f"the {name} header is missing")
    return value


def same(a: str | bytes, b: str | bytes) -> bool:
    """Constant-time comparison."""
    left = a.encode("utf-8") if isinstance(a, str) else a
    right = b.encode("utf-8") if isinstance(b, str) else b
    return hmac.compare_digest(left, right)


def check_basic_auth(headers: Headers, expected: str, esp: str) -> None:
    """The request's HTTP basic credentials must be EXPECTED ('user:password'), or its
    bearer token must be EXPECTED."""
    given = headers.get("authorization", "")
    scheme, _, value = given.partition(" ")
    if scheme.lower() == "basic":
        try:
            credentials = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise SignatureError("the Authorization header is not valid basic auth") from None
    elif scheme.lower() == "bearer":
        credentials = value.strip()
    else:
        raise SignatureError(f"{esp} webhooks must carry the configured basic-auth credentials "
                             "(put them in the webhook URL: https://user:password@host/...)")
    if not same(credentials, expected):
        raise SignatureError("the basic-auth credentials are wrong")


def basic_auth_header(credentials: str) -> dict[str, str]:
    return {"authorization": "Basic " + base64.b64encode(credentials.encode()).decode()}


def b64decode(value: str, what: str) -> bytes:
    try:
        return base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise SignatureError(f"the {what} is not base64") from None


def public_key(text: str, title: str) -> PublicKeyTypes:
    """A configured public key: PEM text, or base64 DER (SubjectPublicKeyInfo)."""
    text = text.strip()
    try:
        if text.startswith("-----BEGIN"):
            return serialization.load_pem_public_key(text.encode())
        return serialization.load_der_public_key(b64decode(text, "public key"))
    except (ValueError, SignatureError):
        raise SignatureError(f"the configured {title} public key is not base64 DER or "
                             "PEM") from None


def hmac_hex(key: bytes, message: bytes, digest: str = "sha256") -> str:
    return hmac.new(key, message, digest).hexdigest()


def hmac_b64(key: bytes, message: bytes, digest: str = "sha256") -> str:
    return base64.b64encode(hmac.new(key, message, digest).digest()).decode("ascii")


# -- bodies -------------------------------------------------------------------------------------

def split_bodies(data: bytes) -> Iterator[tuple[int, bytes]]:
    """The bodies in an import file: the whole file when it is one JSON document or one
    multipart form (a legacy Mailgun webhook), else one body per non-blank line. Yields
    (line number, body)."""
    stripped = data.strip()
    if not stripped:
        return
    if stripped.startswith(b"--") or data.startswith(AVRO_MAGIC):
        yield 1, data if data.startswith(AVRO_MAGIC) else data.lstrip()
        return
    try:
        loads(stripped)
    except ValueError:
        pass
    else:
        yield 1, stripped
        return
    for number, line in enumerate(data.splitlines(), start=1):
        if line.strip():
            yield number, line


def with_context(events: Sequence[Event]) -> list[Event]:
    """EVENTS with campaign and recipient filled in from their message's delivered event,
    as an ESP knows them for every event it reports (the renderers' starting point)."""
    import dataclasses

    known = {e.message_id: (e.campaign_id, e.recipient) for e in events
             if e.type == EventType.DELIVERED.value}
    out = []
    for event in events:
        campaign, recipient = known.get(event.message_id, (None, None))
        if (event.campaign_id is None and campaign) or (event.recipient is None and recipient):
            event = dataclasses.replace(event, campaign_id=event.campaign_id or campaign,
                                        recipient=event.recipient or recipient)
        out.append(event)
    return out


def apple_proxy(event: Event) -> bool:
    """Whether EVENT came through Apple's Mail Privacy Protection proxy, as the ESPs that
    flag such opens (SendGrid, Mailgun, Brevo) tell it: by Apple's published addresses."""
    import ipaddress

    import iporigin

    from clicksift.classify.knowledge import load_knowledge

    if not event.ip:
        return False
    entry = load_knowledge().match_network(ipaddress.ip_address(event.ip))
    if entry is not None:
        return entry.role == "privacy_proxy"
    provider = iporigin.classify(event.ip).provider  # type: ignore[no-untyped-call]
    return bool(provider == "Apple Private Relay")


T = TypeVar("T")


def inverse(types: Mapping[str, str]) -> dict[str, str]:
    """Canonical type -> the ESP's name for it (the last name a type has in TYPES)."""
    return {kind: name for name, kind in types.items()}


def reported(events: Sequence[Event], names: Mapping[str, T]) -> Iterator[tuple[Event, T]]:
    """The events an ESP reports, each with what NAMES gives for its type, and with the
    campaign and recipient the ESP knows for every event (the renderers' loop)."""
    for event in with_context(events):
        name = names.get(event.type)
        if name is not None:
            yield event, name


def json_body(records: Sequence[Any]) -> bytes:
    from clicksift.events import dumps

    return dumps(list(records)).encode("utf-8")


def chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def iso(ts: float, digits: int = 3) -> str:
    """Unix seconds as ISO 8601 UTC text with DIGITS fraction digits and Z."""
    text = format_timestamp(ts)          # microseconds
    if digits == 6:
        return text
    if digits == 0:
        return text[:19] + "Z"
    if digits < 6:
        return text[:20 + digits] + "Z"
    return text[:26] + "0" * (digits - 6) + "Z"


def recipient_domain_ok(address: str | None) -> str | None:
    return address if address and "@" in address else None
