"""Braze's format written from canonical events: the
inverse of :mod:`clicksift.ingest.braze`, for the demo, the accuracy benchmark, tests and
fixtures (never on the path of real traffic)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from clicksift.events import Event, EventType, dumps
from clicksift.ingest import ids
from clicksift.ingest.braze import TYPES
from clicksift.ingest.samples import common


def render(events: Sequence[Event]) -> list[bytes]:
    """Simulated events as Currents JSON Lines (one record a line, flat)."""
    lines = []
    for event, name in common.reported(events, common.inverse(TYPES)):
        record: dict[str, Any] = {
            "event_type": name, "id": event.id[-24:], "time": int(event.ts),
            "user_id": ids.stable_id("u", event.recipient)[2:26],
            "email_address": event.recipient or "", "dispatch_id": event.message_id,
            "campaign_id": event.campaign_id, "timezone": "Europe/London"}
        if event.type in (EventType.OPEN, EventType.CLICK):
            record["user_agent"] = event.user_agent
        if event.type == EventType.OPEN:
            record["machine_open"] = "true" if common.apple_proxy(event) else None
        if event.type == EventType.CLICK:
            record.update(url=event.url, is_suspected_bot_click=None,
                          suspected_bot_click_reason=None)
        lines.append(dumps(record).encode("utf-8"))
    return lines
