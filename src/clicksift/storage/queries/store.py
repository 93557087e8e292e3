"""The store's own statements: events, messages, verdicts, campaigns, meta, migrations, MX
records, doctor reports, erasure, the archive's bookkeeping and the background lease."""

from __future__ import annotations

from typing import NamedTuple

INSERT_EVENT = """
INSERT INTO events (id, type, message_id, campaign_id, recipient, ts, received_at, link_index,
                    link_kind, source, data)
SELECT ?, ?, ?, COALESCE(?, m.campaign_id), COALESCE(?, m.recipient), ?, ?, ?, ?, ?, ?
FROM (SELECT 1) AS one LEFT JOIN messages AS m ON m.id = ?
WHERE true
ON CONFLICT (id) DO NOTHING"""

UPSERT_MESSAGE = """
INSERT INTO messages (id, campaign_id, recipient, recipient_domain, sent_at, links, source)
VALUES (?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET
    campaign_id = COALESCE(excluded.campaign_id, messages.campaign_id),
    recipient = COALESCE(excluded.recipient, messages.recipient),
    recipient_domain = COALESCE(excluded.recipient_domain, messages.recipient_domain),
    sent_at = COALESCE(excluded.sent_at, messages.sent_at),
    links = COALESCE(excluded.links, messages.links),
    source = COALESCE(excluded.source, messages.source)"""

INSERT_CAMPAIGN = """
INSERT INTO campaigns (id, name, created_at) VALUES (?, ?, ?)
ON CONFLICT (id) DO NOTHING"""
SELECT_CAMPAIGNS = "SELECT id, name, created_at FROM campaigns ORDER BY id"

# Events that arrived before their message was known get its campaign and recipient.
BACKFILL_EVENTS = """
UPDATE events SET
    campaign_id = COALESCE(campaign_id,
                           (SELECT campaign_id FROM messages m WHERE m.id = events.message_id)),
    recipient = COALESCE(recipient,
                         (SELECT recipient FROM messages m WHERE m.id = events.message_id))
WHERE message_id = ? AND (campaign_id IS NULL OR recipient IS NULL)"""

SELECT_MESSAGE = """
SELECT id, campaign_id, recipient, sent_at, links, source FROM messages WHERE id = ?"""

SELECT_EVENTS = """
SELECT seq, data, campaign_id, recipient, received_at FROM events
WHERE seq > ? {filters} ORDER BY seq LIMIT ?"""

COUNT_EVENTS = "SELECT type, COUNT(*) FROM events GROUP BY type ORDER BY type"

GET_META = "SELECT value FROM meta WHERE key = ?"
INSERT_META = "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING"
SET_META = """
INSERT INTO meta (key, value) VALUES (?, ?)
ON CONFLICT (key) DO UPDATE SET value = excluded.value"""
DELETE_META = "DELETE FROM meta WHERE key = ?"

SELECT_MIGRATIONS = "SELECT version FROM schema_migrations"
INSERT_MIGRATION = "INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)"

UPSERT_VERDICT = """
INSERT INTO verdicts (event_id, verdict, score, kind, vendor, reasons, engine_version, final,
                      computed_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (event_id) DO UPDATE SET
    verdict = excluded.verdict, score = excluded.score, kind = excluded.kind,
    vendor = excluded.vendor, reasons = excluded.reasons,
    engine_version = excluded.engine_version, final = excluded.final,
    computed_at = excluded.computed_at
WHERE verdicts.final <= excluded.final"""

SELECT_VERDICTS = """
SELECT event_id, verdict, score, kind, vendor, reasons, engine_version, final
FROM verdicts WHERE event_id IN ({placeholders})"""

# A message's context within a budget (docs/protect.md, "Bounded work"): its first events
# (the delivery and the scanning window) and those nearest a moment, each read through the
# (message_id, ts) index, so the work does not grow with the message's event count.
SELECT_MESSAGE_FIRST = """
SELECT seq, data, campaign_id, recipient, received_at FROM events
WHERE message_id = ? ORDER BY ts, seq LIMIT ?"""
SELECT_MESSAGE_UP_TO = """
SELECT seq, data, campaign_id, recipient, received_at FROM events
WHERE message_id = ? AND ts <= ? ORDER BY ts DESC, seq DESC LIMIT ?"""
SELECT_MESSAGE_AFTER = """
SELECT seq, data, campaign_id, recipient, received_at FROM events
WHERE message_id = ? AND ts > ? ORDER BY ts, seq LIMIT ?"""

SELECT_MESSAGE_EVENTS = """
SELECT seq, data, campaign_id, recipient, received_at FROM events
WHERE message_id IN ({placeholders}) ORDER BY seq"""

# `ingest reparse`: an ESP's stored events page by page, and an event read again.
SELECT_SOURCE_EVENTS = """
SELECT seq, data FROM events WHERE source = ? AND seq > ? ORDER BY seq LIMIT ?"""

UPDATE_EVENT = """
UPDATE events SET type = ?, message_id = ?, campaign_id = COALESCE(?, campaign_id),
    recipient = COALESCE(?, recipient), ts = ?, link_index = ?, link_kind = ?, data = ?
WHERE id = ?"""

DELETE_EVENT = "DELETE FROM events WHERE id = ?"

DELETE_VERDICT = "DELETE FROM verdicts WHERE event_id = ?"

# The messages whose oldest provisional verdict is older than a moment, oldest first.
PROVISIONAL_MESSAGES = """
SELECT e.message_id FROM verdicts v JOIN events e ON e.id = v.event_id
WHERE v.final = 0 AND v.computed_at < ?
GROUP BY e.message_id ORDER BY MIN(v.computed_at) LIMIT ?"""

# Recipient domains' mail exchangers (`clicksift gateways`), and the sender doctor's reports.
SELECT_MX_RECORDS = """
SELECT domain, hosts, status, looked_up_at, expires_at FROM mx_records
WHERE domain IN ({placeholders})"""
SELECT_ALL_MX_RECORDS = "SELECT domain, hosts, status, looked_up_at, expires_at FROM mx_records"
UPSERT_MX_RECORD = """
INSERT INTO mx_records (domain, hosts, status, looked_up_at, expires_at) VALUES (?, ?, ?, ?, ?)
ON CONFLICT (domain) DO UPDATE SET hosts = excluded.hosts, status = excluded.status,
    looked_up_at = excluded.looked_up_at, expires_at = excluded.expires_at"""
RECIPIENT_DOMAINS = """
SELECT recipient_domain, COUNT(*) AS messages FROM messages
WHERE recipient_domain IS NOT NULL {campaign} GROUP BY recipient_domain
ORDER BY COUNT(*) DESC, recipient_domain"""
UPSERT_DOCTOR_REPORT = """
INSERT INTO doctor_reports (domain, checked_at, report) VALUES (?, ?, ?)
ON CONFLICT (domain) DO UPDATE SET checked_at = excluded.checked_at, report = excluded.report"""
SELECT_DOCTOR_REPORT = "SELECT domain, checked_at, report FROM doctor_reports WHERE domain = ?"
LATEST_DOCTOR_REPORT = """
SELECT domain, checked_at, report FROM doctor_reports ORDER BY checked_at DESC LIMIT 1"""

# `clicksift erase`: one recipient out of every table that names them (docs/privacy.md).
ERASE_FIND_MESSAGES = "SELECT id FROM messages WHERE lower(recipient) = ?"
ERASE_FIND_EVENTS = """
SELECT id FROM events WHERE lower(recipient) = ? OR message_id IN ({placeholders})"""
#: (label, statement over event ids); then (label, statement over message ids); then
#: (label, statement over the address).
ERASE_BY_EVENT = (
    ("verdicts", "DELETE FROM verdicts WHERE event_id IN ({placeholders})"),
    ("outbound webhook deliveries", "DELETE FROM outbox WHERE event_id IN ({placeholders})"),
    ("held unsubscribes", "DELETE FROM unsubscribe_reviews WHERE event_id IN ({placeholders})"),
    ("events", "DELETE FROM events WHERE id IN ({placeholders})"),
)
ERASE_BY_MESSAGE = (
    ("report summaries (the campaign counts stay)",
     "DELETE FROM rollup_messages WHERE message_id IN ({placeholders})"),
    ("report recounts pending", "DELETE FROM rollup_dirty WHERE message_id IN ({placeholders})"),
    ("archived message records",
     "DELETE FROM archived_messages WHERE message_id IN ({placeholders})"),
    ("messages", "DELETE FROM messages WHERE id IN ({placeholders})"),
)
ERASE_BY_ADDRESS = (
    ("held unsubscribes", "DELETE FROM unsubscribe_reviews WHERE lower(recipient) = ?"),
    ("subscriptions", "DELETE FROM subscriptions WHERE lower(recipient) = ?"),
    ("subscription log entries", "DELETE FROM subscription_log WHERE lower(recipient) = ?"),
    ("suppressions", "DELETE FROM suppressions WHERE lower(recipient) = ?"),
)
INSERT_ERASED_SUPPRESSION = """
INSERT INTO suppressions (recipient, reason, at, detail) VALUES (?, 'erased', ?, NULL)
ON CONFLICT (recipient) DO NOTHING"""

# `clicksift archive` (docs/archive.md): messages whose events are all older than a moment,
# not waiting for a recount, with every engagement event's verdict final and no
# unsubscribe held for review.
ARCHIVABLE_MESSAGES = """
SELECT e.message_id FROM events e LEFT JOIN verdicts v ON v.event_id = e.id
WHERE {among} e.message_id NOT IN (SELECT message_id FROM rollup_dirty)
  AND e.message_id NOT IN (SELECT message_id FROM unsubscribe_reviews
                           WHERE status = 'held' AND message_id IS NOT NULL)
GROUP BY e.message_id
HAVING MAX(e.ts) < ?
   AND SUM(CASE WHEN e.type IN ('open', 'click', 'unsubscribe')
                 AND (v.final IS NULL OR v.final = 0) THEN 1 ELSE 0 END) = 0
ORDER BY MIN(e.seq) LIMIT ?"""
#: A message's events with their verdicts, as the archive keeps them.
ARCHIVE_ROWS = """
SELECT e.id, e.type, e.message_id, e.campaign_id, e.recipient, e.ts, e.received_at,
       e.link_index, e.link_kind, e.source, e.data, v.verdict, v.score, v.kind, v.vendor,
       v.reasons, v.engine_version, v.final, v.computed_at
FROM events e LEFT JOIN verdicts v ON v.event_id = e.id
WHERE e.message_id IN ({placeholders}) ORDER BY e.seq"""
SELECT_ARCHIVED = """
SELECT message_id, campaign_id, partitions, events, batch, archived_at FROM archived_messages
WHERE message_id IN ({placeholders})"""
SELECT_ARCHIVED_IDS = "SELECT message_id FROM archived_messages ORDER BY message_id"
SELECT_ARCHIVED_OF_CAMPAIGN = """
SELECT message_id FROM archived_messages WHERE campaign_id = ? ORDER BY message_id"""
UPSERT_ARCHIVED = """
INSERT INTO archived_messages (message_id, campaign_id, partitions, events, batch, archived_at)
VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT (message_id) DO UPDATE SET campaign_id = excluded.campaign_id,
    partitions = excluded.partitions, events = archived_messages.events + excluded.events,
    batch = excluded.batch, archived_at = excluded.archived_at"""
COUNT_MESSAGE_EVENTS = "SELECT COUNT(*) FROM events WHERE message_id IN ({placeholders})"
CAMPAIGNS_OF_MESSAGES = """
SELECT DISTINCT campaign_id FROM events WHERE message_id IN ({placeholders})"""
ARCHIVE_TOTALS = """
SELECT COUNT(*) AS messages, COALESCE(SUM(events), 0) AS events FROM archived_messages"""
DELETE_EVENTS = "DELETE FROM events WHERE id IN ({placeholders})"
DELETE_VERDICTS = "DELETE FROM verdicts WHERE event_id IN ({placeholders})"

# Address retention after the final verdict (setting ip_retention).
UPDATE_EVENT_DATA = "UPDATE events SET data = ? WHERE id = ?"


# -- the background lease (storage/lease.py, PostgreSQL) -------------------------------------

#: Take the session advisory lock of the background work if it is free: true when held.
HOLD_ADVISORY_LOCK = "SELECT pg_try_advisory_lock(?)"
#: Give the lock up at once (closing the connection gives it up too, once the server sees it).
RELEASE_ADVISORY_LOCK = "SELECT pg_advisory_unlock(?)"
#: A held lease's connection is alive.
PING = "SELECT 1"
#: Who holds an advisory lock (the application name of its connection).
ADVISORY_LOCK_HOLDER = """
SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'advisory' AND l.granted AND l.objid::bigint = ?
"""


# -- the shapes of rows read (SqlStore.rows checks them against the columns) --------------------

class MessageRow(NamedTuple):
    id: str
    campaign_id: str | None
    recipient: str | None
    sent_at: float | None
    links: str | None          # JSON
    source: str | None


class VerdictRow(NamedTuple):
    event_id: str
    verdict: str
    score: float
    kind: str | None
    vendor: str | None
    reasons: str               # JSON
    engine_version: str | None
    final: int


class MxRow(NamedTuple):
    domain: str
    hosts: str                 # JSON
    status: str
    looked_up_at: float
    expires_at: float


class DomainCount(NamedTuple):
    recipient_domain: str
    messages: int


class DoctorRow(NamedTuple):
    domain: str
    checked_at: float
    report: str                # JSON


class ArchivedRow(NamedTuple):
    message_id: str
    campaign_id: str | None
    partitions: str            # JSON
    events: int
    batch: str
    archived_at: float


class ArchiveTotals(NamedTuple):
    messages: int
    events: int
