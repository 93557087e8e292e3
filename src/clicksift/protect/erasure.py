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
from collections.abc import Callable, Sequence

import pyarrow as pa
import pyarrow.compute as pc

from clicksift.archive import open_archive
from clicksift.errors import InputError
from clicksift.storage import SqlStore

ERASED_PREFIX = "sha256:"
ARCHIVE_LABEL = "archived events"


def normalize(address: str) -> str:
    return address.strip().lower()


def erased_key(address: str) -> str:
    """The suppression entry an erased address leaves: its SHA-256, nothing readable."""
    return ERASED_PREFIX + hashlib.sha256(normalize(address).encode("utf-8")).hexdigest()


def erase(store: SqlStore, addresses: Sequence[str], now: float | None = None
          ) -> dict[str, dict[str, int]]:
    """Erase each address; returns address -> what was removed (table label -> rows).
    The archive goes first: an erasure cut short leaves the store still naming the
    address, and running it again finishes it."""
    now = time.time() if now is None else now
    for address in addresses:
        if "@" not in address or not normalize(address).split("@")[0]:
            raise InputError(f"{address!r} is not an email address", field="ADDRESS")
    archive = open_archive(store)
    removed = {}
    for address in dict.fromkeys(normalize(a) for a in addresses):
        archived = 0
        if archive is not None:
            with archive.locked():
                archived = archive.remove_rows(
                    naming(address, store.recipient_message_ids(address)))
        removed[address] = store.erase_recipient(address, erased_key(address), now)
        if archived:
            removed[address][ARCHIVE_LABEL] = archived
    return removed


def naming(address: str, message_ids: Sequence[str]) -> Callable[[pa.Table], pa.Array]:
    """Which rows of an archive file belong to ADDRESS: its recipient, one of its
    MESSAGE_IDS, or an event or verdict whose text holds the address (any case)."""
    messages = pa.array(sorted(set(message_ids)), pa.string())

    def rows(table: pa.Table) -> pa.Array:
        marks = pc.or_kleene(
            pc.equal(pc.utf8_lower(table["recipient"]), address),
            pc.is_in(table["message_id"], value_set=messages))
        for column in ("event", "reasons"):
            marks = pc.or_kleene(marks, pc.match_substring(table[column], address,
                                                           ignore_case=True))
        return marks
    return rows

