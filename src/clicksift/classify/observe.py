"""Everything the signals look at for one event, worked out once."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from clicksift.classify.agents import AgentInfo
from clicksift.classify.flat_findings import (
    AT_DECISIVE,
    AT_EVIDENCE,
    AT_KIND,
    AT_RULE,
    AT_VENDOR,
    FIELDS,
    flatten,
)
from clicksift.classify.networks import NetInfo
from clicksift.classify.vocabulary import Finding, Kind
from clicksift.events import Event, EventType, LinkKind, parse_timestamp


@dataclass(slots=True)
class MessageFacts:
    """What is known about the message an event belongs to."""

    message_id: str
    delivered_at: float | None = None
    delivered_from: str | None = None      # "delivered event", "send time", "prepared_at"
    recipient: str | None = None
    content_links: int = 0
    links: tuple[tuple[str, str], ...] = ()  # (url, kind) in document order

    @property
    def recipient_domain(self) -> str | None:
        if not self.recipient or "@" not in self.recipient:
            return None
        return self.recipient.rsplit("@", 1)[1].lower()


_CLICK = EventType.CLICK.value
_OPEN = EventType.OPEN.value


@dataclass(slots=True, init=False)
class Observed:
    event: Event
    message: MessageFacts
    agent: AgentInfo | None
    net: NetInfo | None
    link_kind: str | None
    link_key: str | None            # which link (index or URL) a click followed
    findings: list[Finding]
    is_click: bool
    is_open: bool
    lead: str | None                # the id of the same client's request this one follows up

    # Written out so that it is compiled (a dataclass's own __init__ is not).
    def __init__(self, event: Event, message: MessageFacts, agent: AgentInfo | None,
                 net: NetInfo | None, link_kind: str | None, link_key: str | None,
                 findings: list[Finding] | None = None) -> None:
        self.event = event
        self.message = message
        self.agent = agent
        self.net = net
        self.link_kind = link_kind
        self.link_key = link_key
        self.findings = [] if findings is None else findings
        self.is_click = event.type == _CLICK
        self.is_open = event.type == _OPEN
        self.lead = None

    def has(self, rule: str) -> bool:
        for finding in self.findings:  # noqa: SIM110 - a loop is cheaper than any()
            if finding[0] == rule:
                return True
        return False

    def has_any(self, rules: frozenset[str]) -> bool:
        for finding in self.findings:  # noqa: SIM110 - a loop is cheaper than any()
            if finding[0] in rules:
                return True
        return False

    def decided(self) -> bool:
        """A finding already settles the verdict (a honeypot, a burst over five links...):
        corroborating evidence has nothing to add to it."""
        for finding in self.findings:  # noqa: SIM110 - a loop is cheaper than any()
            if finding[5]:
                return True
        return False

    @property
    def delta(self) -> float | None:
        """Seconds between delivery and this event, when the delivery time is known."""
        at = self.message.delivered_at
        return None if at is None else self.event.ts - at

    @property
    def source(self) -> str | None:
        return self.net.source if self.net is not None else None

    def digest(self, seq: int) -> EventDigest:
        """What the second pass needs of this event, without the event itself."""
        return EventDigest(seq, self.event.id, self.event.type, self.event.ts,
                       self.event.message_id, self.message.recipient_domain, self.source,
                       self.event.ip, self.delta, flatten(self.findings),
                       missing_evidence(self), self.lead)




@dataclass(slots=True, init=False)
class EventDigest:
    """An observed event reduced to what cross-message signals and the verdict need.

    FINDINGS holds the findings' fields run together (rule, weight, detail, ... of the
    first, then of the second): millions of digests go to disk and back between the two
    passes, and a flat list is one object where a list of findings is many."""

    seq: int
    event_id: str
    type: str
    ts: float
    message_id: str
    domain: str | None
    source: str | None
    address: str | None
    delta: float | None
    findings: list[Any]
    missing: tuple[str, ...]
    lead: str | None               # the id of the same client's request this one follows up
    is_click: bool
    is_open: bool

    def __init__(self, seq: int, event_id: str, type: str, ts: float,
                 message_id: str, domain: str | None, source: str | None,
                 address: str | None, delta: float | None, findings: list[Any],
                 missing: tuple[str, ...], lead: str | None = None) -> None:
        self.seq = seq
        self.event_id = event_id
        self.type = type
        self.ts = ts
        self.message_id = message_id
        self.domain = domain
        self.source = source
        self.address = address
        self.delta = delta
        self.findings = findings
        self.missing = missing
        self.lead = lead
        self.is_click = type == _CLICK
        self.is_open = type == _OPEN

    def has_any(self, rules: frozenset[str]) -> bool:
        flat = self.findings
        for i in range(AT_RULE, len(flat), FIELDS):  # noqa: SIM110
            if flat[i] in rules:
                return True
        return False

    def decided(self) -> bool:
        """A finding already settles the verdict (a honeypot, a burst over five links...)."""
        flat = self.findings
        for i in range(AT_DECISIVE, len(flat), FIELDS):  # noqa: SIM110
            if flat[i]:
                return True
        return False

    def add(self, finding: Finding) -> None:
        self.findings.extend(finding)

    def scanned_here(self) -> bool:
        """The address itself fetched a honeypot or most links of the message (not merely
        one address among a farm's)."""
        flat = self.findings
        for i in range(0, len(flat), FIELDS):
            rule = flat[i + AT_RULE]
            if rule == "context.honeypot" or (
                    rule == "context.all-links-burst"
                    and flat[i + AT_EVIDENCE] != "farm"):
                return True
        return False

    def scanner_vendor(self) -> str | None:
        """The first vendor a security-scanner finding names."""
        flat = self.findings
        for i in range(0, len(flat), FIELDS):
            vendor = flat[i + AT_VENDOR]
            if vendor and flat[i + AT_KIND] == Kind.SECURITY_SCANNER:
                return str(vendor)
        return None


def missing_evidence(obs: Observed) -> tuple[str, ...]:
    """The signals this event could not offer (ESP events often lack several)."""
    event = obs.event
    missing = []
    if event.user_agent is None:
        missing.append("user agent")
    if event.ip is None:
        missing.append("client address")
    if event.method is None:
        missing.append("HTTP method")
    if "headers" not in event.raw:
        missing.append("request headers")
    if obs.message.delivered_at is None:
        missing.append("delivery time")
    if obs.message.recipient is None:
        missing.append("recipient")
    return shared_missing(tuple(missing))


_MISSING: dict[tuple[str, ...], tuple[str, ...]] = {}


def shared_missing(names: tuple[str, ...]) -> tuple[str, ...]:
    """One tuple object per combination of missing evidence (millions of digests share a
    handful)."""
    return _MISSING.setdefault(names, names)


def message_facts(events: list[Event]) -> MessageFacts:
    """Gather a message's delivery time, recipient and links from its events."""
    facts = MessageFacts(events[0].message_id)
    prepared: float | None = None
    sent: float | None = None
    for event in events:
        if event.recipient and not facts.recipient:
            facts.recipient = event.recipient
        if event.type == EventType.DELIVERED:
            if facts.delivered_at is None or event.ts < facts.delivered_at:
                facts.delivered_at, facts.delivered_from = event.ts, "delivered event"
            if event.links is not None:
                facts.links = tuple((link.url, link.kind) for link in event.links)
            if event.recipient:
                facts.recipient = event.recipient
        elif event.type == EventType.SENT:
            sent = event.ts if sent is None else min(sent, event.ts)
        elif prepared is None and isinstance(event.raw.get("prepared_at"), str):
            try:
                prepared = parse_timestamp(event.raw["prepared_at"])
            except ValueError:
                prepared = None
    if facts.delivered_at is None and sent is not None:
        facts.delivered_at, facts.delivered_from = sent, "send time"
    if facts.delivered_at is None and prepared is not None:
        facts.delivered_at, facts.delivered_from = prepared, "prepared_at"
    facts.content_links = sum(1 for _, kind in facts.links if kind == LinkKind.CONTENT)
    return facts


def resolve_link(event: Event, facts: MessageFacts) -> tuple[str | None, str | None]:
    """The (kind, key) of the link a click or unsubscribe followed."""
    if event.type not in (EventType.CLICK, EventType.UNSUBSCRIBE):
        return None, None
    index = event.link_index
    kind = event.link_kind
    if index is not None and 0 <= index < len(facts.links):
        url, listed_kind = facts.links[index]
        return kind or listed_kind, f"#{index}"
    if event.url is not None and kind is None:
        for position, (url, listed_kind) in enumerate(facts.links):
            if url == event.url:
                return listed_kind, f"#{position}"
    if event.type == EventType.UNSUBSCRIBE:
        kind = kind or LinkKind.UNSUBSCRIBE.value
    return kind or LinkKind.CONTENT.value, (f"#{index}" if index is not None else event.url)
