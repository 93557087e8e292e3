"""Unsubscribes an ESP reports (from its webhooks or its export files): a person's is
mirrored into clicksift's subscriptions, a machine's is held for review (docs/protect.md).

The ESP has already unsubscribed the address either way; clicksift's own list follows a
person's wish, and a scanner that followed the ESP's unsubscribe link (or an unsubscribe
the ESP processed from a machine's click) is put before a person to undo at the ESP.
"""

from __future__ import annotations

from clicksift.classify import Engine
from clicksift.events import Event, EventType
from clicksift.protect import subscriptions as subs
from clicksift.protect.confidence import machine_for_action
from clicksift.protect.judge import judge_in_context, judgement
from clicksift.storage import SqlStore
from clicksift.storage.queries.subscriptions import LOGGED_EVENT


def mirror_unsubscribes(store: SqlStore, events: list[Event], engine: Engine,
                        audit: bool, hold_score: float = 0.9) -> tuple[int, int]:
    """An ESP reported unsubscribes: a person's is mirrored into clicksift's subscriptions
    (and its suppression list); one judged non-human (a scanner that followed the ESP's
    unsubscribe link) is held for review: the ESP has already unsubscribed that person,
    who may want to be mailed again. Each event is considered once. Returns how many were
    mirrored and how many held."""
    mirrored = held = 0
    for event in events:
        if event.type != EventType.UNSUBSCRIBE or not event.recipient or event.source == "tracker":
            continue
        if store.exists(LOGGED_EVENT, (event.id,)):
            continue
        verdict = judge_in_context(store, engine, event)
        attempt = subs.Attempt(f"esp:{event.source}", event.id, verdict.verdict,
                               verdict.score, f"reported by {event.source}")
        change = subs.Change(unsubscribe_all=True)
        with store.transaction():
            if audit or not machine_for_action(verdict.verdict, verdict.score, hold_score):
                subs.apply(store, event.recipient, change, attempt)
                mirrored += 1
            else:
                held += 1
                subs.hold(store, event.recipient, event.message_id, change, attempt,
                          {**judgement(verdict), "note": f"{event.source} has already "
                           "unsubscribed this address; re-subscribe it there if a person "
                           "did not ask"})
    return mirrored, held
