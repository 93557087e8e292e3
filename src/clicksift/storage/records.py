"""Records the store reads and writes."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, NamedTuple

from clicksift.events import Event, Link, dumps


class CampaignRecord(NamedTuple):
    id: str
    name: str | None
    created_at: float


@dataclass(frozen=True, slots=True)
class MessageRecord:
    id: str
    campaign_id: str | None
    recipient: str | None
    sent_at: float | None
    links: tuple[Link, ...] | None
    source: str | None = None

    @property
    def recipient_domain(self) -> str | None:
        if not self.recipient or "@" not in self.recipient:
            return None
        return self.recipient.rsplit("@", 1)[1].lower()

    def links_json(self) -> str | None:
        if self.links is None:
            return None
        return dumps([{"url": link.url, "kind": link.kind} for link in self.links])

    @classmethod
    def from_event(cls, event: Event) -> MessageRecord:
        return cls(event.message_id, event.campaign_id, event.recipient, event.ts, event.links,
                   event.source)

    @staticmethod
    def parse_links(text: str | None) -> tuple[Link, ...] | None:
        if text is None:
            return None
        return tuple(Link(item["url"], item["kind"]) for item in json.loads(text))


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An event as stored: its raw object plus what the store knows beside it."""

    seq: int
    raw: dict[str, Any]
    campaign_id: str | None
    recipient: str | None
    received_at: float


@dataclass(frozen=True, slots=True)
class MxRecord:
    """A domain's mail exchangers as last looked up."""

    domain: str
    hosts: tuple[str, ...]       # preference order
    status: str                  # ok, no_mx, null_mx, no_domain or failed
    looked_up_at: float
    expires_at: float

    def fresh(self, now: float) -> bool:
        return self.expires_at > now


@dataclass(frozen=True, slots=True)
class DoctorReport:
    """The last `clicksift doctor` report of a sending domain (its JSON document)."""

    domain: str
    checked_at: float
    report: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ArchivedEvent:
    """An event with its verdict as the archive keeps them (docs/archive.md): the store's
    columns, the event's object as JSON text (``event``) and the verdict's columns (None
    for events without a verdict)."""

    id: str
    type: str
    message_id: str
    campaign_id: str | None
    recipient: str | None
    ts: float
    received_at: float
    link_index: int | None
    link_kind: str | None
    source: str | None
    event: str
    verdict: str | None = None
    score: float | None = None
    kind: str | None = None
    vendor: str | None = None
    reasons: str | None = None           # JSON text: [{rule, weight, detail}, ...]
    engine_version: str | None = None
    final: bool | None = None
    computed_at: float | None = None


@dataclass(frozen=True, slots=True)
class ArchivedMessage:
    """A message whose events (some or all) moved to the archive."""

    message_id: str
    campaign_id: str | None
    partitions: tuple[str, ...]  # the archive's folders holding its events
    events: int
    batch: str                   # the archive run that last moved some of its events
    archived_at: float


def event_row(event: Event, received_at: float) -> tuple[Any, ...]:
    """The column values of EVENT in the order of ``queries.store.INSERT_EVENT``."""
    return (event.id, event.type, event.message_id, event.campaign_id, event.recipient,
            event.ts, received_at, event.link_index, event.link_kind, event.source,
            dumps(event.raw), event.message_id)
