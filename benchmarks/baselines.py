"""Re-implementations of peers' published bot rules, for benchmarks/accuracy.py.

Each baseline judges one event given its message's delivery time and the message's other
events, and returns True for "machine". Sources:

* **ua_list** - Mautic's user-agent check: its configured list (default
  ``bot_helper_blocked_user_agents``) or Matomo DeviceDetector's ``isBot()``
  (mautic/mautic app/bundles/EmailBundle/Helper/BotRatioHelper.php and
  BotRatioHelperMatomoTest.php; config in app/bundles/EmailBundle/Config/config.php).
* **mautic** - BotRatioHelper: one point each for "under 2 s after send", "IP in the blocked
  list" (empty by default) and "listed user agent"; a bot at 2 of 3 points (ratio 0.6).
* **warmbly** - the rules the issue tracker lists for Warmbly: scanner networks (certain:
  always; probable: within 600 s), opens within 60 s and clicks within 30 s of sending, two
  links within 5 s, a missing user agent, the bare "Mozilla/5.0", HEAD requests. Its scanner
  networks are given clicksift's own knowledge-base networks.
* **time_120s** - anything within 120 s of delivery is a machine.
* **none** - no filtering: everything is a person.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from clicksift.classify.knowledge import load_knowledge

MAUTIC_BLOCKED_USER_AGENTS = (
    "Googlebot/2.1 (+http://www.google.com/bot.html)",
    "LinkedInBot/1.0 (compatible; Mozilla/5.0; Jakarta Commons-HttpClient/3.1 "
    "+http://www.linkedin.com)",
)


@dataclass
class Seen:
    """An event as a baseline sees it."""

    id: str
    type: str
    ts: float
    delivered_at: float | None
    ip: str | None
    user_agent: str | None
    method: str | None
    link: Any
    message_id: str
    siblings: list[Seen]


@functools.lru_cache(maxsize=100_000)
def _matomo_is_bot(user_agent: str) -> bool:
    from device_detector import DeviceDetector

    return bool(DeviceDetector(user_agent, skip_device_detection=True).parse().is_bot())


def _listed_agent(user_agent: str | None) -> bool:
    if not user_agent:
        return False
    return (any(listed in user_agent for listed in MAUTIC_BLOCKED_USER_AGENTS)
            or _matomo_is_bot(user_agent))


def ua_list(event: Seen) -> bool:
    return _listed_agent(event.user_agent)


def mautic(event: Seen) -> bool:
    quick = event.delivered_at is not None and event.ts - event.delivered_at < 2
    blocked_ip = False  # Mautic ships an empty bot_helper_blocked_ip_addresses
    points = int(quick) + int(blocked_ip) + int(_listed_agent(event.user_agent))
    return points / 3 >= 0.6


@functools.lru_cache(maxsize=100_000)
def _network(ip: str) -> str | None:
    entry = load_knowledge().match_network(ipaddress.ip_address(ip))
    if entry is None or entry.role != "scanner":
        return None
    return entry.certainty


def warmbly(event: Seen) -> bool:
    since = None if event.delivered_at is None else event.ts - event.delivered_at
    network = _network(event.ip) if event.ip else None
    if network == "certain":
        return True
    if network == "probable" and since is not None and since < 600:
        return True
    if since is not None and ((event.type == "open" and since < 60)
                              or (event.type == "click" and since < 30)):
        return True
    if event.user_agent in (None, "") or event.user_agent == "Mozilla/5.0":
        return True
    if event.method == "HEAD":
        return True
    if event.type == "click":
        for other in event.siblings:
            if (other is not event and other.type == "click" and other.link != event.link
                    and abs(other.ts - event.ts) <= 5):
                return True
    return False


def time_120s(event: Seen) -> bool:
    return event.delivered_at is not None and event.ts - event.delivered_at < 120


def no_filtering(event: Seen) -> bool:
    return False


BASELINES: dict[str, Callable[[Seen], bool]] = {
    "none": no_filtering, "ua_list": ua_list, "mautic": mautic, "warmbly": warmbly,
    "time_120s": time_120s,
}
