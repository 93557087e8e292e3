"""Who to stop mailing (``clicksift.protect.sunset``)."""

from __future__ import annotations

from typing import NamedTuple

MESSAGES = "SELECT id, recipient, sent_at FROM messages WHERE recipient IS NOT NULL"
NOT_MAILED = """
SELECT recipient FROM subscriptions WHERE topic = '' AND state = 'unsubscribed'
UNION SELECT recipient FROM suppressions"""
#: {marks}: one ? per message id.
ENGAGEMENT = """
SELECT e.message_id, e.type, e.ts, v.verdict, v.score
FROM events e LEFT JOIN verdicts v ON v.event_id = e.id
WHERE e.message_id IN ({marks}) AND e.type IN ('open', 'click', 'conversion')
  AND (e.link_kind IS NULL OR e.link_kind = 'content') AND e.ts >= ?"""


class MessageRow(NamedTuple):
    id: str
    recipient: str
    sent_at: float | None


class Engagement(NamedTuple):
    message_id: str
    type: str
    ts: float
    verdict: str | None
    score: float | None
