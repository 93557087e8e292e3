"""Judge one event with its message's context, at the moment a decision depends on it
(an unsubscribe to apply or hold, an event to send to a webhook)."""

from __future__ import annotations

from clicksift.classify import BatchClassifier
from clicksift.classify.engine import Engine
from clicksift.classify.vocabulary import Verdict
from clicksift.events import Event, event_from_dict
from clicksift.storage import SqlStore


def judge_in_context(store: SqlStore, engine: Engine, event: Event) -> Verdict:
    """EVENT's verdict given every stored event of its message (a scanner's burst seconds
    after delivery, a honeypot hit), as the batch classifier would give it."""
    events = [event_from_dict(stored.raw) for stored in store.events_of_messages(
        [event.message_id])]
    if all(e.id != event.id for e in events):
        events.append(event)
    for verdict in BatchClassifier(engine).classify(events, expected=len(events)):
        if verdict.id == event.id:
            return verdict
    raise AssertionError(f"no verdict for {event.id}")   # engagement events always get one


def judgement(verdict: Verdict) -> dict[str, object]:
    """A verdict as the review queue and the log keep it."""
    return {"verdict": verdict.verdict, "score": verdict.score, "kind": verdict.kind,
            "vendor": verdict.vendor,
            "reasons": [{"rule": f.rule, "weight": f.weight, "detail": f.detail}
                        for f in verdict.reasons]}
