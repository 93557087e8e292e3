"""Unsubscribe signals: an RFC 8058 one-click POST is a person acting through their provider."""

from __future__ import annotations

from clicksift.classify.observe import Observed
from clicksift.classify.vocabulary import Finding, finding
from clicksift.events import EventType


def findings(obs: Observed) -> list[Finding]:
    event = obs.event
    if event.type != EventType.UNSUBSCRIBE or event.method not in (None, "POST"):
        return []
    form = event.form or {}
    if str(form.get("List-Unsubscribe", "")).strip().lower() == "one-click":
        return [finding("unsub.one-click", 1.0, "an RFC 8058 one-click unsubscribe sent by the "
                        "recipient's mailbox provider", decisive=True)]
    return []
