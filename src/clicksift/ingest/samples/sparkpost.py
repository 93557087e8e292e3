"""SparkPost's format written from canonical events: the
inverse of :mod:`clicksift.ingest.sparkpost`, for the demo, the accuracy benchmark, tests and
fixtures (never on the path of real traffic)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from clicksift.events import Event
from clicksift.ingest import ids, reading
from clicksift.ingest.samples import common


def render(events: Sequence[Event]) -> list[bytes]:
    reverse = {"sent": ("message_event", "injection"),
               "delivered": ("message_event", "delivery"),
               "open": ("track_event", "open"), "click": ("track_event", "click"),
               "bounce": ("message_event", "bounce"),
               "complaint": ("message_event", "spam_complaint"),
               "unsubscribe": ("unsubscribe_event", "list_unsubscribe")}
    records = []
    for event, (group, kind) in common.reported(events, reverse):
        record: dict[str, Any] = {
            "type": kind, "event_id": str(ids.big_number(event.id)),
            "timestamp": str(int(event.ts)), "message_id": event.message_id,
            "rcpt_to": event.recipient or "", "campaign_id": event.campaign_id or "",
            "transmission_id": "65832150921904138", "friendly_from": "news@example.com"}
        if kind == "bounce":
            record["bounce_class"] = "10"
        if group == "track_event":
            record.update({"ip_address": event.ip or "", "user_agent": event.user_agent or ""})
        if kind == "click":
            record["target_link_url"] = event.url or ""
        records.append({"msys": {group: record}})
    return [reading.json_body(batch) for batch in common.chunks(records, 500)]
