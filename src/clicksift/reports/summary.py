"""What one message contributes to its campaign's report.

A message's events (with their verdicts) are boiled down to a :class:`MessageSummary`:
its campaign, recipient domain, delivery, and one row per distinct (type, class, kind,
vendor, link, delay bucket, day) with a count. :func:`cells` turns a summary into report
cells, ``(dimension, key, metric) -> number``; the rollup keeps each message's summary so a
change (a new event, a re-score) is applied to the campaign's cells as a difference.

Counting rules (docs/reports.md):

- raw counts every event; ``human``/``nhi`` follow the verdict; an engagement event
  without a verdict yet is ``pending``;
- a click on the unsubscribe link opens the preference page: it is counted apart, not as
  a click; a honeypot hit is a raw click (naive tools count it) and never a human one;
- a human click implies a human open (the person saw the message with images off);
- machine opens are NHI opens by privacy proxies and image prefetchers (Apple MPP).

Anchors (docs/reports.md, "How far to trust the verdicts"): some events carry their own
label. The other requests of an address that fetched the message's honeypot link are a
machine's; an RFC 8058 one-click POST and a click that led to a conversion are a person's.
A summary counts, per anchor, how many such events were judged and how many agreed.
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

from clicksift.classify.signals.esp import esp_says_machine
from clicksift.classify.vocabulary import Kind, Label
from clicksift.events import EventType, LinkKind, loads
from clicksift.ingest import ADAPTERS

HUMAN, NHI, PENDING, NONE = Label.HUMAN, Label.NHI, "pending", "-"
ENGAGEMENT = (EventType.OPEN, EventType.CLICK, EventType.UNSUBSCRIBE)
LABELS = (HUMAN, NHI)
MACHINE_OPEN_KINDS = frozenset({Kind.PRIVACY_PREFETCH, Kind.IMAGE_PREFETCH})
UNIDENTIFIED = "unidentified"
_ESPS = frozenset(ADAPTERS)
SEP = "\x1f"   # joins the parts of a compound key or metric (vendor and kind, ...)

#: Upper edges (seconds since delivery) of the timeline's buckets: roughly logarithmic.
DELAY_EDGES = (1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600, 43200, 86400,
               172800, 604800)
DELAY_LABELS = ("<1s", "1-2s", "2-5s", "5-10s", "10-30s", "30s-1m", "1-2m", "2-5m",
                "5-10m", "10-30m", "30m-1h", "1-2h", "2-6h", "6-12h", "12-24h", "1-2d",
                "2-7d", "7d+")
BEFORE_DELIVERY, NO_DELIVERY = "before", "unknown"


def delay_bucket(delay: float | None) -> str:
    """The timeline bucket of an event DELAY seconds after its message's delivery."""
    if delay is None:
        return NO_DELIVERY
    if delay < -1:
        return BEFORE_DELIVERY
    return DELAY_LABELS[bisect.bisect_right(DELAY_EDGES, max(delay, 0.0))]


def day_of(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d")


class Row(NamedTuple):
    """One event as the rollup reads it from the store."""

    message_id: str
    campaign_id: str | None
    recipient: str | None
    type: str
    ts: float
    link_index: int | None
    link_kind: str | None
    verdict: str | None
    kind: str | None
    vendor: str | None
    url: str | None          # clicks without a link index
    prepared_at: str | None  # the tracking token's issue time (tracker events)
    value: Any               # conversions
    currency: Any
    id: str = ""
    ip: str | None = None
    form: Any = None         # an unsubscribe's form fields (JSON text or a mapping)
    click_id: str | None = None  # a conversion's click
    source: str | None = None    # who recorded it (an ESP's name for ESP events)
    esp_flags: Any = None        # an ESP event's flags (JSON text or a mapping)


#: The anchors: events whose label is known without the classifier, and the verdict
#: each must have.
HONEYPOT_SOURCE, ONE_CLICK, CONVERTING_CLICK = "honeypot_source", "one_click", "converting_click"
ANCHOR_EXPECTS = {HONEYPOT_SOURCE: NHI, ONE_CLICK: HUMAN, CONVERTING_CLICK: HUMAN}


@dataclass(frozen=True, slots=True)
class MessageSummary:
    campaign: str
    domain: str
    delivered: bool
    rows: tuple[tuple[Any, ...], ...]   # (type, class, kind, vendor, link, link_kind, bucket,
                                        #  day, value, currency, count)
    anchors: tuple[tuple[str, int, int], ...] = ()   # (anchor, judged, agreed)
    #: ESP events judged, by what the ESP's flags and the verdict say:
    #: (type, "machine" or "person" as the ESP counts it, verdict, events)
    esp_verdicts: tuple[tuple[str, str, str, int], ...] = ()

    def dumps(self) -> str:
        from clicksift.events import dumps
        return dumps([self.campaign, self.domain, self.delivered, self.rows,
                      self.anchors, self.esp_verdicts])

    @classmethod
    def loads(cls, text: str) -> MessageSummary:
        campaign, domain, delivered, rows, *rest = loads(text)   # older ones: fewer parts
        anchors = tuple((str(a), int(j), int(g)) for a, j, g in rest[0]) if rest else ()
        esp = tuple((str(t), str(e), str(v), int(n)) for t, e, v, n in rest[1]) \
            if len(rest) > 1 else ()
        return cls(campaign, domain, bool(delivered), tuple(tuple(row) for row in rows),
                   anchors, esp)


def summarize(rows: Iterable[Row], delivered_hint: float | None = None) -> MessageSummary:
    """The summary of one message from its events (any order)."""
    events = list(rows)
    campaign = next((r.campaign_id for r in events if r.campaign_id), None) or ""
    recipient = next((r.recipient for r in events if r.recipient), None) or ""
    domain = recipient.rsplit("@", 1)[1].lower() if "@" in recipient else ""
    deliveries = [r.ts for r in events if r.type == EventType.DELIVERED]
    delivered_at = min(deliveries) if deliveries else delivered_hint
    if delivered_at is None:
        delivered_at = _prepared_at(events)
    counted: Counter[tuple[Any, ...]] = Counter()
    for r in events:
        counted[_key(r, delivered_at)] += 1
    return MessageSummary(campaign, domain, bool(deliveries),
                          tuple(sorted((*key, n) for key, n in counted.items())),
                          anchor_counts(events), esp_verdicts(events))


def anchored(events: list[Row]) -> dict[str, str]:
    """The anchored events of one message: event id -> anchor."""
    trap_addresses = {r.ip for r in events
                      if r.type == EventType.CLICK and r.link_kind == LinkKind.HONEYPOT and r.ip}
    converted = {r.click_id for r in events if r.type == EventType.CONVERSION and r.click_id}
    out: dict[str, str] = {}
    for r in events:
        if r.type == EventType.UNSUBSCRIBE and _one_click(r.form):
            out[r.id] = ONE_CLICK
        elif r.type == EventType.CLICK and r.id in converted:
            out[r.id] = CONVERTING_CLICK
        elif r.type in ENGAGEMENT and r.ip in trap_addresses and r.link_kind != "honeypot":
            out[r.id] = HONEYPOT_SOURCE
    return out


def anchor_counts(events: list[Row]) -> tuple[tuple[str, int, int], ...]:
    """(anchor, judged, agreed) for each anchor present in EVENTS; events not judged yet
    are left out."""
    verdicts = {r.id: r.verdict for r in events}
    judged: Counter[str] = Counter()
    agreed: Counter[str] = Counter()
    for event_id, anchor in anchored(events).items():
        verdict = verdicts[event_id]
        if verdict in (HUMAN, NHI):
            judged[anchor] += 1
            agreed[anchor] += verdict == ANCHOR_EXPECTS[anchor]
    return tuple((anchor, judged[anchor], agreed[anchor]) for anchor in sorted(judged))


def esp_verdicts(events: list[Row]) -> tuple[tuple[str, str, str, int], ...]:
    """How the ESP's own flags and the verdicts judged the message's ESP opens and clicks:
    (type, the ESP's word, verdict, events); events not judged yet are left out."""
    counted: Counter[tuple[str, str, str]] = Counter()
    for r in events:
        if r.type in (EventType.OPEN, EventType.CLICK) and r.source in _ESPS \
                and r.verdict in LABELS:
            flags = r.esp_flags
            if isinstance(flags, str):
                try:
                    flags = loads(flags)
                except ValueError:
                    flags = None
            word = "machine" if esp_says_machine(flags) else "person"
            counted[r.type, word, r.verdict] += 1
    return tuple(sorted((*key, n) for key, n in counted.items()))


def _one_click(form: Any) -> bool:
    if isinstance(form, str):
        try:
            form = loads(form)
        except ValueError:
            return False
    return isinstance(form, dict) and form.get("List-Unsubscribe") == "One-Click"


def _prepared_at(events: list[Row]) -> float | None:
    from clicksift.events import parse_timestamp
    for r in events:
        if isinstance(r.prepared_at, str):
            try:
                return parse_timestamp(r.prepared_at)
            except ValueError:
                continue
    return None


def _key(r: Row, delivered_at: float | None) -> tuple[Any, ...]:
    cls = NONE
    if r.type in ENGAGEMENT:
        cls = r.verdict if r.verdict in (HUMAN, NHI) else PENDING
    kind = (r.kind or Kind.UNKNOWN_AUTOMATION) if cls == NHI else None
    vendor = (r.vendor or UNIDENTIFIED) if cls == NHI else None
    link = None
    if r.type == EventType.CLICK:
        link = f"#{r.link_index}" if r.link_index is not None else (r.url or "")
    delay = None if delivered_at is None else r.ts - delivered_at
    bucket = delay_bucket(delay) if r.type in ENGAGEMENT else None
    value = r.value if r.type == EventType.CONVERSION and isinstance(r.value, int | float) \
        else None
    currency = str(r.currency).upper() if value is not None and r.currency else None
    return (r.type, cls, kind, vendor, link, r.link_kind, bucket, day_of(r.ts), value,
            currency)


Cells = Counter[tuple[str, str, str]]


def cells(summary: MessageSummary) -> Cells:
    """The report cells one message contributes to its campaign."""
    out: Cells = Counter()
    domain = summary.domain or "(none)"
    out["total", "", "messages"] += 1
    out["domain", domain, "messages"] += 1
    if summary.delivered:
        out["total", "", "delivered"] += 1
        out["domain", domain, "delivered"] += 1
    seen: set[tuple[str, str, str]] = set()
    for type_, cls, kind, vendor, link, link_kind, bucket, day, value, currency, n in \
            summary.rows:
        metric = _metric(type_, link_kind)
        _count_event(out, seen, domain, metric, cls, kind, vendor, bucket, day, n)
        if metric == EventType.CLICK:
            out["link", link, "click.raw"] += n
            out["link", link, f"click.{cls}"] += n
            seen.add(("link", link, "clickers.raw"))
            if cls == HUMAN:
                seen.add(("link", link, "clickers.human"))
            if link_kind == "honeypot":
                out["link", link, "honeypot"] += n
                out["total", "", "honeypot"] += n
        if type_ == EventType.CONVERSION:
            seen.add(("total", "", "converters"))
            if value is not None:
                out["currency", currency or "", "value"] += value * n
                out["currency", currency or "", "conversions"] += n
    for cell in seen:
        out[cell] += 1
    _implied_open(out, seen, domain)
    for anchor, judged, agreed in summary.anchors:
        out["anchor", anchor, "judged"] += judged
        out["anchor", anchor, "agreed"] += agreed
    for type_, word, verdict, n in summary.esp_verdicts:
        out["esp", type_, f"{word}.{verdict}"] += n
    return out


def _metric(type_: str, link_kind: str | None) -> str:
    if type_ == EventType.CLICK and link_kind == LinkKind.UNSUBSCRIBE:
        return "unsubscribe_page"
    return type_


def _count_event(out: Cells, seen: set[tuple[str, str, str]], domain: str, metric: str,
                 cls: str, kind: str | None, vendor: str | None, bucket: str | None,
                 day: str, n: int) -> None:
    out["total", "", f"{metric}.raw"] += n
    out["day", day, f"{metric}.raw"] += n
    if cls == NONE:
        return
    out["total", "", f"{metric}.{cls}"] += n
    out["day", day, f"{metric}.{cls}"] += n
    out["domain", domain, f"{metric}.raw"] += n
    out["domain", domain, f"{metric}.{cls}"] += n
    out["timeline", bucket or NO_DELIVERY, f"{metric}.raw"] += n
    out["timeline", bucket or NO_DELIVERY, f"{metric}.{cls}"] += n
    unique = {"open": "openers", "click": "clickers", "unsubscribe": "unsubscribers"}.get(metric)
    if unique:
        seen.add(("total", "", f"{unique}.raw"))
        seen.add(("domain", domain, f"{unique}.raw"))
        if cls == HUMAN:
            seen.add(("total", "", f"{unique}.human"))
            seen.add(("domain", domain, f"{unique}.human"))
    if cls == NHI:
        assert kind is not None and vendor is not None
        seen.add(("total", "", "nhi_messages"))
        seen.add(("domain", domain, "nhi_messages"))
        out["kind", kind, metric] += n
        out["vendor", vendor, metric] += n
        out["vendor_kind", f"{vendor}{SEP}{kind}", metric] += n
        out["domain", domain, f"vendor{SEP}{vendor}{SEP}{metric}"] += n
        if metric == EventType.OPEN and kind in MACHINE_OPEN_KINDS:
            out["total", "", "open.machine"] += n
        if metric == EventType.CLICK:
            out["domain", domain, f"delay{SEP}{bucket or NO_DELIVERY}"] += n


def _implied_open(out: Cells, seen: set[tuple[str, str, str]], domain: str) -> None:
    """A human click implies a human open: count the message among human openers."""
    if ("total", "", "clickers.human") in seen and ("total", "", "openers.human") not in seen:
        out["total", "", "openers.human"] += 1
        out["total", "", "openers.implied"] += 1
        out["domain", domain, "openers.human"] += 1


def difference(new: Cells, old: Cells) -> Cells:
    """NEW minus OLD, keeping negative and dropping zero entries."""
    out: Cells = Counter(new)
    out.subtract(old)
    return Counter({cell: n for cell, n in out.items() if n})
