"""Constant Contact's format written from canonical events: the
inverse of :mod:`clicksift.ingest.constant_contact`, for the demo, the accuracy benchmark, tests and
fixtures (never on the path of real traffic)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from clicksift.events import Event
from clicksift.ingest.constant_contact import TYPES
from clicksift.ingest.samples import common


def render(events: Sequence[Event]) -> list[bytes]:
    reverse = common.inverse(TYPES)
    reverse["delivered"] = "em_sends"            # Constant Contact reports sends only
    by_type: dict[str, list[dict[str, Any]]] = {}
    for event, kind in common.reported(events, reverse):
        record: dict[str, Any] = {
            "contact_id": event.message_id, "campaign_activity_id": event.campaign_id or "",
            "tracking_activity_type": kind, "email_address": event.recipient or "",
            "first_name": "", "last_name": "", "created_time": common.iso(event.ts, 3)}
        if kind == "em_opens":
            record["device_type"] = "computer"
        if kind == "em_clicks":
            record.update({"link_url": event.url or "", "url_id": "1"})
        if kind == "em_bounces":
            record["bounce_code"] = "B"
        by_type.setdefault(kind, []).append(record)
    return [json.dumps({"tracking_activities": records, "_links": {}}).encode()
            for records in by_type.values()]
