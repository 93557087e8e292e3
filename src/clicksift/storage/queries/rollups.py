"""Report rollups: cells per campaign, a summary per message, messages to count again
(``clicksift.reports.rollup`` writes them, ``clicksift.reports.compute`` reads them)."""

from __future__ import annotations

from typing import NamedTuple

UPSERT_SUMMARY = """
INSERT INTO rollup_messages (message_id, campaign_id, summary) VALUES (?, ?, ?)
ON CONFLICT (message_id) DO UPDATE SET campaign_id = excluded.campaign_id,
                                       summary = excluded.summary"""
DELETE_SUMMARY = "DELETE FROM rollup_messages WHERE message_id = ?"
#: {marks}: one ? per message id.
SUMMARIES = "SELECT message_id, summary FROM rollup_messages WHERE message_id IN ({marks})"
ADD_CELL = """
INSERT INTO rollup_cells (campaign_id, dim, key, metric, n) VALUES (?, ?, ?, ?, ?)
ON CONFLICT (campaign_id, dim, key, metric) DO UPDATE SET n = rollup_cells.n + excluded.n"""
MARK_ARCHIVED_DIRTY = """
INSERT INTO rollup_dirty (message_id, marked_at) SELECT message_id, ? FROM archived_messages
WHERE true ON CONFLICT (message_id) DO NOTHING"""
MARK_DIRTY = """
INSERT INTO rollup_dirty (message_id, marked_at) VALUES (?, ?)
ON CONFLICT (message_id) DO UPDATE SET marked_at = excluded.marked_at"""
DIRTY = "SELECT message_id, marked_at FROM rollup_dirty"
#: A message marked again while it was being counted keeps its mark.
CLEAR_DIRTY = "DELETE FROM rollup_dirty WHERE message_id = ? AND marked_at <= ?"
#: The rollups' tables, emptied when their meaning changes.
CLEAR = ("DELETE FROM rollup_cells", "DELETE FROM rollup_messages", "DELETE FROM rollup_dirty")
#: Serialises writers of the cells on PostgreSQL (one transaction-scoped advisory lock).
LOCK_CELLS = "SELECT pg_advisory_xact_lock(?)"

MAX_SEQ = "SELECT MAX(seq) FROM events"
MESSAGES_BETWEEN = "SELECT DISTINCT message_id FROM events WHERE seq > ? AND seq <= ?"
#: {marks}: one ? per message id.
MESSAGES_AFTER = """
SELECT DISTINCT message_id FROM events WHERE message_id IN ({marks}) AND seq > ?"""
#: {marks}: one ? per message id; the others: the dialect's expressions for fields of e.data.
EVENT_ROWS = """
SELECT e.message_id, e.campaign_id, e.recipient, e.type, e.ts, e.link_index,
       e.link_kind, v.verdict, v.kind, v.vendor,
       CASE WHEN e.type = 'click' AND e.link_index IS NULL THEN {url} END AS url,
       CASE WHEN e.type <> 'delivered' THEN {prepared_at} END AS prepared_at,
       CASE WHEN e.type = 'conversion' THEN {value} END AS value,
       CASE WHEN e.type = 'conversion' THEN {currency} END AS currency,
       e.id, {ip} AS ip,
       CASE WHEN e.type = 'unsubscribe' THEN {form} END AS form,
       CASE WHEN e.type = 'conversion' THEN {click_id} END AS click_id,
       e.source,
       CASE WHEN e.type IN ('open', 'click') THEN {esp_flags} END AS esp_flags
FROM events e LEFT JOIN verdicts v ON v.event_id = e.id
WHERE e.message_id IN ({marks})"""
#: The fields of e.data that EVENT_ROWS reads, and whether each is a number.
EVENT_ROW_FIELDS = (("url", False), ("prepared_at", False), ("value", True),
                    ("currency", False), ("ip", False), ("form", False), ("click_id", False),
                    ("esp_flags", False))

CAMPAIGNS = "SELECT DISTINCT campaign_id FROM rollup_cells"
CAMPAIGN_NAMES = "SELECT id, name FROM campaigns"
DOMAIN_SIZES = """
SELECT key, n FROM rollup_cells
WHERE campaign_id = ? AND dim = 'domain' AND metric = 'messages' AND n <> 0"""
#: {keys}: empty, or "AND key IN (...)" with one ? per domain (DOMAIN_KEYS).
DOMAIN_CELLS = """
SELECT key, metric, n FROM rollup_cells WHERE campaign_id = ? AND dim = 'domain' {keys}"""
DOMAIN_KEYS = "AND key IN ({marks})"
OVERVIEW_CELLS = """
SELECT campaign_id, dim, key, metric, n FROM rollup_cells
WHERE dim IN ('total', 'kind', 'vendor', 'vendor_kind', 'currency')
   OR (dim = 'day' AND metric = 'delivered.raw')"""
#: {marks}: one ? per dimension.
DIMENSIONS = """
SELECT dim, key, metric, n FROM rollup_cells WHERE campaign_id = ? AND dim IN ({marks})"""
#: The first messages of a campaign tell its links; look no further (a campaign whose
#: delivered events carry no links must not cost a scan of all its messages).
CAMPAIGN_LINKS = """
SELECT links FROM (SELECT links FROM messages WHERE campaign_id = ? LIMIT 1000) AS first
WHERE links IS NOT NULL LIMIT 1"""

class SummaryRow(NamedTuple):
    message_id: str
    summary: str


class Dirty(NamedTuple):
    message_id: str
    marked_at: float


class KeyCount(NamedTuple):
    key: str
    n: int


class KeyCell(NamedTuple):
    key: str
    metric: str
    n: int


class CampaignCell(NamedTuple):
    campaign_id: str
    dim: str
    key: str
    metric: str
    n: int


class Cell(NamedTuple):
    dim: str
    key: str
    metric: str
    n: int
