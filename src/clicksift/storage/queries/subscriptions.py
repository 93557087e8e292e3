"""Subscriptions, suppressions, their log and the held unsubscribes
(``clicksift.protect.subscriptions``)."""

from __future__ import annotations

from typing import NamedTuple

STATES = """
SELECT topic, state, paused_until, frequency, updated_at FROM subscriptions
WHERE recipient = ?"""
SUPPRESSION_REASON = "SELECT reason FROM suppressions WHERE recipient IN (?, ?)"
SET_STATE = """
INSERT INTO subscriptions (recipient, topic, state, paused_until, frequency, updated_at)
VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT (recipient, topic) DO UPDATE SET
    state = excluded.state, paused_until = excluded.paused_until,
    frequency = COALESCE(excluded.frequency, subscriptions.frequency),
    updated_at = excluded.updated_at"""
INSERT_LOG = """
INSERT INTO subscription_log (recipient, topic, change, outcome, at, event_id, verdict, score,
                              actor, detail)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"""
UNSUPPRESS = "DELETE FROM suppressions WHERE recipient IN (?, ?)"

HOLD = """
INSERT INTO unsubscribe_reviews (event_id, recipient, message_id, request, judgement,
                                 created_at, status)
VALUES (?, ?, ?, ?, ?, ?, 'held')
ON CONFLICT (event_id) DO NOTHING"""
REVIEW_COLUMNS = """event_id, recipient, message_id, request, judgement, created_at, status,
       decided_at, decided_by"""
#: {where}: empty, or "WHERE status = ?"; {limit}: an integer.
REVIEWS = f"""
SELECT {REVIEW_COLUMNS} FROM unsubscribe_reviews {{where}}
ORDER BY created_at DESC LIMIT {{limit}}"""
WITH_STATUS = "WHERE status = ?"
REVIEW = f"SELECT {REVIEW_COLUMNS} FROM unsubscribe_reviews WHERE event_id = ?"
DECIDE = """
UPDATE unsubscribe_reviews SET status = ?, decided_at = ?, decided_by = ? WHERE event_id = ?"""
CONFIRM_HELD = """
UPDATE unsubscribe_reviews SET status = 'confirmed', decided_at = ?, decided_by = 'recipient'
WHERE recipient = ? AND status = 'held'"""

HISTORY = """
SELECT at, topic, change, outcome, actor, event_id, verdict, score, detail
FROM subscription_log WHERE recipient = ? ORDER BY seq"""
CHANGED_RECIPIENTS = """
SELECT DISTINCT recipient FROM subscriptions UNION
SELECT recipient FROM suppressions ORDER BY 1"""
UNSUBSCRIBED_FROM_ALL = """
SELECT recipient, updated_at FROM subscriptions WHERE topic = '' AND state = ?"""
SUPPRESSIONS = "SELECT recipient, reason, at, detail FROM suppressions"
SUPPRESS = """
INSERT INTO suppressions (recipient, reason, at, detail) VALUES (?, ?, ?, ?)
ON CONFLICT (recipient) DO NOTHING"""


class StateRow(NamedTuple):
    topic: str
    state: str
    paused_until: float | None
    frequency: str | None
    updated_at: float


class ReviewRow(NamedTuple):
    event_id: str
    recipient: str
    message_id: str | None
    request: str          # a Change as JSON
    judgement: str        # JSON
    created_at: float
    status: str
    decided_at: float | None
    decided_by: str | None


class UnsubscribedRow(NamedTuple):
    recipient: str
    updated_at: float

LOGGED_EVENT = "SELECT 1 FROM subscription_log WHERE event_id = ?"
