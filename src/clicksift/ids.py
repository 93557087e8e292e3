"""Identifiers: time-ordered event ids and random message ids."""

from __future__ import annotations

import os
import time

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def _base32(number: int, length: int) -> str:
    chars = []
    for _ in range(length):
        number, digit = divmod(number, 32)
        chars.append(_CROCKFORD[digit])
    return "".join(reversed(chars))


def new_event_id(now: float | None = None) -> str:
    """A ULID: 48 bits of milliseconds then 80 random bits, 26 characters, sorts by time."""
    millis = int((time.time() if now is None else now) * 1000)
    return _base32(millis, 10) + _base32(int.from_bytes(os.urandom(10), "big"), 16)


def new_message_id() -> str:
    """A random message id: 'm' and 20 base32 characters (100 bits)."""
    return "m" + _base32(int.from_bytes(os.urandom(13), "big") >> 4, 20).lower()
