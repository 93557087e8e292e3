"""Signals: small functions grouped by family, each returning findings for an event.

Per-event families (user agent, network, request, timing, ESP hints, unsubscribe) look at
one event; the message family looks at all events of one message together, and the
cross-message family at aggregates over many messages (see :mod:`.crossmessage`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from clicksift.classify.observe import Observed
from clicksift.classify.signals import esp, network, request, timing, unsubscribe, useragent
from clicksift.classify.vocabulary import Finding

EventSignal = Callable[[Observed], Iterable[Finding]]

#: Per-event signal functions by family, in the order they run.
EVENT_SIGNALS: dict[str, EventSignal] = {
    "user_agent": useragent.findings,
    "network": network.findings,
    "request": request.findings,
    "timing": timing.findings,
    "esp": esp.findings,
    "unsubscribe": unsubscribe.findings,
}
