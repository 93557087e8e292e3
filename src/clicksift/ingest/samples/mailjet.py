"""Mailjet's format written from canonical events: the
inverse of :mod:`clicksift.ingest.mailjet`, for the demo, the accuracy benchmark, tests and
fixtures (never on the path of real traffic)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from clicksift.events import Event, EventType
from clicksift.ingest import ids, reading
from clicksift.ingest.mailjet import TYPES
from clicksift.ingest.samples import common


def render(events: Sequence[Event]) -> list[bytes]:
    records = []
    for event, name in common.reported(events, common.inverse(TYPES)):
        record: dict[str, Any] = {
            "event": name, "time": int(event.ts),
            "MessageID": ids.big_number(event.message_id), "Message_GUID": event.message_id,
            "email": event.recipient or "", "mj_campaign_id": 7257,
            "customcampaign": event.campaign_id or "", "mj_contact_id": 4,
            "CustomID": "", "Payload": ""}
        if event.type in (EventType.OPEN, EventType.CLICK):
            record.update({"ip": event.ip or "", "geo": "US", "agent": event.user_agent or ""})
        if event.type == EventType.CLICK:
            record["url"] = event.url or ""
        if event.type == EventType.BOUNCE:
            record.update({"hard_bounce": True, "blocked": False,
                           "error_related_to": "recipient", "error": "user unknown"})
        records.append(record)
    return [reading.json_body([r])[1:-1] for r in records]
