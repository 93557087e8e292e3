"""Resend's format written from canonical events, signed as Resend signs: the
inverse of :mod:`clicksift.ingest.resend`, for the demo, the accuracy benchmark, tests and
fixtures (never on the path of real traffic)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from clicksift.events import Event, EventType
from clicksift.ingest.resend import TYPES, signature
from clicksift.ingest.samples import common


def render(events: Sequence[Event]) -> list[bytes]:
    bodies = []
    for event, name in common.reported(events, common.inverse(TYPES)):
        data: dict[str, Any] = {
            "created_at": common.iso(event.ts, 3), "email_id": event.message_id,
            "from": "News <news@example.com>", "to": [event.recipient or ""],
            "subject": "News", "tags": {"campaign": event.campaign_id}
            if event.campaign_id else {}}
        if event.type == EventType.CLICK:
            data["click"] = {"ipAddress": event.ip or "", "link": event.url or "",
                             "timestamp": common.iso(event.ts, 3),
                             "userAgent": event.user_agent or ""}
        if event.type == EventType.BOUNCE:
            data["bounce"] = {"message": "user unknown", "subType": "General",
                              "type": "Permanent"}
        record = {"type": name, "created_at": common.iso(event.ts, 3),
                  "data": data}
        bodies.append(json.dumps(record).encode())
    return bodies


def sign(secret: str, svix_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {"svix-id": svix_id, "svix-timestamp": str(timestamp),
            "svix-signature": signature(secret, svix_id, str(timestamp), body)}
