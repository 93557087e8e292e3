"""Mailgun webhooks: one JSON object per event, ``{"signature": {...}, "event-data": {...}}``.

Signature: hex HMAC-SHA256 of ``timestamp + token`` with the account's HTTP webhook signing
key. The timestamp must be fresh; the token is single-use (a replay repeats the event's
stable id and is stored once).
Source: https://documentation.mailgun.com/docs/mailgun/user-manual/webhooks/securing-webhooks
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from clicksift.events import Event
from clicksift.ingest import base
from clicksift.ingest.base import Headers, Secrets

NAME = "mailgun"

#: Mailgun event -> canonical type; 'failed' with severity 'temporary' is not a bounce.
TYPES = {
    "accepted": "sent",
    "delivered": "delivered",
    "opened": "open",
    "clicked": "click",
    "unsubscribed": "unsubscribe",
    "complained": "complaint",
    "failed": "bounce",
}


def _signature(body: bytes) -> dict[str, Any]:
    block = base.dig(base.decode_json(body), "signature")
    if not isinstance(block, dict):
        raise base.SignatureError("the body has no 'signature' object")
    for name in ("timestamp", "token", "signature"):
        if not isinstance(block.get(name), str | int) or block.get(name) == "":
            raise base.SignatureError(f"signature.{name} is missing")
    return block


def verify(body: bytes, headers: Headers, secrets: Secrets, *, now: float | None = None) -> None:
    key = base.secret(secrets, "signing_key", NAME).encode("utf-8")
    try:
        block = _signature(body)
    except base.PayloadError as exc:
        raise base.SignatureError(f"cannot read the signature: {exc}") from None
    timestamp, token = str(block["timestamp"]), str(block["token"])
    base.check_fresh(timestamp, base.epoch_now() if now is None else now)
    expected = base.hmac_hex(key, (timestamp + token).encode("utf-8"))
    if not base.same(str(block["signature"]), expected):
        raise base.SignatureError("the HMAC signature does not match")


def signature_block(signing_key: str, timestamp: int, token: str) -> dict[str, str]:
    return {"timestamp": str(timestamp), "token": token,
            "signature": base.hmac_hex(signing_key.encode(), f"{timestamp}{token}".encode())}


def parse(body: bytes, headers: Headers) -> list[Event]:
    document = base.decode_json(body)
    records = base.as_list(document, "an object with event-data")
    events: list[Event] = []
    for index, wrapper in enumerate(records):
        with base.one_record(NAME, index, wrapper, events):
            data = base.need(wrapper, "event-data", index, dict)
            kind = base.need(data, "event", index)
            # A temporary failure is never a bounce.
            temporary = kind == "failed" and data.get("severity") != "permanent"
            recipient = data.get("recipient")
            message = base.text_id(base.dig(data, "message", "headers", "message-id"))
            variables = data.get("user-variables")
            bot = base.dig(data, "client-info", "bot")
            ts = base.seconds(base.need(data, "timestamp", index, (int, float, str)), index,
                              "timestamp")
            events.append(base.build(
                NAME, kind, wrapper, types=TYPES, index=index,
                canonical="unknown" if temporary else None,
                event_id=base.stable_id(NAME, data.get("id"), kind, ts, recipient),
                message_id=base.key(message, recipient) if message else None, timestamp=ts,
                recipient=recipient,
                campaign_id=base.metadata_campaign(variables) or base.campaign_of(
                    [c.get("id") for c in data.get("campaigns") or [] if isinstance(c, dict)],
                    data.get("tags")),
                url=data.get("url"), ip=data.get("ip"),
                user_agent=base.dig(data, "client-info", "user-agent"),
                esp_flags={"bot": bot} if bot else None))
    return base.readable(base.number_repeats(events))


def render(events: Sequence[Event], signing_key: str = "key-demo") -> list[bytes]:
    bodies = []
    for event, name in base.reported(events, base.inverse(TYPES)):
        data: dict[str, Any] = {
            "event": name, "timestamp": round(event.ts, 6), "id": event.id[-22:],
            "recipient": event.recipient or "", "log-level": "info",
            "message": {"headers": {"message-id": event.message_id}},
            "user-variables": {"campaign_id": event.campaign_id} if event.campaign_id else {},
            "tags": []}
        if event.type == "bounce":
            data["severity"] = "permanent"
        if event.type in ("open", "click", "unsubscribe"):
            data["ip"] = event.ip or ""
            data["client-info"] = {"user-agent": event.user_agent or ""}
            if event.type == "open" and base.apple_proxy(event):
                data["client-info"]["bot"] = "apple"
        if event.type == "click":
            data["url"] = event.url or ""
        token = base.stable_id("t", event.id)[2:]
        body = {"signature": signature_block(signing_key, int(event.ts), token),
                "event-data": data}
        bodies.append(base.json_body([body])[1:-1])
    return bodies


ADAPTER = base.Adapter(
    name=NAME, title="Mailgun", types=TYPES, parse=parse, render=render, verify=verify,
    secrets={"signing_key": "mailgun_signing_key"},
    carries=("ip", "user_agent", "esp_flags"))
