"""Timing signals: when the request came, relative to the message's delivery."""

from __future__ import annotations

from clicksift.classify.observe import Observed
from clicksift.classify.vocabulary import Finding, Kind, finding

CLOCK_SKEW = 60.0     # seconds a request may seem to precede delivery without suspicion
OPEN_FACTOR = 0.5     # opens at delivery are weaker evidence than clicks
PREFETCH_WINDOW = 30.0  # an image proxy fetching this soon after arrival is prefetching


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def findings(obs: Observed) -> list[Finding]:
    out: list[Finding] = []
    delta = obs.delta
    if delta is None:
        return out
    origin = obs.message.delivered_from
    scale = OPEN_FACTOR if obs.is_open else 1.0
    if delta < -CLOCK_SKEW:
        if origin == "delivered event":
            out.append(finding("timing.before-delivery", 1.0,
                               f"{_duration(-delta)} before the message "
                               "was delivered", Kind.SECURITY_SCANNER))
    elif delta < 15:
        out.append(finding("timing.within-seconds-of-delivery", scale,
                           f"{_duration(max(delta, 0))} after delivery", Kind.SECURITY_SCANNER))
    elif delta < 60:
        out.append(finding("timing.within-a-minute-of-delivery", scale,
                           f"{_duration(delta)} after delivery", Kind.SECURITY_SCANNER))
    elif delta < 300:
        out.append(finding("timing.within-minutes-of-delivery", scale,
                           f"{_duration(delta)} after delivery"))
    elif delta > 3600:
        out.append(finding("timing.hours-after-delivery", 1.0,
                           f"{_duration(delta)} after delivery"))
    agent = obs.agent
    if (obs.is_open and agent is not None and agent.role == "image_proxy"
            and -CLOCK_SKEW <= delta < PREFETCH_WINDOW):
        vendor = agent.entry.vendor if agent.entry else None
        out.append(finding("timing.proxy-fetch-at-delivery", 1.0, f"{vendor or 'an image proxy'} "
                           f"fetched the pixel {_duration(max(delta, 0))} after delivery, before "
                           "anyone read it", Kind.IMAGE_PREFETCH, vendor))
    return out
