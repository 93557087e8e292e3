"""Brevo (formerly Sendinblue) transactional and marketing webhooks: one JSON object per
event (or an array when batched).

Brevo does not sign webhooks; it sends either the basic-auth credentials of the webhook
URL or a bearer token configured with the webhook, both checked here in constant time.
Brevo reports opens made by privacy proxies (Apple Mail Privacy Protection) as
``proxy_open`` / ``unique_proxy_open``: they become opens flagged in ``esp_flags``.
``sending_ip`` is Brevo's own sending address, never the reader's.
Source: https://developers.brevo.com/docs/transactional-webhooks and
https://developers.brevo.com/docs/marketing-webhooks
"""

from __future__ import annotations

import json
from typing import Any

from clicksift.events import Event
from clicksift.ingest import base, ids, normalize, reading, signing, times
from clicksift.ingest.base import Headers, Secrets

NAME = "brevo"

#: 'soft_bounce', 'deferred', 'blocked' and 'error' are not bounces.
TYPES = {
    "request": "sent",
    "delivered": "delivered",
    "opened": "open",
    "unique_opened": "open",
    "proxy_open": "open",
    "unique_proxy_open": "open",
    "click": "click",
    "hard_bounce": "bounce",
    "invalid_email": "bounce",
    "spam": "complaint",
    "complaint": "complaint",
    "unsubscribed": "unsubscribe",
    "unsubscribe": "unsubscribe",
}
PROXY_OPENS = frozenset({"proxy_open", "unique_proxy_open"})


def verify(body: bytes, headers: Headers, secrets: Secrets) -> None:
    signing.check_basic_auth(headers, signing.secret(secrets, "credentials", NAME), NAME)


def _time(record: dict[str, Any], index: int) -> tuple[Any, float]:
    if record.get("ts_epoch") is not None:
        return record["ts_epoch"], times.millis(record["ts_epoch"], index, "ts_epoch")
    for name in ("ts_event", "ts"):
        if record.get(name) is not None:
            return record[name], times.seconds(record[name], index, name)
    raise reading.payload_error("is missing", record=index, field="ts_event")


def _tags(tag: Any) -> Any:
    """Brevo's ``tag``: a JSON-encoded list of tags in its reference (``["a"]`` as text) or a
    plain tag; the list when it reads as one."""
    if isinstance(tag, str) and tag.startswith("["):
        try:
            listed = json.loads(tag)
        except ValueError:
            return tag
        return listed if isinstance(listed, list) else tag
    return tag


def parse(body: bytes, headers: Headers) -> list[Event]:
    events: list[Event] = []
    for index, record in enumerate(reading.as_list(reading.decode_json(body), "a Brevo event")):
        with normalize.one_record(NAME, index, record, events):
            kind = reading.need(record, "event", index)
            raw_time, ts = _time(record, index)
            recipient = record.get("email")
            message = ids.text_id(record.get("message-id"))
            url = record.get("link") or record.get("URL") or record.get("url")
            events.append(normalize.build(
                NAME, kind, record, types=TYPES, index=index,
                event_id=ids.stable_id(NAME, message, record.get("camp_id"), kind, raw_time,
                                        recipient, url),
                message_id=ids.key(message, recipient) if message else
                ids.key(f"campaign-{record.get('camp_id')}", recipient)
                if record.get("camp_id") is not None else None,
                timestamp=ts, recipient=recipient,
                campaign_id=ids.campaign_of(record.get("camp_id"), _tags(record.get("tag")),
                                             record.get("tags")),
                url=url, ip=record.get("ip"), user_agent=record.get("user_agent"),
                esp_flags={"proxy_open": True} if kind in PROXY_OPENS else None))
    return normalize.readable(normalize.number_repeats(events))


SETTINGS = (
    base.esp_setting(
        "brevo_credentials",
        "", "'user:password' of the Brevo webhook URL, or the bearer token configured with "
        "the webhook.", secret=True),
)


GUIDE = base.Guide(
    setup="In Brevo open **Transactional → Settings → Webhook** (or **Contacts → "
          "Settings → Webhooks** for marketing campaigns), add the URL below, and set "
          "either basic authentication (credentials in the URL) or a bearer token.",
    signature="Brevo does not sign webhooks. Set the credentials (`USER:PASSWORD`) or the "
              "bearer token in `brevo_credentials`; either form of the Authorization "
              "header is accepted and compared in constant time.",
    quirks=(
        "Opens Brevo attributes to a privacy proxy (`proxy_open`, `unique_proxy_open`) "
        "are opens with `esp_flags.proxy_open`, which the classifier treats as a "
        "privacy prefetch.",
        "`sending_ip` is Brevo's own sending address, not the reader's; Brevo reports no "
        "reader address, so opens are judged on user agent and timing.",
        "The time is `ts_epoch` (milliseconds) when present, else `ts_event`, else `ts`; "
        "`date` has no time zone and is not used.",
        "`soft_bounce`, `deferred`, `blocked` and `error` stay `unknown`.",
    ),
    docs=("https://developers.brevo.com/docs/transactional-webhooks",
          "https://developers.brevo.com/docs/marketing-webhooks"),
)


ADAPTER = base.Adapter(
    name=NAME, title="Brevo", types=TYPES, parse=parse, verify=verify,
    secrets={"credentials": "brevo_credentials"}, carries=("user_agent", "esp_flags"),
    guide=GUIDE, settings=SETTINGS)
