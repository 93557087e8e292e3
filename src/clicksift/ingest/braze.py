"""Braze Currents email events: a file import, not a webhook.

Accepted:

- the Avro files Currents writes to cloud storage (Amazon S3, Google Cloud Storage, Azure
  Blob Storage), under ``.../event_type=users.messages.email.Click/date=.../*.avro``: the
  event type is the folder's (or a record's own ``event_type``);
- the same events as JSON: a JSON Lines file or a JSON array of flat records with their
  ``event_type``, or a Currents HTTP batch ``{"events": [...]}`` whose records keep the
  user's fields under ``user`` and the rest under ``properties``.

Only ``users.messages.email.*`` events are events of this import; Braze's other events in a
file are kept as ``unknown``. Braze's own bot flags are kept in ``esp_flags``:
``machine_open`` (an open without the person: Apple Mail Privacy Protection and the like,
which the classifier takes as the ESP's word), and ``is_suspected_bot_click`` with
``suspected_bot_click_reason`` (Braze's suspicion, kept for comparison and not used as
evidence). Currents carries no client address: ``ip_pool`` is the sending pool.

Sources: https://www.braze.com/docs/user_guide/data/distribution/braze_currents/event_glossary/message_engagement_events
(email events, retrieved 2026-12-06), https://www.braze.com/docs/user_guide/message_building_by_channel/email/bot_filtering
(the bot click fields) and https://www.braze.com/docs/user_guide/data/braze_currents/
(file layout).
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from typing import Any

from clicksift.events import Event, loads
from clicksift.ingest import base, ids, normalize, reading, times
from clicksift.ingest.base import Headers

NAME = "braze"
PREFIX = "users.messages.email."
#: Braze email event -> canonical type. A soft bounce, a deferral and an abort (Braze did
#: not send) are not bounces.
TYPES = {
    f"{PREFIX}Send": "sent",
    f"{PREFIX}Delivery": "delivered",
    f"{PREFIX}Open": "open",
    f"{PREFIX}Click": "click",
    f"{PREFIX}Bounce": "bounce",
    f"{PREFIX}MarkAsSpam": "complaint",
    f"{PREFIX}Unsubscribe": "unsubscribe",
}
#: Braze's flags kept with the event.
FLAGS = ("machine_open", "is_suspected_bot_click", "suspected_bot_click_reason")
_FOLDER = re.compile(r"event_type=([A-Za-z0-9_.]+)")
_LOWER = {name.lower(): name for name in TYPES}


def _records(body: bytes, headers: Headers) -> Iterator[Any]:
    if body.startswith(reading.AVRO_MAGIC):
        yield from _avro_records(body)
        return
    stripped = body.strip()
    if stripped[:1] in (b"[", b"{"):
        try:
            document = loads(stripped)
        except ValueError:
            document = None
        if isinstance(document, dict) and isinstance(document.get("events"), list):
            yield from document["events"]
            return
        if document is not None:
            yield from reading.as_list(document, "Braze events")
            return
    for number, line in enumerate(stripped.splitlines(), start=1):
        if line.strip():
            try:
                yield loads(line)
            except ValueError as exc:
                raise reading.payload_error(f"line {number} is not JSON ({exc})") from None


def _avro_records(body: bytes) -> Iterator[Any]:
    import fastavro  # read only for Avro files

    try:
        yield from fastavro.reader(io.BytesIO(body))
    except (ValueError, EOFError, StopIteration, KeyError, TypeError) as exc:
        raise reading.payload_error(f"the Avro file cannot be read ({exc})") from None


def _event_type(record: dict[str, Any], folder: str | None, index: int) -> str:
    """A record's event type, in Braze's spelling (Currents folders are lower case)."""
    named = record.get("event_type") or folder
    if not isinstance(named, str) or not named:
        raise reading.payload_error("no event type: name the file's event_type= folder or give "
                                 "each record its event_type", record=index,
                                 field="event_type")
    return _LOWER.get(named.lower(), named)


def _flat(record: dict[str, Any]) -> dict[str, Any]:
    """A Currents HTTP record (``user`` and ``properties`` apart) as one flat record."""
    if not isinstance(record.get("properties"), dict) and not isinstance(
            record.get("user"), dict):
        return record
    flat = {key: value for key, value in record.items() if key not in ("user", "properties")}
    return {**reading.obj(record.get("user")), **reading.obj(record.get("properties")), **flat}


def parse(body: bytes, headers: Headers) -> list[Event]:
    found = _FOLDER.search(headers.get(reading.FILE_HEADER) or "")
    folder = found.group(1) if found else None
    events: list[Event] = []
    for index, record in enumerate(_records(body, headers)):
        with normalize.one_record(NAME, index, record, events):
            if not isinstance(record, dict):
                raise reading.payload_error(f"expected an object, found {type(record).__name__}",
                                         record=index)
            fields = _flat(record)
            kind = _event_type(fields, folder, index)
            ts = times.seconds(reading.need(fields, "time", index, (int, float, str)), index,
                              "time")
            address = fields.get("email_address")
            dispatch = ids.text_id(fields.get("dispatch_id") or fields.get("send_id"))
            flags = {name: fields[name] for name in FLAGS if fields.get(name) is not None}
            payload = dict(record, event_type=kind) if "event_type" not in record else record
            events.append(normalize.build(
                NAME, kind, payload, types=TYPES, index=index,
                canonical=None if kind.startswith(PREFIX) else "unknown",
                event_id=ids.stable_id(NAME, fields.get("id"), kind, ts, address),
                message_id=ids.key(dispatch, address) if dispatch else None, timestamp=ts,
                recipient=address,
                campaign_id=ids.campaign_of(fields.get("campaign_id"),
                                             fields.get("canvas_id")),
                url=fields.get("url"), user_agent=fields.get("user_agent"),
                esp_flags=flags or None))
    if not events:
        raise reading.payload_error("the file holds no Braze events")
    return normalize.readable(normalize.number_repeats(events))


GUIDE = base.Guide(
    setup="Braze sends email events through **Currents** (Partner Integrations → Data "
          "Export) to your cloud storage (Amazon S3, Google Cloud Storage or Azure Blob "
          "Storage). Copy the bucket's `event_type=users.messages.email.*` folders (for "
          "example with `aws s3 sync`) and import the folder: `clicksift import --esp "
          "braze currents/`. Currents events as JSON (JSON Lines, or a Currents HTTP batch "
          "with `events`) are read too.",
    signature="Files are trusted: `clicksift import` checks no signature.",
    quirks=(
        "Formats read: Currents Avro files (the event type is the `event_type=` folder "
        "they sit in), and the same events as JSON with their `event_type`, flat or "
        "with `user` and `properties` (Currents' HTTP form).",
        "Send, Delivery, Open, Click, Bounce, MarkAsSpam and Unsubscribe are mapped; "
        "SoftBounce, Deferral and Abort, and Braze's events of other channels, stay "
        "`unknown`.",
        "Braze's flags are kept in `esp_flags`: `machine_open` is taken as the ESP's "
        "word for an open without the person; `is_suspected_bot_click` and "
        "`suspected_bot_click_reason` are Braze's suspicion, kept to compare with "
        "clicksift's verdicts (`clicksift report` shows both) and not used as evidence.",
        "Currents carries no client address (`ip_pool` is the sending pool): clicks are "
        "judged on the user agent, timing and the message's other requests.",
        "Braze processes every unsubscribe, bots' included. An imported unsubscribe "
        "recorded seconds after a machine's click on the message (and no person's click "
        "between) is judged again: when it is a machine's it is held for review "
        "(`clicksift reviews list`) to undo at Braze; a person's is mirrored into "
        "clicksift's subscriptions.",
        "The message id is the dispatch id (else the send id) plus the address; the "
        "campaign is the campaign or Canvas id.",
    ),
    docs=("https://www.braze.com/docs/user_guide/data/distribution/braze_currents/"
          "event_glossary/message_engagement_events",
          "https://www.braze.com/docs/user_guide/message_building_by_channel/email/"
          "bot_filtering"),
)


ADAPTER = base.Adapter(
    name=NAME, title="Braze", types=TYPES, parse=parse,
    carries=("user_agent", "esp_flags"),
    reread=lambda record: (reading.json_body([record]), {"content-type": "application/json"}),
    guide=GUIDE)
