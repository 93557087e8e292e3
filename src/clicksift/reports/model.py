"""The typed results of reports. The CLI, the JSON API and the dashboard render these;
none of them computes a metric of its own."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from clicksift.classify.vocabulary import Label


@dataclass(frozen=True, slots=True)
class Counts:
    """Events of one type: all of them (raw), and split by verdict."""

    raw: int = 0
    human: int = 0
    nhi: int = 0
    pending: int = 0      # not judged yet

    @property
    def nhi_share(self) -> float | None:
        judged = self.human + self.nhi
        return self.nhi / judged if judged else None


@dataclass(frozen=True, slots=True)
class Pair:
    """A figure as a naive tool shows it (raw) and counting people only (human)."""

    raw: float | None
    human: float | None


@dataclass(frozen=True, slots=True)
class Revenue:
    currency: str
    conversions: int
    value: float


@dataclass(frozen=True, slots=True)
class Totals:
    delivered: int
    messages: int                 # messages with any stored event
    opens: Counts
    machine_opens: int            # NHI opens by privacy proxies and image prefetchers
    clicks: Counts
    honeypot_hits: int
    unsubscribes: Counts          # nhi: attempts by machines
    preference_page_views: Counts
    openers: Pair                 # unique messages opened (human: includes implied opens)
    implied_openers: int          # people who clicked without the pixel loading
    clickers: Pair
    unsubscribers: Pair
    nhi_messages: int             # messages with at least one machine event
    conversions: int
    converters: int
    revenue: tuple[Revenue, ...]
    open_rate: Pair               # openers / delivered
    click_rate: Pair              # clickers / delivered
    click_to_open: Pair           # clickers / openers
    unsubscribe_rate: Pair
    nhi_share: float | None       # machine share of judged opens, clicks and unsubscribes
    click_to_conversion: Pair     # converters / clickers (human: of the people who clicked)


@dataclass(frozen=True, slots=True)
class Share:
    """Machine events of one kind or vendor."""

    name: str
    opens: int
    clicks: int
    unsubscribes: int
    events: int
    share: float                  # of all machine events
    kinds: tuple[str, ...] = ()   # for a vendor: the kinds it was seen as


@dataclass(frozen=True, slots=True)
class TimelinePoint:
    bucket: str                   # time since delivery, e.g. "10-30s"
    opens: Counts
    clicks: Counts


@dataclass(frozen=True, slots=True)
class DayPoint:
    day: str                      # YYYY-MM-DD (UTC)
    delivered: int
    opens: Counts
    clicks: Counts


@dataclass(frozen=True, slots=True)
class LinkRow:
    key: str                      # "#3" (position in the message) or the URL
    index: int | None
    url: str | None
    kind: str | None              # content, honeypot, unsubscribe
    clicks: Counts
    clickers: Pair
    honeypot_hits: int


@dataclass(frozen=True, slots=True)
class DomainRow:
    domain: str
    messages: int
    delivered: int
    events: int                   # opens, clicks and unsubscribes
    nhi_events: int
    nhi_share: float | None
    opens: Counts
    clicks: Counts
    openers: Pair
    clickers: Pair
    gateway: str | None           # the machine vendor seen most at this domain
    gateway_share: float | None   # its share of the domain's machine events
    typical_delay: str | None     # median delay of machine clicks after delivery
    machine_clicks_first_minute: float | None   # share of machine clicks within 60 s
    mx_gateway: str | None = None  # the gateway or provider its MX points to (gateways)


@dataclass(frozen=True, slots=True)
class CampaignSummary:
    id: str
    name: str | None
    first_day: str | None
    delivered: int
    openers: Pair
    clickers: Pair
    open_rate: Pair
    click_rate: Pair
    unsubscribers: Pair
    nhi_share: float | None
    #: Opens, clicks and unsubscribes not judged yet: their human numbers are not known.
    pending: int = 0


@dataclass(frozen=True, slots=True)
class AnchorCheck:
    """How the classifier judged one kind of anchored event (events whose label the
    campaign's own traffic carries)."""

    anchor: str          # honeypot_source, one_click or converting_click
    expected: str        # the verdict such an event must have: nhi or human
    judged: int          # anchored events with a verdict
    agreed: int          # ... whose verdict was the expected one
    share: float | None  # agreed / judged


@dataclass(frozen=True, slots=True)
class Trust:
    """The campaign's own evidence of how far to trust the verdicts: machine recall on the
    other requests of addresses that fetched a honeypot link, and person precision on
    anchored people (one-click unsubscribes, clicks that led to a conversion)."""

    machine_recall: float | None
    machine_events: int
    person_precision: float | None
    person_events: int
    checks: tuple[AnchorCheck, ...]


@dataclass(frozen=True, slots=True)
class EspAgreement:
    """The ESP's own flags beside the verdicts, for one type of ESP event (opens or
    clicks): what both call a machine, what only one of them does, and what neither
    does. The ESP's word is its machine flags and, where it has them, its suspicions
    (Braze's suspected bot clicks)."""

    type: str
    judged: int              # the ESP's events of this type with a verdict
    both: int                # flagged by the ESP and judged a machine
    esp_only: int            # flagged by the ESP, judged a person
    clicksift_only: int      # not flagged by the ESP, judged a machine
    neither: int
    agreement: float | None  # (both + neither) / judged


@dataclass(frozen=True, slots=True)
class GatewayShare:
    """Recipients behind one gateway or mailbox provider, known from their domains' MX."""

    vendor: str | None            # None: MX known but no vendor matched, or not looked up
    name: str                     # "Proofpoint Email Protection", "unknown", "not looked up"
    scans_links: bool
    domains: int
    recipients: int
    share: float                  # of the campaign's recipients


@dataclass(frozen=True, slots=True)
class DoctorAdvice:
    """The sender doctor's findings that would reduce machine clicks, beside a campaign
    whose clicks are largely machines' (the last `clicksift doctor` report kept)."""

    machine_click_share: float
    domain: str | None            # None: no doctor report kept yet
    checked_at: float | None
    findings: tuple[dict[str, str], ...]   # warn and fail findings (check, status, message, fix)


@dataclass(frozen=True, slots=True)
class CampaignReport:
    campaign: CampaignSummary
    totals: Totals
    kinds: tuple[Share, ...]
    vendors: tuple[Share, ...]
    timeline: tuple[TimelinePoint, ...]
    days: tuple[DayPoint, ...]
    links: tuple[LinkRow, ...]
    domains: tuple[DomainRow, ...]          # the largest domains (see `domain_count`)
    domain_count: int
    freshness: Freshness
    trust: Trust
    esp_flags: tuple[EspAgreement, ...] = ()   # ESP events only, by type
    mx_gateways: tuple[GatewayShare, ...] = ()  # recipients by the gateway their MX names
    doctor: DoctorAdvice | None = None          # when machines make many of the clicks


@dataclass(frozen=True, slots=True)
class Freshness:
    events_counted: int           # the last event seq the rollups include
    events_behind: int            # stored events not counted yet (being counted)
    generated_at: str


@dataclass(frozen=True, slots=True)
class Overview:
    campaigns: tuple[CampaignSummary, ...]  # newest first
    totals: Totals
    kinds: tuple[Share, ...]
    vendors: tuple[Share, ...]
    freshness: Freshness


@dataclass(frozen=True, slots=True)
class Reason:
    rule: str
    weight: float | None
    detail: str


@dataclass(frozen=True, slots=True)
class EventRow:
    seq: int
    id: str
    type: str
    timestamp: str
    message_id: str
    campaign_id: str | None
    recipient: str | None
    link_index: int | None
    link_kind: str | None
    url: str | None
    ip: str | None
    user_agent: str | None
    method: str | None
    source: str | None
    verdict: str | None           # None: not judged
    score: float | None
    kind: str | None
    vendor: str | None
    final: bool | None
    engine_version: str | None
    reasons: tuple[Reason, ...]


@dataclass(frozen=True, slots=True)
class EventPage:
    items: tuple[EventRow, ...]
    page: int
    per_page: int
    has_more: bool
    filters: dict[str, Any] = field(default_factory=dict)


def to_json(result: Any) -> Any:
    """A report dataclass (or a sequence of them) as plain JSON data, with the derived NHI
    share of every Counts."""
    if isinstance(result, list | tuple):
        return [to_json(item) for item in result]
    return _with_shares(asdict(result))


def _with_shares(value: Any) -> Any:
    if isinstance(value, dict):
        out = {key: _with_shares(item) for key, item in value.items()}
        if set(out) == {"raw", Label.HUMAN, Label.NHI, "pending"}:
            judged = out[Label.HUMAN] + out[Label.NHI]
            out["nhi_share"] = out[Label.NHI] / judged if judged else None
        return out
    if isinstance(value, list | tuple):
        return [_with_shares(item) for item in value]
    return value
