"""Conversions: a purchase or sign-up tied to the click it came from.

Every click's destination gets the click's id in a query parameter (setting
``click_id_param``, ``csclid`` by default), signed: the 32 hex digits of the click's event
id and 20 of its signature. The site that receives the visitor keeps it and, when the
visitor converts, reports it with a value and a currency: a JSON POST to
``/api/v1/conversions`` (with an API key; the bare event id is accepted too) or the pixel
``/cv.gif?click_id=...`` (no key: only the signed id, so a stranger cannot invent
conversions for clicks they never made). The
conversion becomes an event of the click's message, so reports show conversions and revenue
per campaign and the share of people's clicks that converted.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import re
import time
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlsplit

from clicksift.errors import InputError, NotFoundError
from clicksift.events import Event, event_from_dict, format_timestamp, parse_time_bound
from clicksift.ids import new_event_id
from clicksift.storage import SqlStore
from clicksift.storage.queries import conversions as sql

_CURRENCY = re.compile(r"[A-Za-z]{3}")
_CLICK_ID = re.compile(r"[0-9a-f]{32}")
_SIGNED_CLICK_ID = re.compile(r"[0-9a-f]{52}")
#: A conversion's own time: a date-time of this century (OCCURRED_AT_PATTERN in the API).
OCCURRED_AT_PATTERN = r"^20[0-9]{2}-"
_THIS_CENTURY = re.compile(OCCURRED_AT_PATTERN)


def own_domain(base_url: str) -> str | None:
    """The sender's domain a tracking address stands under: its host without the first
    label when it has three or more (t.example.com: example.com; t.example.co.uk:
    example.co.uk), the host itself with two, none for an address or a single name."""
    host = (urlsplit(base_url).hostname or "").rstrip(".").lower()
    labels = host.split(".")
    if len(labels) < 2 or all(part.isdigit() for part in labels) or ":" in host:
        return None
    return ".".join(labels[1:]) if len(labels) > 2 else host


class ClickIdScope:
    """Which destinations get the click id: those on DOMAINS or their subdomains."""

    def __init__(self, domains: Sequence[str]) -> None:
        self.domains = tuple(d.strip().strip(".").lower() for d in domains if d.strip())
        self.covers = functools.lru_cache(maxsize=4096)(self._covers)

    def _covers(self, netloc: bytes) -> bool:
        host = netloc.rsplit(b"@", 1)[-1].split(b":", 1)[0].rstrip(b".").lower().decode(
            "ascii", "replace")
        return any(host == d or host.endswith("." + d) for d in self.domains)

    def of(self, location: bytes) -> bool:
        """Whether the destination LOCATION (an absolute URL) is on the sender's domains."""
        if not self.domains:
            return False
        rest = location.partition(b"://")[2]
        end = min((i for i in (rest.find(b"/"), rest.find(b"?"), rest.find(b"#")) if i >= 0),
                  default=len(rest))
        return bool(self.covers(rest[:end]))


def click_id_scope(domains: Sequence[str], base_url: str) -> ClickIdScope:
    """The scope the settings give: their domains, else the domain of the tracking host."""
    if domains:
        return ClickIdScope(domains)
    own = own_domain(base_url)
    return ClickIdScope([own] if own else [])


def add_click_id(location: bytes, param: bytes, click_id: str) -> bytes:
    """LOCATION with PARAM=CLICK_ID added to its query (before any fragment)."""
    base, hash_mark, fragment = location.partition(b"#")
    separator = b"&" if b"?" in base else b"?"
    return base + separator + param + b"=" + click_id.encode("ascii") + hash_mark + fragment


#: The largest value one conversion may carry: a report adds up millions of them, and a
#: sum must stay a number (1e308 twice is infinity).
MAX_VALUE = 1_000_000_000
#: The longest order id (a shop's own reference).
MAX_ORDER_ID = 200


def parse_request(data: dict[str, Any], verify: Callable[[str], str | None],
                  *, signed_only: bool = False) -> dict[str, Any]:
    """Check a conversion request; InputError names the field. VERIFY(signed id) gives the
    click id a signed one carries (None: forged); SIGNED_ONLY refuses bare event ids."""
    click_id = data.get("click_id")
    if isinstance(click_id, str) and _SIGNED_CLICK_ID.fullmatch(click_id):
        click_id = verify(click_id)
        if click_id is None:       # no click of ours carries that signature
            raise NotFoundError("no click with that id: its signature does not match (copy "
                                "it whole from the destination URL)")
    elif isinstance(click_id, str) and _CLICK_ID.fullmatch(click_id) and signed_only:
        raise InputError("must be the signed click id from the destination URL (52 hex "
                         "digits)", field="click_id")
    elif not isinstance(click_id, str) or not _CLICK_ID.fullmatch(click_id):
        raise InputError("must be the click id from the destination URL (52 hex digits)",
                         field="click_id")
    value = data.get("value", 0)
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise InputError(f"{value!r} is not a number", field="value") from None
    if isinstance(value, bool) or not isinstance(value, int | float) or \
            not math.isfinite(value) or not 0 <= value <= MAX_VALUE:
        raise InputError(f"must be a number from 0 to {MAX_VALUE:,.0f}", field="value")
    currency = data.get("currency") or None
    if currency is not None and (not isinstance(currency, str)
                                 or not _CURRENCY.fullmatch(currency)):
        raise InputError("must be a three-letter ISO 4217 code such as EUR", field="currency")
    if value and currency is None:
        raise InputError("is required with a value", field="currency")
    order_id = data.get("order_id")
    if order_id is not None and (not isinstance(order_id, str)
                                 or not 0 < len(order_id) <= MAX_ORDER_ID):
        raise InputError(f"must be text of 1 to {MAX_ORDER_ID} characters", field="order_id")
    occurred_at = data.get("occurred_at")
    when: float | None = None
    if occurred_at is not None:
        if not isinstance(occurred_at, str) or not _THIS_CENTURY.match(occurred_at.strip()):
            raise InputError("must be an RFC 3339 date-time from 2000 to 2099",
                             field="occurred_at")
        try:
            when = parse_time_bound(occurred_at, field_name="occurred_at")
        except ValueError as exc:
            raise InputError(str(exc), field="occurred_at") from None
    return {"click_id": click_id, "value": float(value), "currency":
            currency.upper() if currency else None, "order_id": order_id, "when": when}


def peoples_tracked_clicks(store: SqlStore, count: int) -> list[str]:
    """The ids of the first COUNT clicks on content links that the tracker took and
    judged a person's."""
    return [str(event_id) for event_id in store.column(sql.PEOPLES_TRACKED_CLICKS, (count,))]


def record(store: SqlStore, request: dict[str, Any], source: str) -> tuple[Event, bool]:
    """Store the conversion REQUEST (from parse_request) as an event of the click's
    message; returns the event and whether it is new (an order reported twice is stored
    once). NotFoundError when the click is unknown."""
    row = store.row(sql.ClickRow, sql.CLICK, (request["click_id"],))
    if row is None:
        raise NotFoundError(f"no click with id {request['click_id']}")
    click = {"campaign_id": row.campaign_id, "recipient": row.recipient,
             **json.loads(row.data)}
    if request["order_id"]:
        digest = hashlib.sha256(f"{request['click_id']}\x1f{request['order_id']}".encode())
        event_id = "cv" + digest.hexdigest()[:30]
    else:
        event_id = new_event_id()
    obj: dict[str, Any] = {
        "type": "conversion", "id": event_id, "message_id": click["message_id"],
        "timestamp": format_timestamp(request["when"] or time.time()),
        "value": request["value"], "click_id": request["click_id"], "url": click.get("url"),
        "source": source}
    for name in ("campaign_id", "recipient"):
        if click.get(name):
            obj[name] = click[name]
    for name in ("currency", "order_id"):
        if request[name]:
            obj[name] = request[name]
    event = event_from_dict(obj)
    with store.transaction():
        new = store.add_events([event]) == 1
    return event, new
