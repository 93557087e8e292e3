"""Erasure: a person's right to be forgotten (GDPR article 17), kept from being mailed again.

`clicksift erase ADDRESS...` removes the address from every table that names it: its
messages and their events, verdicts, outbound webhook deliveries and held unsubscribes,
the per-message report summaries (the campaigns' counts stay: they name no one), its
subscriptions and their log. What stays is a SHA-256 hash of the address in the
suppressions, so a later send to the same address is recognised as suppressed without the
address being kept (docs/privacy.md).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from typing import Protocol

from clicksift.errors import InputError

ERASED_PREFIX = "sha256:"


class ErasureStore(Protocol):
    def erase_recipient(self, address: str, suppression_key: str, now: float
                        ) -> dict[str, int]: ...


def normalize(address: str) -> str:
    return address.strip().lower()


def erased_key(address: str) -> str:
    """The suppression entry an erased address leaves: its SHA-256, nothing readable."""
    return ERASED_PREFIX + hashlib.sha256(normalize(address).encode("utf-8")).hexdigest()


def erase(store: ErasureStore, addresses: Sequence[str], now: float | None = None
          ) -> dict[str, dict[str, int]]:
    """Erase each address; returns address -> what was removed (table label -> rows)."""
    now = time.time() if now is None else now
    for address in addresses:
        if "@" not in address or not normalize(address).split("@")[0]:
            raise InputError(f"{address!r} is not an email address", field="ADDRESS")
    return {normalize(a): store.erase_recipient(normalize(a), erased_key(a), now)
            for a in dict.fromkeys(addresses)}
