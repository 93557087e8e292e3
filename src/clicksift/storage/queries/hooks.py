"""Outbound webhooks and their outbox (``clicksift.protect.outbound``)."""

from __future__ import annotations

from typing import Any, NamedTuple

HOOK_COLUMNS = "id, url, secret, events, humans_only, created_at, cursor, active"
LAST_SEQ = "SELECT COALESCE(MAX(seq), 0) FROM events"
INSERT_HOOK = f"INSERT INTO hooks ({HOOK_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, 1)"
HOOK = f"SELECT {HOOK_COLUMNS} FROM hooks WHERE id = ?"
#: {where}: empty, or "WHERE active = 1".
HOOKS = f"SELECT {HOOK_COLUMNS} FROM hooks {{where}} ORDER BY created_at"
ONLY_ACTIVE = "WHERE active = 1"
DEACTIVATE_HOOK = "UPDATE hooks SET active = 0 WHERE id = ?"
DROP_PENDING = "DELETE FROM outbox WHERE hook_id = ? AND status = 'pending'"
MOVE_CURSOR = "UPDATE hooks SET cursor = ? WHERE id = ? AND cursor < ?"

DELIVERY_COUNTS = """
SELECT hook_id, status, COUNT(*) AS deliveries FROM outbox GROUP BY hook_id, status"""
#: {where}: from :func:`deliveries_where`; {limit}: an integer.
DELIVERIES = """
SELECT seq, hook_id, event_id, status, attempts, created_at, due_at, delivered_at, last_error
FROM outbox {where} ORDER BY seq DESC LIMIT {limit}"""
RETRY = """
UPDATE outbox SET status = 'pending', due_at = ?, attempts = 0
WHERE seq = ? AND status = 'failed'"""

EVENTS_AFTER = """
SELECT seq, data, campaign_id, recipient, received_at FROM events
WHERE seq > ? ORDER BY seq LIMIT ?"""
QUEUE = """
INSERT INTO outbox (hook_id, event_id, body, created_at, due_at, attempts, status)
VALUES (?, ?, ?, ?, ?, 0, 'pending')
ON CONFLICT (hook_id, event_id) DO NOTHING"""
DUE = """
SELECT o.seq, o.body, o.attempts, h.url, h.secret, o.event_id
FROM outbox o JOIN hooks h ON h.id = o.hook_id
WHERE o.status = 'pending' AND o.due_at <= ? AND h.active = 1
ORDER BY o.due_at LIMIT 100"""
CLAIM = "UPDATE outbox SET due_at = ? WHERE seq = ? AND status = 'pending' AND due_at <= ?"
DELIVERED = """
UPDATE outbox SET status = 'delivered', attempts = ?, delivered_at = ?, last_error = NULL
WHERE seq = ?"""
FAILED = "UPDATE outbox SET status = 'failed', attempts = ?, last_error = ? WHERE seq = ?"
RETRY_LATER = "UPDATE outbox SET attempts = ?, last_error = ?, due_at = ? WHERE seq = ?"


class HookRow(NamedTuple):
    id: str
    url: str
    secret: str
    events: str          # a JSON list
    humans_only: int
    created_at: float
    cursor: int
    active: int


class DeliveryCount(NamedTuple):
    hook_id: str
    status: str
    deliveries: int


class EventAfter(NamedTuple):
    seq: int
    data: str
    campaign_id: str | None
    recipient: str | None
    received_at: float


class Due(NamedTuple):
    seq: int
    body: str
    attempts: int
    url: str
    secret: str
    event_id: str


def deliveries_where(hook_id: str | None, status: str | None) -> tuple[str, list[Any]]:
    """The WHERE clause (empty, or on the hook and the status) of DELIVERIES."""
    conditions, params = [], []
    if hook_id:
        conditions.append("hook_id = ?")
        params.append(hook_id)
    if status:
        conditions.append("status = ?")
        params.append(status)
    return ("WHERE " + " AND ".join(conditions)) if conditions else "", params
