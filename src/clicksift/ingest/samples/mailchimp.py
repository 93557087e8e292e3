"""Mailchimp's format written from canonical events: the
inverse of :mod:`clicksift.ingest.mailchimp`, for the demo, the accuracy benchmark, tests and
fixtures (never on the path of real traffic)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from clicksift.events import Event, EventType
from clicksift.ingest.mailchimp import TYPES
from clicksift.ingest.samples import common


def render(events: Sequence[Event]) -> list[bytes]:
    campaigns: dict[str | None, dict[str, dict[str, Any]]] = {}
    for event, _ in common.reported(events, common.inverse(TYPES)):
        members = campaigns.setdefault(event.campaign_id, {})
        member = members.setdefault(event.message_id, {
            "campaign_id": event.campaign_id or "", "list_id": "1a2b3c4d5e",
            "list_is_active": True, "email_id": event.message_id,
            "email_address": event.recipient or "", "activity": []})
        action: dict[str, Any] = {"action": event.type, "timestamp": common.iso(event.ts, 0)}
        if event.type == EventType.BOUNCE:
            action["type"] = "hard"
        if event.type == EventType.CLICK:
            action["url"] = event.url or ""
        if event.type in (EventType.OPEN, EventType.CLICK):
            action["ip"] = event.ip or ""
        member["activity"].append(action)
    return [json.dumps({"emails": list(members.values()), "campaign_id": campaign or "",
                        "total_items": len(members)}).encode()
            for campaign, members in campaigns.items()]
