"""Klaviyo's format written from canonical events: the
inverse of :mod:`clicksift.ingest.klaviyo`, for the demo, the accuracy benchmark, tests and
fixtures (never on the path of real traffic)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from clicksift.events import Event, EventType, dumps
from clicksift.ingest import ids
from clicksift.ingest.klaviyo import TYPES
from clicksift.ingest.samples import common


def render(events: Sequence[Event]) -> list[bytes]:
    """Simulated events as Events API pages (one page a line, one event a page)."""
    pages = []
    for event, name in common.reported(events, common.inverse(TYPES)):
        metric_id, profile_id = ids.stable_id("m", name)[2:8], ids.stable_id(
            "p", event.recipient)[2:28]
        properties: dict[str, Any] = {"$message": event.campaign_id or event.message_id,
                                      "Subject": "News"}
        if event.type == EventType.CLICK:
            properties.update({"URL": event.url, "Bot Click": False})
        if event.type == EventType.OPEN:
            properties["Apple Privacy Open"] = common.apple_proxy(event)
        pages.append(dumps({
            "data": [{"type": "event", "id": event.id[-26:], "attributes": {
                "timestamp": int(event.ts), "event_properties": properties,
                "datetime": common.iso(event.ts, 0)},
                "relationships": {"metric": {"data": {"type": "metric", "id": metric_id}},
                                  "profile": {"data": {"type": "profile", "id": profile_id}}}}],
            "included": [{"type": "metric", "id": metric_id, "attributes": {"name": name}},
                         {"type": "profile", "id": profile_id,
                          "attributes": {"email": event.recipient}}]}).encode("utf-8"))
    return pages
