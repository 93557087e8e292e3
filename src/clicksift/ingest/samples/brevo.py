"""Brevo's format written from canonical events: the
inverse of :mod:`clicksift.ingest.brevo`, for the demo, the accuracy benchmark, tests and
fixtures (never on the path of real traffic)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from clicksift.events import Event, EventType
from clicksift.ingest.samples import common


def render(events: Sequence[Event]) -> list[bytes]:
    reverse = {"sent": "request", "delivered": "delivered", "open": "opened",
               "click": "click", "bounce": "hard_bounce", "complaint": "spam",
               "unsubscribe": "unsubscribed"}
    bodies = []
    for event, kind in common.reported(events, reverse):
        if event.type == EventType.OPEN and common.apple_proxy(event):
            kind = "proxy_open"
        record: dict[str, Any] = {
            "event": kind, "email": event.recipient or "", "id": 1234567,
            "date": "", "ts": int(event.ts), "message-id": f"<{event.message_id}@example.com>",
            "ts_event": int(event.ts), "subject": "News", "tag": event.campaign_id or "",
            "sending_ip": "185.41.28.109", "ts_epoch": int(event.ts * 1000),
            "tags": [event.campaign_id] if event.campaign_id else []}
        if event.type in (EventType.OPEN, EventType.CLICK):
            record["user_agent"] = event.user_agent or ""
        if event.type == EventType.CLICK:
            record["link"] = event.url or ""
        bodies.append(json.dumps(record).encode())
    return bodies
