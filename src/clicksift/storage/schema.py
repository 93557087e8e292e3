"""Numbered schema migrations, one list for SQLite and PostgreSQL.

Each migration is a list of statements with three dialect words filled in:
``{serial}`` (an auto-numbered primary key), ``{real}`` (a double) and ``{blob}``; an entry
that is a mapping holds statements for one dialect only (``{"sqlite": [...]}``).
Applied migrations are recorded in ``schema_migrations``; a store applies what is missing
when it opens. Never edit a released migration: add the next number.
"""

from __future__ import annotations

Statement = str | dict[str, list[str]]

#: SQLite's events table numbered with AUTOINCREMENT (migration 7): a plain INTEGER PRIMARY
#: KEY hands the highest number out again once its row is deleted (archived, erased), and a
#: number at or below the rollups' watermark, or an outbound webhook's cursor, would never
#: be counted, or delivered.
_EVENTS_AUTOINCREMENT = [
    """CREATE TABLE events_v7 (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        type TEXT NOT NULL,
        message_id TEXT NOT NULL,
        campaign_id TEXT,
        recipient TEXT,
        ts REAL NOT NULL,
        received_at REAL NOT NULL,
        link_index INTEGER,
        link_kind TEXT,
        source TEXT,
        data TEXT NOT NULL)""",
    """INSERT INTO events_v7 (seq, id, type, message_id, campaign_id, recipient, ts,
                              received_at, link_index, link_kind, source, data)
       SELECT seq, id, type, message_id, campaign_id, recipient, ts, received_at,
              link_index, link_kind, source, data FROM events ORDER BY seq""",
    "DROP TABLE events",
    "ALTER TABLE events_v7 RENAME TO events",
    "CREATE INDEX events_message ON events (message_id, ts)",
    "CREATE INDEX events_campaign ON events (campaign_id, seq)",
    # Numbers the rollups or an outbound webhook's cursor went past are never handed out
    # again (their rows may have been deleted already).
    """INSERT INTO sqlite_sequence (name, seq)
       SELECT 'events', 0
       WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'events')""",
    """UPDATE sqlite_sequence SET seq = MAX(seq,
           COALESCE((SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'rollup.seq'), 0),
           COALESCE((SELECT MAX(cursor) FROM hooks), 0))
       WHERE name = 'events'""",
]

MIGRATIONS: list[tuple[int, str, list[Statement]]] = [
    (1, "campaigns, messages, events, verdicts, meta", [
        """CREATE TABLE meta (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL)""",
        """CREATE TABLE campaigns (
            id TEXT PRIMARY KEY,
            name TEXT,
            created_at {real} NOT NULL)""",
        """CREATE TABLE messages (
            id TEXT PRIMARY KEY,
            campaign_id TEXT,
            recipient TEXT,
            recipient_domain TEXT,
            sent_at {real},
            links TEXT,
            source TEXT)""",
        "CREATE INDEX messages_campaign ON messages (campaign_id)",
        "CREATE INDEX messages_domain ON messages (recipient_domain)",
        """CREATE TABLE events (
            seq {serial},
            id TEXT NOT NULL UNIQUE,
            type TEXT NOT NULL,
            message_id TEXT NOT NULL,
            campaign_id TEXT,
            recipient TEXT,
            ts {real} NOT NULL,
            received_at {real} NOT NULL,
            link_index INTEGER,
            link_kind TEXT,
            source TEXT,
            data TEXT NOT NULL)""",
        # The hot insert path keeps only the indexes it needs: id (dedupe) and message
        # (classification context). Reports read rollup tables, not scans of events.
        "CREATE INDEX events_message ON events (message_id, ts)",
        """CREATE TABLE verdicts (
            event_id TEXT PRIMARY KEY,
            verdict TEXT NOT NULL,
            score {real} NOT NULL,
            kind TEXT,
            vendor TEXT,
            reasons TEXT NOT NULL,
            engine_version TEXT NOT NULL,
            final INTEGER NOT NULL,
            computed_at {real} NOT NULL)""",
    ]),
    (2, "report rollups, API keys, dashboard users", [
        # Reports and the event explorer read a campaign's events in arrival order.
        "CREATE INDEX events_campaign ON events (campaign_id, seq)",
        # What each message contributes to its campaign's report (a compact summary of its
        # events as last counted), so a change is applied as a difference.
        """CREATE TABLE rollup_messages (
            message_id TEXT PRIMARY KEY,
            campaign_id TEXT NOT NULL,
            summary TEXT NOT NULL)""",
        # The report cells: counts per campaign, dimension, key and metric.
        """CREATE TABLE rollup_cells (
            campaign_id TEXT NOT NULL,
            dim TEXT NOT NULL,
            key TEXT NOT NULL,
            metric TEXT NOT NULL,
            n {real} NOT NULL,
            PRIMARY KEY (campaign_id, dim, key, metric))""",
        # Messages whose verdicts changed (re-scores) and must be counted again.
        """CREATE TABLE rollup_dirty (
            message_id TEXT PRIMARY KEY,
            marked_at {real} NOT NULL)""",
        """CREATE TABLE api_keys (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            secret_hash TEXT NOT NULL,
            created_at {real} NOT NULL,
            last_used_at {real},
            revoked_at {real})""",
        """CREATE TABLE users (
            name TEXT PRIMARY KEY,
            password_hash TEXT NOT NULL,
            created_at {real} NOT NULL)""",
    ]),
    (3, "subscriptions, their log, held unsubscribes, suppressions, outbound webhooks", [
        # One row per recipient and topic ('' is all mail); no row means subscribed.
        """CREATE TABLE subscriptions (
            recipient TEXT NOT NULL,
            topic TEXT NOT NULL,
            state TEXT NOT NULL,
            paused_until {real},
            frequency TEXT,
            updated_at {real} NOT NULL,
            PRIMARY KEY (recipient, topic))""",
        # Every attempt to change a subscription, applied or not, with the event and verdict.
        """CREATE TABLE subscription_log (
            seq {serial},
            recipient TEXT NOT NULL,
            topic TEXT NOT NULL,
            change TEXT NOT NULL,
            outcome TEXT NOT NULL,
            at {real} NOT NULL,
            event_id TEXT,
            verdict TEXT,
            score {real},
            actor TEXT NOT NULL,
            detail TEXT)""",
        "CREATE INDEX subscription_log_recipient ON subscription_log (recipient, seq)",
        # Unsubscribes judged non-human: held until the person confirms or an operator decides.
        """CREATE TABLE unsubscribe_reviews (
            event_id TEXT PRIMARY KEY,
            recipient TEXT NOT NULL,
            message_id TEXT,
            request TEXT NOT NULL,
            judgement TEXT NOT NULL,
            created_at {real} NOT NULL,
            status TEXT NOT NULL,
            decided_at {real},
            decided_by TEXT)""",
        "CREATE INDEX unsubscribe_reviews_status ON unsubscribe_reviews (status, created_at)",
        """CREATE TABLE suppressions (
            recipient TEXT PRIMARY KEY,
            reason TEXT NOT NULL,
            at {real} NOT NULL,
            detail TEXT)""",
        # Outbound webhooks and their durable outbox.
        """CREATE TABLE hooks (
            id TEXT PRIMARY KEY,
            url TEXT NOT NULL,
            secret TEXT NOT NULL,
            events TEXT NOT NULL,
            humans_only INTEGER NOT NULL,
            created_at {real} NOT NULL,
            cursor INTEGER NOT NULL,
            active INTEGER NOT NULL)""",
        """CREATE TABLE outbox (
            seq {serial},
            hook_id TEXT NOT NULL,
            event_id TEXT NOT NULL,
            body TEXT NOT NULL,
            created_at {real} NOT NULL,
            due_at {real} NOT NULL,
            attempts INTEGER NOT NULL,
            status TEXT NOT NULL,
            last_error TEXT,
            delivered_at {real},
            UNIQUE (hook_id, event_id))""",
        "CREATE INDEX outbox_due ON outbox (status, due_at)",
    ]),
    (4, "dashboard sessions (revoked on logout, password change and user deletion)", [
        # One row per live session; the cookie holds the id, the store only its SHA-256.
        """CREATE TABLE sessions (
            id_hash TEXT PRIMARY KEY,
            login TEXT NOT NULL,
            created_at {real} NOT NULL)""",
        "CREATE INDEX sessions_login ON sessions (login)",
    ]),
    (5, "provisional verdicts found quickly (the server settles them in the background)", [
        "CREATE INDEX verdicts_provisional ON verdicts (computed_at) WHERE final = 0",
    ]),
    (6, "recipient domains' mail exchangers (with their TTL) and the sender doctor's findings", [
        # One row per looked-up domain: its MX hosts in preference order (a JSON list), how
        # the lookup went (ok, no_mx, null_mx, no_domain, failed) and until when it holds.
        """CREATE TABLE mx_records (
            domain TEXT PRIMARY KEY,
            hosts TEXT NOT NULL,
            status TEXT NOT NULL,
            looked_up_at {real} NOT NULL,
            expires_at {real} NOT NULL)""",
        # The last `clicksift doctor` run per sending domain (its JSON report).
        """CREATE TABLE doctor_reports (
            domain TEXT PRIMARY KEY,
            checked_at {real} NOT NULL,
            report TEXT NOT NULL)""",
    ]),
    (7, "messages whose events moved to the Parquet archive (clicksift archive)", [
        # One row per archived message: its campaign, the archive's folders (campaign and
        # month partitions) holding its events, how many events moved and the archive
        # run that last moved some. The message's row in messages stays, so a late event
        # still finds its campaign.
        """CREATE TABLE archived_messages (
            message_id TEXT PRIMARY KEY,
            campaign_id TEXT,
            partitions TEXT NOT NULL,
            events INTEGER NOT NULL,
            batch TEXT NOT NULL,
            archived_at {real} NOT NULL)""",
        "CREATE INDEX archived_messages_campaign ON archived_messages (campaign_id)",
        {"sqlite": _EVENTS_AUTOINCREMENT},
    ]),
]


def statements(dialect: str, dialect_words: dict[str, str], version: int) -> list[str]:
    for number, _title, body in MIGRATIONS:
        if number == version:
            out: list[str] = []
            for entry in body:
                if isinstance(entry, dict):
                    out.extend(entry.get(dialect, []))
                else:
                    out.append(entry.format(**dialect_words))
            return out
    raise KeyError(version)


LATEST = MIGRATIONS[-1][0]
