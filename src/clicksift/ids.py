"""Identifiers: time-ordered event ids and random message ids."""

from __future__ import annotations

import base64
import os
import random
import time

_random_bits = random.getrandbits
# RFC 4648 base32 mapped onto Crockford's alphabet (no look-alike letters).
_TO_CROCKFORD = bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567",
                                b"0123456789ABCDEFGHJKMNPQRSTVWXYZ")


def new_event_id(now: float | None = None) -> str:
    """A 32-hex-digit id: 48 bits of Unix milliseconds, then 80 random bits.

    Ids made in a later millisecond sort after earlier ones. The random part needs
    uniqueness, not secrecy (the `random` module is reseeded in forked workers).
    """
    millis = int((time.time() if now is None else now) * 1000)
    return f"{millis & 0xFFFFFFFFFFFF:012x}{_random_bits(80):020x}"


def new_message_id() -> str:
    """A random message id: 'm' and 20 lower-case base32 characters (100 bits)."""
    encoded = base64.b32encode(os.urandom(15))[:20].translate(_TO_CROCKFORD)
    return "m" + encoded.decode("ascii").lower()
