"""Judge events with their message's context, at the moment a decision depends on it (an
unsubscribe to apply or hold, an event to send to a webhook).

The work is bounded whatever a message holds (docs/protect.md, "Bounded work"): anyone
holding one email can add events to its message (clicks need no credential), so a request
never reads a message's every event. It reads the message's first events (its delivery
and the scanning window after it, where gateways' bursts and honeypot fetches fall) and
those nearest the moments being judged, each through the (message_id, ts) index.
"""

from __future__ import annotations

from collections.abc import Sequence

from clicksift.classify import BatchClassifier
from clicksift.classify.engine import Engine
from clicksift.classify.vocabulary import Verdict
from clicksift.events import Event, event_from_dict
from clicksift.storage import SqlStore

#: The earliest events of a message read as context (delivery and the scanning window).
FIRST_EVENTS = 400
#: Events read at or before, and after, each moment judged.
EVENTS_BEFORE, EVENTS_AFTER = 400, 100
#: Moments per message judged at once (more events are judged with the nearest windows).
MOMENTS = 8


def context_events(store: SqlStore, message_id: str, moments: Sequence[float]) -> list[Event]:
    """MESSAGE_ID's stored events that matter at MOMENTS, within the budget above."""
    chosen = _spread(sorted(set(moments)), MOMENTS)
    stored = store.message_context(message_id, chosen, first=FIRST_EVENTS,
                                   before=EVENTS_BEFORE, after=EVENTS_AFTER)
    return [event_from_dict(item.raw) for item in stored]


def judge_events(store: SqlStore, engine: Engine, events: Sequence[Event]) -> dict[str, Verdict]:
    """Verdicts of EVENTS (stored or not), each judged with its message's bounded context,
    as the batch classifier would give them, by event id."""
    by_message: dict[str, list[Event]] = {}
    for event in events:
        by_message.setdefault(event.message_id, []).append(event)
    out: dict[str, Verdict] = {}
    for message_id, wanted in by_message.items():
        context = context_events(store, message_id, [e.ts for e in wanted])
        known = {e.id for e in context}
        context += [e for e in wanted if e.id not in known]
        judged = BatchClassifier(engine).classify(context, expected=len(context))
        ids = {e.id for e in wanted}
        out.update((v.id, v) for v in judged if v.id in ids)
    return out


def judge_in_context(store: SqlStore, engine: Engine, event: Event) -> Verdict:
    """EVENT's verdict given its message's context (a scanner's burst seconds after
    delivery, a honeypot hit)."""
    return judge_events(store, engine, [event])[event.id]


def judgement(verdict: Verdict) -> dict[str, object]:
    """A verdict as the review queue and the log keep it."""
    return {"verdict": verdict.verdict, "score": verdict.score, "kind": verdict.kind,
            "vendor": verdict.vendor,
            "reasons": [{"rule": f.rule, "weight": f.weight, "detail": f.detail}
                        for f in verdict.reasons]}


def _spread(moments: list[float], count: int) -> list[float]:
    """At most COUNT of the sorted MOMENTS, evenly spread and keeping the last."""
    if len(moments) <= count:
        return moments
    step = (len(moments) - 1) / (count - 1)
    return [moments[round(i * step)] for i in range(count)]
