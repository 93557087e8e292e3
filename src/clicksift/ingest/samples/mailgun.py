"""Mailgun's format written from canonical events, signed as Mailgun signs: the
inverse of :mod:`clicksift.ingest.mailgun`, for the demo, the accuracy benchmark, tests and
fixtures (never on the path of real traffic)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from clicksift.events import Event, EventType
from clicksift.ingest import ids, reading, signing
from clicksift.ingest.mailgun import TYPES
from clicksift.ingest.samples import common


def render(events: Sequence[Event], signing_key: str = "key-demo") -> list[bytes]:
    bodies = []
    for event, name in common.reported(events, common.inverse(TYPES)):
        data: dict[str, Any] = {
            "event": name, "timestamp": round(event.ts, 6), "id": event.id[-22:],
            "recipient": event.recipient or "", "log-level": "info",
            "message": {"headers": {"message-id": event.message_id}},
            "user-variables": {"campaign_id": event.campaign_id} if event.campaign_id else {},
            "tags": []}
        if event.type == EventType.BOUNCE:
            data["severity"] = "permanent"
        if event.type in (EventType.OPEN, EventType.CLICK, EventType.UNSUBSCRIBE):
            data["ip"] = event.ip or ""
            data["client-info"] = {"user-agent": event.user_agent or ""}
            if event.type == EventType.OPEN and common.apple_proxy(event):
                data["client-info"]["bot"] = "apple"
        if event.type == EventType.CLICK:
            data["url"] = event.url or ""
        token = ids.stable_id("t", event.id)[2:]
        body = {"signature": signature_block(signing_key, int(event.ts), token),
                "event-data": data}
        bodies.append(reading.json_body([body])[1:-1])
    return bodies


def signature_block(signing_key: str, timestamp: int, token: str) -> dict[str, str]:
    return {"timestamp": str(timestamp), "token": token,
            "signature": signing.hmac_hex(signing_key.encode(), f"{timestamp}{token}".encode())}
