"""Resend webhooks, delivered and signed by Svix: one JSON object per event.

Signature: ``svix-signature`` holds space-separated ``v1,<base64>`` entries, each an
HMAC-SHA256 of ``svix-id.svix-timestamp.body`` keyed with the base64 part of the signing
secret (``whsec_...``). The timestamp must be within five minutes.
Sources: https://resend.com/docs/dashboard/webhooks/verify-webhooks-requests
https://docs.svix.com/receiving/verifying-payloads/how-manual
"""

from __future__ import annotations

import base64
from typing import Any

from clicksift.events import Event
from clicksift.ingest import base, errors, ids, normalize, reading, signing, times
from clicksift.ingest.base import Headers, Secrets

NAME = "resend"

#: 'email.delivery_delayed' and 'email.failed' are not bounces; contact and domain events
#: stay 'unknown'.
TYPES = {
    "email.sent": "sent",
    "email.delivered": "delivered",
    "email.opened": "open",
    "email.clicked": "click",
    "email.bounced": "bounce",
    "email.complained": "complaint",
}


def _key(secret: str) -> bytes:
    text = secret.removeprefix("whsec_")
    try:
        return base64.b64decode(text, validate=True)
    except ValueError:
        raise errors.SignatureError("the configured Resend signing secret is not whsec_ and "
                                  "base64") from None


def signature(secret: str, svix_id: str, timestamp: str, body: bytes) -> str:
    return "v1," + signing.hmac_b64(_key(secret), f"{svix_id}.{timestamp}.".encode() + body)


def verify(body: bytes, headers: Headers, secrets: Secrets, *, now: float | None = None) -> None:
    secret = signing.secret(secrets, "signing_secret", NAME)
    svix_id = signing.header(headers, "svix-id")
    timestamp = signing.header(headers, "svix-timestamp")
    given = signing.header(headers, "svix-signature")
    times.check_fresh(timestamp, times.epoch_now() if now is None else now)
    expected = signature(secret, svix_id, timestamp, body)
    if not any(signing.same(entry, expected) for entry in given.split()):
        raise errors.SignatureError("no svix-signature entry matches the body")


def _campaign(data: dict[str, Any]) -> str | None:
    tags = data.get("tags")
    if isinstance(tags, list):
        tags = {t.get("name"): t.get("value") for t in tags if isinstance(t, dict)}
    return ids.campaign_of(data.get("broadcast_id")) or ids.metadata_campaign(tags)


def parse(body: bytes, headers: Headers) -> list[Event]:
    events: list[Event] = []
    for index, record in enumerate(reading.as_list(reading.decode_json(body), "a Resend event")):
        with normalize.one_record(NAME, index, record, events):
            kind = reading.need(record, "type", index)
            data = reading.obj(record.get("data"))
            click = reading.obj(data.get("click"))
            raw_time = click.get("timestamp") or reading.need(record, "created_at", index)
            canonical = None
            if kind == "email.bounced" and reading.dig(data, "bounce", "type") not in (None,
                                                                                   "Permanent"):
                canonical = "unknown"
            to = data.get("to")
            recipient = to[0] if isinstance(to, list) and len(to) == 1 else \
                to if isinstance(to, str) else None
            message = ids.text_id(data.get("email_id"))
            events.append(normalize.build(
                NAME, kind, record, types=TYPES, index=index, canonical=canonical,
                event_id=ids.stable_id(NAME, message, kind, raw_time, click.get("link")),
                message_id=message, timestamp=times.instant(raw_time, index, "created_at"),
                recipient=recipient, campaign_id=_campaign(data), url=click.get("link"),
                ip=click.get("ipAddress"), user_agent=click.get("userAgent")))
    return normalize.readable(normalize.number_repeats(events))


SETTINGS = (
    base.esp_setting(
        "resend_signing_secret",
        "", "Resend webhook signing secret (whsec_...).", secret=True),
)


GUIDE = base.Guide(
    setup="In Resend open **Webhooks → Add endpoint**, enter the URL below and choose the "
          "`email.*` events.",
    signature="Resend delivers webhooks through Svix: `svix-signature` holds `v1,<base64>` "
              "entries, each the HMAC-SHA256 of `svix-id.svix-timestamp.body` keyed with "
              "the base64 part of the endpoint's signing secret. Put the secret "
              "(`whsec_...`) in `resend_signing_secret`. Timestamps more than 5 minutes "
              "from the server's clock are refused.",
    quirks=(
        "Opens carry no address and no user agent: they are judged on timing alone "
        "(see the per-ESP accuracy in docs/benchmarks.md).",
        "A send to several addressees cannot say which one opened or clicked; the "
        "recipient is known only when `to` has one address.",
        "A click's time is `click.timestamp`; other events use the event's `created_at` "
        "(the email's own `created_at` is its send time).",
        "`email.delivery_delayed` and `email.failed` stay `unknown`; `email.bounced` is a "
        "bounce when its type is Permanent.",
    ),
    docs=("https://resend.com/docs/dashboard/webhooks/event-types",
          "https://resend.com/docs/dashboard/webhooks/verify-webhooks-requests",
          "https://docs.svix.com/receiving/verifying-payloads/how-manual"),
)


ADAPTER = base.Adapter(
    name=NAME, title="Resend", types=TYPES, parse=parse, verify=verify,
    secrets={"signing_secret": "resend_signing_secret"}, carries=("ip", "user_agent"),
    guide=GUIDE, settings=SETTINGS)
