"""Mandrill's format written from canonical events: the
inverse of :mod:`clicksift.ingest.mandrill`, for the demo, the accuracy benchmark, tests and
fixtures (never on the path of real traffic)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import urlencode

from clicksift.events import Event, EventType
from clicksift.ingest import reading
from clicksift.ingest.mandrill import TYPES
from clicksift.ingest.samples import common


def render(events: Sequence[Event]) -> list[bytes]:
    records = []
    for event, name in common.reported(events, common.inverse(TYPES)):
        record: dict[str, Any] = {
            "event": name, "_id": event.message_id, "ts": int(event.ts),
            "msg": {"_id": event.message_id, "email": event.recipient or "",
                    "ts": int(event.ts), "state": "sent", "sender": "news@example.com",
                    "subject": "News", "tags": [], "opens": [], "clicks": [],
                    "metadata": {"campaign_id": event.campaign_id} if event.campaign_id
                    else {}}}
        if event.type in (EventType.OPEN, EventType.CLICK):
            record.update({"ip": event.ip or "", "user_agent": event.user_agent or "",
                           "location": None, "user_agent_parsed": None})
        if event.type == EventType.CLICK:
            record["url"] = event.url or ""
        records.append(record)
    return [urlencode({"mandrill_events": reading.json_body(batch).decode()}).encode()
            for batch in common.chunks(records, 500)]
