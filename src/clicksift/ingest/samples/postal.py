"""Postal's format written from canonical events, signed as Postal signs: the
inverse of :mod:`clicksift.ingest.postal`, for the demo, the accuracy benchmark, tests and
fixtures (never on the path of real traffic)."""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from clicksift.events import Event, EventType
from clicksift.ingest import ids
from clicksift.ingest.postal import SIGNATURE_256
from clicksift.ingest.samples import common


def render(events: Sequence[Event]) -> list[bytes]:
    reverse = {"delivered": "MessageSent", "open": "MessageLoaded",
               "click": "MessageLinkClicked", "bounce": "MessageDeliveryFailed"}
    bodies = []
    for event, name in common.reported(events, reverse):
        message = {"id": ids.big_number(event.message_id, 40) - (1 << 53),
                   "token": event.message_id[-12:], "direction": "outgoing",
                   "message_id": f"{event.message_id}@example.com",
                   "to": event.recipient or "", "from": "news@example.com",
                   "subject": "News", "timestamp": round(event.ts, 5),
                   "spam_status": "NotChecked", "tag": event.campaign_id}
        payload: dict[str, Any] = {"message": message}
        if event.type == EventType.DELIVERED:
            payload.update({"status": "Sent", "details": "Message accepted", "output": "250 OK",
                            "sent_with_ssl": True, "timestamp": round(event.ts, 5), "time": 0.2})
        if event.type == EventType.BOUNCE:
            payload.update({"status": "HardFail", "details": "550 user unknown",
                            "timestamp": round(event.ts, 5)})
        if event.type in (EventType.OPEN, EventType.CLICK):
            payload.update({"ip_address": event.ip or "", "user_agent": event.user_agent or ""})
        if event.type == EventType.CLICK:
            payload.update({"url": event.url or "", "token": "VJzsFA0S"})
        record = {"event": name, "timestamp": round(event.ts, 5),
                  "uuid": event.id, "payload": payload}
        bodies.append(json.dumps(record).encode())
    return bodies


def sign(body: bytes, private_key: rsa.RSAPrivateKey) -> dict[str, str]:
    signature = private_key.sign(body, padding.PKCS1v15(), hashes.SHA256())
    return {SIGNATURE_256: base64.b64encode(signature).decode()}
