"""Throttling of failed dashboard logins, per user name and per client address.

A few failures cost nothing; after them each further try must wait twice as long as the
last (1 s, 2 s, 4 s ... up to five minutes), counted over the last fifteen minutes. A try
that must wait is refused before any password is checked, with the seconds to wait (the
dashboard answers 429 with Retry-After). A name's failures are forgotten when its owner
logs in. The counts live in the server process: with several servers, each counts its own.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

WINDOW = 900.0              # seconds of failures that count
FREE_PER_NAME = 5           # failures a user name may have before it must wait
FREE_PER_ADDRESS = 20       # and a client address (one office, many people)
FIRST_WAIT = 1.0
LONGEST_WAIT = 300.0
MAX_KEYS = 10_000           # past this many names and addresses, the stale ones go


class LoginThrottle:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}

    def wait(self, name: str, address: str | None) -> float:
        """Seconds before NAME may try again from ADDRESS (0: now)."""
        now = self._clock()
        return max(self._wait(f"name:{name.lower()}", FREE_PER_NAME, now),
                   self._wait(f"address:{address}", FREE_PER_ADDRESS, now) if address else 0.0)

    def failed(self, name: str, address: str | None) -> None:
        now = self._clock()
        if len(self._failures) >= MAX_KEYS:
            self._forget_stale(now)
        for key in (f"name:{name.lower()}", f"address:{address}" if address else None):
            if key is not None:
                self._failures.setdefault(key, deque()).append(now)

    def succeeded(self, name: str) -> None:
        self._failures.pop(f"name:{name.lower()}", None)

    def _wait(self, key: str, free: int, now: float) -> float:
        times = self._failures.get(key)
        if not times:
            return 0.0
        while times and now - times[0] > WINDOW:
            times.popleft()
        if len(times) < free:
            return 0.0
        wait: float = min(FIRST_WAIT * 2.0 ** (len(times) - free), LONGEST_WAIT)
        return max(0.0, times[-1] + wait - now)

    def _forget_stale(self, now: float) -> None:
        for key in [k for k, times in self._failures.items() if now - times[-1] > WINDOW]:
            del self._failures[key]
