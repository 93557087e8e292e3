"""Subscription state per recipient and topic, its log, held unsubscribes and suppressions.

A recipient with no row is subscribed to everything. Topic ``""`` is all mail; other topics
are the ``topics`` setting's ids. Every attempt to change a subscription is logged with the
event and the verdict behind it, applied or not: ``applied`` (a person, a one-click POST
through the mailbox provider, or an operator), ``held`` (judged non-human: nothing changed,
waiting in the review queue), ``dismissed`` (an operator rejected a held attempt).

Functions take a store and run in the caller's transaction unless they say otherwise.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from clicksift.errors import InputError, NotFoundError
from clicksift.protect.erasure import erased_key
from clicksift.storage import SqlStore

ALL = ""
SUBSCRIBED = "subscribed"
UNSUBSCRIBED = "unsubscribed"
FREQUENCIES = ("all", "weekly", "monthly")
PAUSES = (30, 90)


@dataclass
class Change:
    """What one POST asked for."""

    unsubscribe_all: bool = False
    resubscribe: bool = False
    topics: dict[str, bool] = field(default_factory=dict)    # topic -> stay subscribed
    pause_days: int | None = None
    frequency: str | None = None

    @classmethod
    def from_form(cls, form: dict[str, str], topic_ids: Sequence[str]) -> Change:
        """The change a preference-center form asks for (unknown values are refused)."""
        action = form.get("action", "")
        if not action and form.get("confirm"):
            action = "unsubscribe_all"       # the one-button form of earlier versions
        if action == "unsubscribe_all" or form.get("List-Unsubscribe") == "One-Click":
            return cls(unsubscribe_all=True)
        if action == "resubscribe":
            return cls(resubscribe=True)
        if action != "save":
            raise InputError(f"unknown action {action!r}", field="action")
        change = cls(topics={t: form.get(f"topic_{t}") == "on" for t in topic_ids})
        pause = form.get("pause", "")
        if pause:
            if not pause.isdigit() or int(pause) not in PAUSES:
                raise InputError(f"pause {pause!r} is not one of {PAUSES}", field="pause")
            change.pause_days = int(pause)
        frequency = form.get("frequency", "")
        if frequency:
            if frequency not in FREQUENCIES:
                raise InputError(f"frequency {frequency!r} is not one of {FREQUENCIES}",
                                 field="frequency")
            change.frequency = frequency
        return change

    @property
    def unsubscribes(self) -> bool:
        """Whether this change takes the person off any mail (what protection guards)."""
        return self.unsubscribe_all or any(not keep for keep in self.topics.values())

    def describe(self, labels: dict[str, str] | None = None) -> str:
        """What the change does, in a person's words (LABELS: topic id -> its label)."""
        if self.unsubscribe_all:
            return "unsubscribe from all mail"
        if self.resubscribe:
            return "subscribe again to all mail"
        names = labels or {}
        kept = [names.get(t, t) for t, keep in sorted(self.topics.items()) if keep]
        left = [names.get(t, t) for t, keep in sorted(self.topics.items()) if not keep]
        parts = []
        if left:
            parts.append("stop " + " and ".join(left))
        if kept and left:
            parts.append("keep " + " and ".join(kept))
        if self.pause_days:
            parts.append(f"pause all mail for {self.pause_days} days")
        if self.frequency and self.frequency != "all":
            parts.append(f"get mail at most once a {self.frequency.removesuffix('ly')}")
        return ", ".join(parts) or "keep your preferences as they are"

    def changes_anything(self, state: State) -> bool:
        """Whether applying this to STATE would change what the person receives."""
        if self.unsubscribe_all:
            return state.overall != UNSUBSCRIBED
        if self.resubscribe:
            return state.overall != SUBSCRIBED or state.suppressed is not None
        if self.pause_days:
            return True
        if any((state.topics.get(t, SUBSCRIBED) == SUBSCRIBED) != keep
               for t, keep in self.topics.items()):
            return True
        return self.frequency is not None and self.frequency != state.frequency

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Change:
        return cls(**json.loads(text))


@dataclass
class State:
    recipient: str
    overall: str = SUBSCRIBED
    topics: dict[str, str] = field(default_factory=dict)
    paused_until: float | None = None
    frequency: str = "all"
    updated_at: float | None = None
    suppressed: str | None = None          # why the recipient is suppressed (sunset, ...)

    def to_json(self) -> dict[str, Any]:
        return {"recipient": self.recipient, "state": self.overall, "topics": self.topics,
                "paused_until": self.paused_until, "frequency": self.frequency,
                "updated_at": self.updated_at, "suppressed": self.suppressed}


@dataclass(frozen=True)
class Attempt:
    """Who asked, and what the classifier said of the request."""

    actor: str                    # recipient, one-click, operator, sunset
    event_id: str | None = None
    verdict: str | None = None
    score: float | None = None
    detail: str | None = None


def normalize_address(address: str) -> str:
    return address.strip().lower()


def get_state(store: SqlStore, recipient: str, topic_ids: Sequence[str] = ()) -> State:
    recipient = normalize_address(recipient)
    state = State(recipient, topics={t: SUBSCRIBED for t in topic_ids})
    rows = store.execute("SELECT topic, state, paused_until, frequency, updated_at FROM "
                         "subscriptions WHERE recipient = ?", (recipient,)).fetchall()
    for topic, value, paused, frequency, updated in rows:
        if topic == ALL:
            state.overall, state.paused_until = value, paused
            state.frequency = frequency or "all"
        else:
            state.topics[topic] = value
        state.updated_at = max(state.updated_at or 0.0, updated)
    row = store.execute("SELECT reason FROM suppressions WHERE recipient IN (?, ?)",
                        (recipient, erased_key(recipient))).fetchone()
    state.suppressed = row[0] if row else None
    return state


def _set(store: SqlStore, recipient: str, topic: str, state: str, now: float, *,
         paused_until: float | None = None, frequency: str | None = None) -> None:
    store.execute(
        "INSERT INTO subscriptions (recipient, topic, state, paused_until, frequency, "
        "updated_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (recipient, topic) DO UPDATE SET "
        "state = excluded.state, paused_until = excluded.paused_until, "
        "frequency = COALESCE(excluded.frequency, subscriptions.frequency), "
        "updated_at = excluded.updated_at",
        (recipient, topic, state, paused_until, frequency, now))


def log(store: SqlStore, recipient: str, topic: str, change: str, outcome: str,
        attempt: Attempt, now: float | None = None) -> None:
    store.execute(
        "INSERT INTO subscription_log (recipient, topic, change, outcome, at, event_id, "
        "verdict, score, actor, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (normalize_address(recipient), topic, change, outcome,
         time.time() if now is None else now, attempt.event_id, attempt.verdict,
         attempt.score, attempt.actor, attempt.detail))


def apply(store: SqlStore, recipient: str, change: Change, attempt: Attempt,
          now: float | None = None) -> State:
    """Make CHANGE to RECIPIENT's subscriptions and log it as applied."""
    now = time.time() if now is None else now
    recipient = normalize_address(recipient)
    current = get_state(store, recipient)
    if change.unsubscribe_all:
        _set(store, recipient, ALL, UNSUBSCRIBED, now)
    elif change.resubscribe:
        _set(store, recipient, ALL, SUBSCRIBED, now)
        store.execute("DELETE FROM suppressions WHERE recipient IN (?, ?)",
                      (recipient, erased_key(recipient)))
    else:
        for topic, keep in change.topics.items():
            _set(store, recipient, topic, SUBSCRIBED if keep else UNSUBSCRIBED, now)
        if change.pause_days or change.frequency:
            _set(store, recipient, ALL, current.overall, now,
                 paused_until=now + change.pause_days * 86400 if change.pause_days else None,
                 frequency=change.frequency)
    log(store, recipient, ALL, change.describe(), "applied", attempt, now)
    return get_state(store, recipient)


# -- held unsubscribes ---------------------------------------------------------------------------

@dataclass
class Review:
    event_id: str
    recipient: str
    message_id: str | None
    change: Change
    judgement: dict[str, Any]
    created_at: float
    status: str                   # held, applied, dismissed, confirmed
    decided_at: float | None
    decided_by: str | None

    def to_json(self) -> dict[str, Any]:
        return {"event_id": self.event_id, "recipient": self.recipient,
                "message_id": self.message_id, "request": self.change.describe(),
                "judgement": self.judgement, "created_at": self.created_at,
                "status": self.status, "decided_at": self.decided_at,
                "decided_by": self.decided_by}


def hold(store: SqlStore, recipient: str, message_id: str | None, change: Change,
         attempt: Attempt, judgement: dict[str, Any], now: float | None = None) -> None:
    """Keep CHANGE out of effect and put it in the review queue (and the log)."""
    now = time.time() if now is None else now
    assert attempt.event_id is not None
    store.execute(
        "INSERT INTO unsubscribe_reviews (event_id, recipient, message_id, request, judgement, "
        "created_at, status) VALUES (?, ?, ?, ?, ?, ?, 'held') ON CONFLICT (event_id) "
        "DO NOTHING",
        (attempt.event_id, normalize_address(recipient), message_id, change.to_json(),
         json.dumps(judgement), now))
    log(store, recipient, ALL, change.describe(), "held", attempt, now)


_REVIEW_COLUMNS = ("event_id, recipient, message_id, request, judgement, created_at, status, "
                   "decided_at, decided_by")


def _review(row: Sequence[Any]) -> Review:
    return Review(row[0], row[1], row[2], Change.from_json(row[3]), json.loads(row[4]),
                  row[5], row[6], row[7], row[8])


def reviews(store: SqlStore, status: str | None = "held", limit: int = 500) -> list[Review]:
    where, params = ("WHERE status = ?", (status,)) if status else ("", ())
    rows = store.execute(f"SELECT {_REVIEW_COLUMNS} FROM unsubscribe_reviews {where} "
                         f"ORDER BY created_at DESC LIMIT {int(limit)}", params).fetchall()
    return [_review(row) for row in rows]


def get_review(store: SqlStore, event_id: str) -> Review:
    row = store.execute(f"SELECT {_REVIEW_COLUMNS} FROM unsubscribe_reviews WHERE event_id = ?",
                        (event_id,)).fetchone()
    if row is None:
        raise NotFoundError(f"no held unsubscribe with event id {event_id!r}")
    return _review(row)


def decide(store: SqlStore, event_id: str, *, apply_it: bool, operator: str,
           now: float | None = None) -> Review:
    """An operator applies or dismisses a held attempt."""
    now = time.time() if now is None else now
    review = get_review(store, event_id)
    if review.status != "held":
        raise InputError(f"the attempt {event_id} is already {review.status}")
    attempt = Attempt("operator", event_id, detail=f"by {operator}")
    if apply_it:
        apply(store, review.recipient, review.change, attempt, now)
    else:
        log(store, review.recipient, ALL, review.change.describe(), "dismissed", attempt, now)
    store.execute("UPDATE unsubscribe_reviews SET status = ?, decided_at = ?, decided_by = ? "
                  "WHERE event_id = ?",
                  ("applied" if apply_it else "dismissed", now, operator, event_id))
    return get_review(store, event_id)


def confirm_held(store: SqlStore, recipient: str, now: float | None = None) -> int:
    """The person confirmed: their held attempts are settled by their own request."""
    cursor = store.execute("UPDATE unsubscribe_reviews SET status = 'confirmed', decided_at = ?, "
                           "decided_by = 'recipient' WHERE recipient = ? AND status = 'held'",
                           (time.time() if now is None else now, normalize_address(recipient)))
    return int(cursor.rowcount or 0)


# -- listings ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class LogEntry:
    at: float
    topic: str
    change: str
    outcome: str
    actor: str
    event_id: str | None
    verdict: str | None
    score: float | None
    detail: str | None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def history(store: SqlStore, recipient: str) -> list[LogEntry]:
    rows = store.execute("SELECT at, topic, change, outcome, actor, event_id, verdict, score, "
                         "detail FROM subscription_log WHERE recipient = ? ORDER BY seq",
                         (normalize_address(recipient),)).fetchall()
    return [LogEntry(*row) for row in rows]


def changed_recipients(store: SqlStore) -> list[str]:
    rows = store.execute("SELECT DISTINCT recipient FROM subscriptions UNION "
                         "SELECT recipient FROM suppressions ORDER BY 1").fetchall()
    return [row[0] for row in rows]


@dataclass(frozen=True)
class Suppression:
    recipient: str
    reason: str
    at: float
    detail: str | None


def suppression_list(store: SqlStore) -> list[Suppression]:
    """Everyone not to mail: unsubscribed from all mail, or suppressed (sunset, ...)."""
    out = {row[0]: Suppression(row[0], "unsubscribed", row[1], None) for row in store.execute(
        "SELECT recipient, updated_at FROM subscriptions WHERE topic = '' AND state = ?",
        (UNSUBSCRIBED,)).fetchall()}
    for recipient, reason, at, detail in store.execute(
            "SELECT recipient, reason, at, detail FROM suppressions").fetchall():
        out.setdefault(recipient, Suppression(recipient, reason, at, detail))
    return sorted(out.values(), key=lambda s: s.recipient)


def suppress(store: SqlStore, recipients: Sequence[str], reason: str, detail: str,
             now: float | None = None) -> int:
    now = time.time() if now is None else now
    added = 0
    for recipient in recipients:
        cursor = store.execute("INSERT INTO suppressions (recipient, reason, at, detail) "
                               "VALUES (?, ?, ?, ?) ON CONFLICT (recipient) DO NOTHING",
                               (normalize_address(recipient), reason, now, detail))
        if cursor.rowcount:
            added += 1
            log(store, recipient, ALL, f"suppressed ({reason})", "applied",
                Attempt(reason, detail=detail), now)
    return added
