"""Conversions and the clicks they follow (``clicksift.protect.conversions``, the demo)."""

from __future__ import annotations

from typing import NamedTuple

CLICK = "SELECT data, campaign_id, recipient FROM events WHERE id = ? AND type = 'click'"
#: People's clicks on content links through the tracker, oldest first (the demo's shop).
PEOPLES_TRACKED_CLICKS = """
SELECT e.id FROM events e JOIN verdicts v ON v.event_id = e.id
WHERE e.type = 'click' AND e.link_kind = 'content' AND v.verdict = 'human'
  AND e.source = 'tracker'
ORDER BY e.seq LIMIT ?"""


class ClickRow(NamedTuple):
    data: str
    campaign_id: str | None
    recipient: str | None
