"""Postmark's format written from canonical events: the
inverse of :mod:`clicksift.ingest.postmark`, for the demo, the accuracy benchmark, tests and
fixtures (never on the path of real traffic)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from clicksift.events import Event
from clicksift.ingest import reading
from clicksift.ingest.postmark import TIME_FIELDS, TYPES
from clicksift.ingest.samples import common


def render(events: Sequence[Event]) -> list[bytes]:
    bodies = []
    for event, kind in common.reported(events, common.inverse(TYPES)):
        record: dict[str, Any] = {"RecordType": kind, "MessageStream": "broadcast",
                                  "MessageID": event.message_id, "ServerID": 23,
                                  "Metadata": {}, "Tag": event.campaign_id or ""}
        record["Email" if kind in ("Bounce", "SpamComplaint") else "Recipient"] = \
            event.recipient or ""
        record[TIME_FIELDS[kind]] = common.iso(event.ts, 7)
        if kind == "Bounce":
            record.update({"Type": "HardBounce", "TypeCode": 1, "ID": 4323372036854775807})
        if kind == "SubscriptionChange":
            record.update({"SuppressSending": True, "SuppressionReason": "ManualSuppression",
                           "Origin": "Recipient"})
        if kind in ("Open", "Click"):
            record["UserAgent"] = event.user_agent or ""
            record["Geo"] = {"IP": event.ip} if event.ip else {}
        if kind == "Open":
            record.update({"FirstOpen": True, "ReadSeconds": 0})
        if kind == "Click":
            record.update({"OriginalLink": event.url or "", "ClickLocation": "HTML"})
        bodies.append(reading.json_body([record])[1:-1])
    return bodies
