"""Stored events with their verdicts, filtered and paged (``clicksift.reports.explorer``)."""

from __future__ import annotations

from typing import Any, NamedTuple

COLUMNS = """e.seq, e.id, e.type, e.ts, e.message_id, e.campaign_id, e.recipient,
    e.link_index, e.link_kind, e.data, e.source, v.verdict, v.score, v.kind, v.vendor, v.final,
    v.engine_version, v.reasons"""
_JOINED = f"SELECT {COLUMNS} FROM events e LEFT JOIN verdicts v ON v.event_id = e.id"
#: {where}: from :func:`where`.
PAGE = _JOINED + " WHERE {where} ORDER BY e.seq LIMIT ? OFFSET ?"
AFTER = _JOINED + " WHERE {where} AND e.seq > ? ORDER BY e.seq LIMIT ?"
OF_MESSAGE = _JOINED + " WHERE e.message_id = ? ORDER BY e.ts, e.seq"
CAMPAIGN_HAS_EVENTS = "SELECT 1 FROM events WHERE campaign_id = ? LIMIT 1"


class EventWithVerdict(NamedTuple):
    seq: int
    id: str
    type: str
    ts: float
    message_id: str
    campaign_id: str | None
    recipient: str | None
    link_index: int | None
    link_kind: str | None
    data: str
    source: str | None
    verdict: str | None
    score: float | None
    kind: str | None
    vendor: str | None
    final: int | None
    engine_version: str | None
    reasons: str | None


def where(dialect: str, *, campaign: str | None = None, message: str | None = None,
          recipient: str | None = None, domain: str | None = None, type: str | None = None,
          verdict: str | None = None, kind: str | None = None, vendor: str | None = None,
          rule: str | None = None, since: float | None = None, until: float | None = None
          ) -> tuple[str, list[Any]]:
    """The WHERE clause (and its parameters) of the explorer's filters; VERDICT "pending"
    means engagement events without a verdict."""
    clauses: list[str] = ["1 = 1"]
    params: list[Any] = []
    for column, value in (("e.campaign_id", campaign), ("e.message_id", message),
                          ("e.recipient", recipient), ("e.type", type),
                          ("v.kind", kind), ("v.vendor", vendor)):
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(value)
    if domain is not None:
        clauses.append("LOWER(e.recipient) LIKE ?")
        params.append("%@" + domain.lower().replace("%", "").replace("_", "\\_"))
        if dialect == "sqlite":
            clauses[-1] += " ESCAPE '\\'"
    if verdict == "pending":
        clauses.append("v.verdict IS NULL AND e.type IN ('open', 'click', 'unsubscribe')")
    elif verdict is not None:
        clauses.append("v.verdict = ?")
        params.append(verdict)
    if rule is not None:
        clauses.append("v.reasons LIKE ?")
        params.append(f'%"rule":"{rule}"%')
    if since is not None:
        clauses.append("e.ts >= ?")
        params.append(since)
    if until is not None:
        clauses.append("e.ts < ?")
        params.append(until)
    return " AND ".join(clauses), params
