"""Judge one event with its message's context, at the moment a decision depends on it
(an unsubscribe to apply or hold, an event to send to a webhook)."""

from __future__ import annotations

from collections.abc import Sequence

from clicksift.classify import BatchClassifier
from clicksift.classify.engine import Engine
from clicksift.classify.vocabulary import Verdict
from clicksift.events import Event, event_from_dict
from clicksift.storage import SqlStore


def judge_messages(store: SqlStore, engine: Engine, message_ids: Sequence[str],
                   extra: Sequence[Event] = ()) -> dict[str, Verdict]:
    """Verdicts of every engagement event of MESSAGE_IDS given all their stored events (and
    EXTRA ones not stored yet), as the batch classifier would give them, by event id."""
    events = [event_from_dict(stored.raw) for stored in store.events_of_messages(message_ids)]
    known = {e.id for e in events}
    events += [e for e in extra if e.id not in known]
    return {v.id: v for v in BatchClassifier(engine).classify(events, expected=len(events))}


def judge_in_context(store: SqlStore, engine: Engine, event: Event) -> Verdict:
    """EVENT's verdict given every stored event of its message (a scanner's burst seconds
    after delivery, a honeypot hit)."""
    return judge_messages(store, engine, [event.message_id], [event])[event.id]


def judgement(verdict: Verdict) -> dict[str, object]:
    """A verdict as the review queue and the log keep it."""
    return {"verdict": verdict.verdict, "score": verdict.score, "kind": verdict.kind,
            "vendor": verdict.vendor,
            "reasons": [{"rule": f.rule, "weight": f.weight, "detail": f.detail}
                        for f in verdict.reasons]}
