"""Judging stored messages again with their whole context: final verdicts.

`clicksift rescore`, `import`, `load` and `ingest reparse` judge the messages they touched
this way, and the tracking server settles its provisional verdicts with it in the
background (``settle_after_seconds``). The messages judged together share the
cross-message context (one source on many recipients' mail), so they are judged in one
batch. The store is anything that reads a message's stored events and saves verdicts.

An event whose address was hashed (``ip_retention = hash``) is still part of its message's
context, but keeps its final verdict: made with the address, it is better than any
judgement without it (docs/privacy.md).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

from clicksift.classify.batch import BatchClassifier
from clicksift.classify.engine import Engine
from clicksift.classify.gateways import mx_priors
from clicksift.classify.vocabulary import Verdict
from clicksift.events import Event, event_from_dict

#: Verdicts saved per transaction.
SAVE_EVERY = 5000


class VerdictStore(Protocol):
    def events_of_messages(self, message_ids: Sequence[str]) -> Iterator[Any]: ...

    def save_verdicts(self, verdicts: Iterable[Verdict], engine_version: str) -> int: ...

    def transaction(self) -> AbstractContextManager[None]: ...

    def mx_records(self, domains: Sequence[str] | None = None) -> Mapping[str, Any]: ...

    def redact_addresses(self, message_ids: Sequence[str], mode: str) -> int: ...


def stored_events(store: VerdictStore, message_ids: Sequence[str],
                  hashed: set[str] | None = None) -> Iterator[Event]:
    """Every stored event of MESSAGE_IDS, as events again; the ids of those whose address
    was hashed (``ip_retention = hash``) are added to HASHED."""
    for stored in store.events_of_messages(message_ids):
        if hashed is not None and address_hashed(stored.raw):
            hashed.add(str(stored.raw.get("id")))
        yield event_from_dict(stored.raw)


def address_hashed(raw: Mapping[str, Any]) -> bool:
    """Whether an event's address was replaced by its hash: judged again, it would be
    judged blind to every network rule, so its final verdict stands (docs/privacy.md)."""
    return "ip_hash" in raw and not raw.get("ip")


def rescore(store: VerdictStore, engine: Engine, message_ids: Sequence[str], *,
            workers: int = 1,
            progress: Callable[[str, int], None] | None = None) -> BatchClassifier:
    """Final verdicts for every engagement event of MESSAGE_IDS, judged together, saved
    (a final verdict replaces a provisional one). Returns the classifier (its stats).
    Recipient domains' gateways known from their MX (the store's cache) are the
    classifier's prior for domains whose traffic has not shown its pattern yet. Once the
    verdicts are final, the events' addresses are kept, truncated or hashed
    (``ip_retention``)."""
    engine.mx_gateways = mx_priors(store.mx_records().values())
    batch = BatchClassifier(engine, workers=workers, progress=progress)
    hashed: set[str] = set()
    save_final(store, batch.classify(stored_events(store, message_ids, hashed),
                                     expected=len(message_ids) * 4),
               engine.version, message_ids, engine.ip_retention, keep=hashed)
    return batch


def save_final(store: VerdictStore, verdicts: Iterable[Verdict], engine_version: str,
               message_ids: Sequence[str], ip_retention: str,
               keep: Collection[str] = ()) -> int:
    """Save VERDICTS, the final verdicts on MESSAGE_IDS (in transactions of SAVE_EVERY),
    except on the events KEEP names (their addresses are hashed: their verdicts stand);
    then apply IP_RETENTION to the messages' addresses. Returns how many were saved."""
    pending: list[Verdict] = []
    saved = 0
    for verdict in verdicts:
        if verdict.id in keep:
            continue
        pending.append(verdict)
        if len(pending) >= SAVE_EVERY:
            with store.transaction():
                saved += store.save_verdicts(pending, engine_version)
            pending = []
    with store.transaction():
        saved += store.save_verdicts(pending, engine_version)
    store.redact_addresses(message_ids, ip_retention)   # the verdicts are final now
    return saved
