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
from enum import StrEnum
from typing import Any

from clicksift.errors import InputError, NotFoundError
from clicksift.protect.erasure import erased_key
from clicksift.storage import SqlStore
from clicksift.storage.queries import subscriptions as sql

ALL = ""
SUBSCRIBED = "subscribed"
UNSUBSCRIBED = "unsubscribed"
FREQUENCIES = ("all", "weekly", "monthly")


class ReviewStatus(StrEnum):
    """Where a held unsubscribe stands; also the outcomes the subscription log records."""

    HELD = "held"
    APPLIED = "applied"          # by an operator (or, in the log, a change that took effect)
    DISMISSED = "dismissed"      # by an operator
    CONFIRMED = "confirmed"      # by the person, who asked again
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
    for topic, value, paused, frequency, updated in store.rows(sql.StateRow, sql.STATES,
                                                                (recipient,)):
        if topic == ALL:
            state.overall, state.paused_until = value, paused
            state.frequency = frequency or "all"
        else:
            state.topics[topic] = value
        state.updated_at = max(state.updated_at or 0.0, updated)
    state.suppressed = store.value(sql.SUPPRESSION_REASON, (recipient, erased_key(recipient)))
    return state


def _set(store: SqlStore, recipient: str, topic: str, state: str, now: float, *,
         paused_until: float | None = None, frequency: str | None = None) -> None:
    store.change(
        sql.SET_STATE, (recipient, topic, state, paused_until, frequency, now))


def log(store: SqlStore, recipient: str, topic: str, change: str, outcome: str,
        attempt: Attempt, now: float | None = None) -> None:
    store.change(
        sql.INSERT_LOG,
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
        store.change(sql.UNSUPPRESS, (recipient, erased_key(recipient)))
    else:
        for topic, keep in change.topics.items():
            _set(store, recipient, topic, SUBSCRIBED if keep else UNSUBSCRIBED, now)
        if change.pause_days or change.frequency:
            _set(store, recipient, ALL, current.overall, now,
                 paused_until=now + change.pause_days * 86400 if change.pause_days else None,
                 frequency=change.frequency)
    log(store, recipient, ALL, change.describe(), ReviewStatus.APPLIED, attempt, now)
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
    store.change(
        sql.HOLD,
        (attempt.event_id, normalize_address(recipient), message_id, change.to_json(),
         json.dumps(judgement), now))
    log(store, recipient, ALL, change.describe(), ReviewStatus.HELD, attempt, now)


def _review(row: sql.ReviewRow) -> Review:
    return Review(row.event_id, row.recipient, row.message_id, Change.from_json(row.request),
                  json.loads(row.judgement), row.created_at, row.status, row.decided_at,
                  row.decided_by)


def reviews(store: SqlStore, status: str | None = ReviewStatus.HELD,
            limit: int = 500) -> list[Review]:
    where, params = (sql.WITH_STATUS, (status,)) if status else ("", ())
    rows = store.rows(sql.ReviewRow, sql.REVIEWS.format(where=where, limit=int(limit)), params)
    return [_review(row) for row in rows]


def get_review(store: SqlStore, event_id: str) -> Review:
    row = store.row(sql.ReviewRow, sql.REVIEW, (event_id,))
    if row is None:
        raise NotFoundError(f"no held unsubscribe with event id {event_id!r}")
    return _review(row)


def decide(store: SqlStore, event_id: str, *, apply_it: bool, operator: str,
           now: float | None = None) -> Review:
    """An operator applies or dismisses a held attempt."""
    now = time.time() if now is None else now
    review = get_review(store, event_id)
    if review.status != ReviewStatus.HELD:
        raise InputError(f"the attempt {event_id} is already {review.status}")
    attempt = Attempt("operator", event_id, detail=f"by {operator}")
    if apply_it:
        apply(store, review.recipient, review.change, attempt, now)
    else:
        log(store, review.recipient, ALL, review.change.describe(), ReviewStatus.DISMISSED,
            attempt, now)
    store.change(sql.DECIDE,
                 (ReviewStatus.APPLIED if apply_it else ReviewStatus.DISMISSED, now, operator,
                  event_id))
    return get_review(store, event_id)


def confirm_held(store: SqlStore, recipient: str, now: float | None = None) -> int:
    """The person confirmed: their held attempts are settled by their own request."""
    return store.change(sql.CONFIRM_HELD,
                        (time.time() if now is None else now, normalize_address(recipient)))


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
    return store.rows(LogEntry, sql.HISTORY, (normalize_address(recipient),))


def changed_recipients(store: SqlStore) -> list[str]:
    return store.column(sql.CHANGED_RECIPIENTS)


@dataclass(frozen=True)
class Suppression:
    recipient: str
    reason: str
    at: float
    detail: str | None


def suppression_list(store: SqlStore) -> list[Suppression]:
    """Everyone not to mail: unsubscribed from all mail, or suppressed (sunset, ...)."""
    out = {row.recipient: Suppression(row.recipient, UNSUBSCRIBED, row.updated_at, None)
           for row in store.rows(sql.UnsubscribedRow, sql.UNSUBSCRIBED_FROM_ALL,
                                 (UNSUBSCRIBED,))}
    for row in store.rows(Suppression, sql.SUPPRESSIONS):
        out.setdefault(row.recipient, row)
    return sorted(out.values(), key=lambda s: s.recipient)


def suppress(store: SqlStore, recipients: Sequence[str], reason: str, detail: str,
             now: float | None = None) -> int:
    now = time.time() if now is None else now
    added = 0
    for recipient in recipients:
        if store.change(sql.SUPPRESS, (normalize_address(recipient), reason, now, detail)):
            added += 1
            log(store, recipient, ALL, f"suppressed ({reason})", ReviewStatus.APPLIED,
                Attempt(reason, detail=detail), now)
    return added
