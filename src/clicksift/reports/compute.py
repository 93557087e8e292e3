"""Reports computed from the rollup cells: one function per report, each returning a
dataclass of :mod:`clicksift.reports.model`."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from clicksift.classify.gateways import GatewayEntry, load_gateways
from clicksift.errors import NotFoundError
from clicksift.reports import rollup
from clicksift.reports.model import (
    AnchorCheck,
    CampaignReport,
    CampaignSummary,
    Counts,
    DayPoint,
    DoctorAdvice,
    DomainRow,
    EspAgreement,
    Freshness,
    GatewayShare,
    LinkRow,
    Overview,
    Pair,
    Revenue,
    Share,
    TimelinePoint,
    Totals,
    Trust,
)
from clicksift.reports.summary import (
    ANCHOR_EXPECTS,
    BEFORE_DELIVERY,
    DELAY_EDGES,
    DELAY_LABELS,
    ENGAGEMENT,
    HUMAN,
    LABELS,
    NHI,
    NO_DELIVERY,
    SEP,
)
from clicksift.storage import SqlStore
from clicksift.storage.queries import rollups as sql

Metrics = dict[str, float]
#: Domains a campaign report lists (the API's /domains pages through all of them).
TOP_DOMAINS = 25
#: A campaign whose clicks are at least this share machines' (and at least DOCTOR_CLICKS of
#: them) points to the sender doctor's findings.
DOCTOR_SHARE = 0.2
DOCTOR_CLICKS = 10
TIMELINE_ORDER = (BEFORE_DELIVERY, *DELAY_LABELS, NO_DELIVERY)


def campaign_ids(store: SqlStore) -> list[str]:
    return sorted(store.column(sql.CAMPAIGNS))


def campaign_report(store: SqlStore, campaign_id: str, *,
                    domains: int = TOP_DOMAINS) -> CampaignReport:
    """The full report of one campaign (with its DOMAINS largest recipient domains)."""
    grid = _cells(store, campaign_id, ("total", "kind", "vendor", "vendor_kind", "timeline",
                                       "day", "link", "currency", "anchor", "esp"))
    if not grid:
        raise NotFoundError(f"no campaign '{campaign_id}' (see 'clicksift report' for the "
                            "list)")
    totals = _totals(grid["total"].get("", {}), grid.get("currency", {}))
    sizes = _domain_sizes(store, campaign_id)
    largest = sorted(sizes, key=lambda name: (-sizes[name], name))[:domains]
    behind = mx_entries(store, campaign_id)
    return CampaignReport(
        campaign=_summary(campaign_id, _names(store).get(campaign_id), totals,
                          _first_day(grid.get("day", {}))),
        totals=totals,
        kinds=_shares(grid.get("kind", {})),
        vendors=_shares(grid.get("vendor", {}), grid.get("vendor_kind", {})),
        timeline=_timeline(grid.get("timeline", {})),
        days=_days(grid.get("day", {})),
        links=_links(store, campaign_id, grid.get("link", {})),
        domains=tuple(_with_mx(_domain_rows(store, campaign_id, largest), behind)),
        domain_count=len(sizes),
        freshness=freshness(store),
        trust=_trust(grid.get("anchor", {})),
        esp_flags=_esp_agreement(grid.get("esp", {})),
        mx_gateways=gateway_shares(store, campaign_id, behind),
        doctor=doctor_advice(store, totals))


def mx_entries(store: SqlStore, campaign_id: str | None = None
               ) -> dict[str, GatewayEntry | None]:
    """Recipient domain -> the vendor its cached MX points to (None: unknown MX); domains
    never looked up are left out."""
    domains = [domain for domain, _ in store.recipient_domains(campaign_id)]
    table = load_gateways()
    return {domain: table.match(record.hosts)
            for domain, record in store.mx_records(domains).items()}


def _with_mx(rows: list[DomainRow], behind: Mapping[str, GatewayEntry | None]
             ) -> list[DomainRow]:
    return [replace(row, mx_gateway=entry.vendor) if (entry := behind.get(row.domain))
            else row for row in rows]


def gateway_shares(store: SqlStore, campaign_id: str,
                   behind: Mapping[str, GatewayEntry | None]) -> tuple[GatewayShare, ...]:
    """The campaign's recipients by the gateway or provider their domain's MX names."""
    counts: dict[str, list[Any]] = {}
    total = 0
    for domain, recipients in store.recipient_domains(campaign_id):
        total += recipients
        if domain not in behind:
            key, name, vendor, scans = "-", "not looked up", None, False
        elif behind[domain] is None:
            key, name, vendor, scans = "?", "unknown", None, False
        else:
            entry = behind[domain]
            assert entry is not None
            key, name, vendor, scans = entry.id, entry.name, entry.vendor, entry.scans_links
        cell = counts.setdefault(key, [vendor, name, scans, 0, 0])
        cell[3] += 1
        cell[4] += recipients
    if set(counts) <= {"-"}:
        return ()                  # nothing looked up: no section
    rows = [GatewayShare(vendor, name, scans, domains, recipients, recipients / total)
            for vendor, name, scans, domains, recipients in counts.values()]
    return tuple(sorted(rows, key=lambda r: (-r.recipients, r.name)))


def doctor_advice(store: SqlStore, totals: Totals) -> DoctorAdvice | None:
    clicks = totals.clicks
    judged = clicks.human + clicks.nhi
    if clicks.nhi < DOCTOR_CLICKS or not judged or clicks.nhi / judged < DOCTOR_SHARE:
        return None
    kept = store.doctor_report()
    if kept is None:
        return DoctorAdvice(clicks.nhi / judged, None, None, ())
    findings = tuple(f for f in kept.report.get("findings", [])
                     if f.get("status") in ("warn", "fail"))
    return DoctorAdvice(clicks.nhi / judged, kept.domain, kept.checked_at, findings)


def domain_report(store: SqlStore, campaign_id: str) -> list[DomainRow]:
    """Every recipient domain of a campaign, the most messages first."""
    rows = _with_mx(_domain_rows(store, campaign_id, None), mx_entries(store, campaign_id))
    if not rows and not _cells(store, campaign_id, ("total",)):
        raise NotFoundError(f"no campaign '{campaign_id}'")
    rows.sort(key=lambda row: (-row.messages, row.domain))
    return rows


def _domain_sizes(store: SqlStore, campaign_id: str) -> dict[str, float]:
    return {row.key: row.n for row in store.rows(sql.KeyCount, sql.DOMAIN_SIZES, (campaign_id,))}


def _domain_rows(store: SqlStore, campaign_id: str,
                 names: list[str] | None) -> list[DomainRow]:
    """Rows of the domains NAMES (None: every domain), in NAMES' order."""
    keys = ""
    params: tuple[str, ...] = (campaign_id,)
    if names is not None:
        if not names:
            return []
        keys = sql.DOMAIN_KEYS.format(marks=", ".join("?" for _ in names))
        params += tuple(names)
    grid: dict[str, Metrics] = defaultdict(dict)
    for key, metric, n in store.rows(sql.KeyCell, sql.DOMAIN_CELLS.format(keys=keys), params):
        if n:
            grid[key][metric] = n
    order = names if names is not None else list(grid)
    return [_domain(name, grid[name]) for name in order if name in grid]


def link_report(store: SqlStore, campaign_id: str) -> list[LinkRow]:
    grid = _cells(store, campaign_id, ("link",))
    if not grid and not _cells(store, campaign_id, ("total",)):
        raise NotFoundError(f"no campaign '{campaign_id}'")
    return list(_links(store, campaign_id, grid.get("link", {})))


def overview(store: SqlStore) -> Overview:
    """Every campaign (newest first) and the workspace's totals."""
    per_campaign: dict[str, dict[str, dict[str, Metrics]]] = defaultdict(dict)
    merged: dict[str, dict[str, Metrics]] = defaultdict(dict)
    for campaign, dim, key, metric, n in store.rows(sql.CampaignCell, sql.OVERVIEW_CELLS):
        per_campaign[campaign].setdefault(dim, {}).setdefault(key, {})[metric] = n
        slot = merged[dim].setdefault(key, {})
        slot[metric] = slot.get(metric, 0) + n
    names = _names(store)
    summaries = [_summary(campaign, names.get(campaign),
                          _totals(grid.get("total", {}).get("", {}), grid.get("currency", {})),
                          _first_day(grid.get("day", {})))
                 for campaign, grid in per_campaign.items()]
    summaries.sort(key=lambda s: (s.first_day or "", s.id), reverse=True)
    return Overview(campaigns=tuple(summaries),
                    totals=_totals(merged["total"].get("", {}), merged.get("currency", {})),
                    kinds=_shares(merged.get("kind", {})),
                    vendors=_shares(merged.get("vendor", {}), merged.get("vendor_kind", {})),
                    freshness=freshness(store))


def freshness(store: SqlStore) -> Freshness:
    counted = int(store.get_meta(rollup.WATERMARK_KEY) or 0)
    return Freshness(counted, rollup.events_behind(store),
                     datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"))


# -- reading cells ------------------------------------------------------------------------------

def _cells(store: SqlStore, campaign_id: str,
           dims: Iterable[str]) -> dict[str, dict[str, Metrics]]:
    names = tuple(dims)
    placeholders = ", ".join("?" for _ in names)
    grid: dict[str, dict[str, Metrics]] = {}
    for dim, key, metric, n in store.rows(sql.Cell, sql.DIMENSIONS.format(marks=placeholders),
                                          (campaign_id, *names)):
        if n:
            grid.setdefault(dim, {}).setdefault(key, {})[metric] = n
    return grid


def _names(store: SqlStore) -> dict[str, str | None]:
    return {row.id: row.name for row in store.campaigns()}


# -- building results ---------------------------------------------------------------------------

def _counts(metrics: Metrics, name: str) -> Counts:
    return Counts(int(metrics.get(f"{name}.raw", 0)), int(metrics.get(f"{name}.human", 0)),
                  int(metrics.get(f"{name}.nhi", 0)), int(metrics.get(f"{name}.pending", 0)))


def _pair(metrics: Metrics, name: str) -> Pair:
    return Pair(int(metrics.get(f"{name}.raw", 0)), int(metrics.get(f"{name}.human", 0)))


def _ratio(top: Pair, bottom: Pair | float) -> Pair:
    low = bottom if isinstance(bottom, Pair) else Pair(bottom, bottom)
    return Pair(_divide(top.raw, low.raw), _divide(top.human, low.human))


def _divide(top: float | None, bottom: float | None) -> float | None:
    return top / bottom if top is not None and bottom else None


def _totals(metrics: Metrics, currencies: Mapping[str, Metrics]) -> Totals:
    delivered = int(metrics.get("delivered", 0))
    openers, clickers = _pair(metrics, "openers"), _pair(metrics, "clickers")
    unsubscribers = _pair(metrics, "unsubscribers")
    judged = sum(metrics.get(f"{name}.{cls}", 0) for name in ENGAGEMENT for cls in LABELS)
    machine = sum(metrics.get(f"{name}.{NHI}", 0) for name in ENGAGEMENT)
    revenue = tuple(Revenue(currency or "", int(m.get("conversions", 0)),
                            round(m.get("value", 0.0), 2))
                    for currency, m in sorted(currencies.items()))
    return Totals(
        delivered=delivered, messages=int(metrics.get("messages", 0)),
        opens=_counts(metrics, "open"), machine_opens=int(metrics.get("open.machine", 0)),
        clicks=_counts(metrics, "click"), honeypot_hits=int(metrics.get("honeypot", 0)),
        unsubscribes=_counts(metrics, "unsubscribe"),
        preference_page_views=_counts(metrics, "unsubscribe_page"),
        openers=openers, implied_openers=int(metrics.get("openers.implied", 0)),
        clickers=clickers, unsubscribers=unsubscribers,
        nhi_messages=int(metrics.get("nhi_messages", 0)),
        conversions=int(metrics.get("conversion.raw", 0)),
        converters=int(metrics.get("converters", 0)), revenue=revenue,
        open_rate=_ratio(openers, delivered), click_rate=_ratio(clickers, delivered),
        click_to_open=_ratio(clickers, openers),
        unsubscribe_rate=_ratio(unsubscribers, delivered),
        nhi_share=_divide(machine, judged),
        click_to_conversion=Pair(_divide(metrics.get("converters", 0), clickers.raw),
                                 _divide(metrics.get("converters", 0), clickers.human)))


def _esp_agreement(types: Mapping[str, Metrics]) -> tuple[EspAgreement, ...]:
    out = []
    for type_ in ("open", "click"):
        m = types.get(type_, {})
        both, esp_only = int(m.get("machine.nhi", 0)), int(m.get("machine.human", 0))
        ours, neither = int(m.get("person.nhi", 0)), int(m.get("person.human", 0))
        judged = both + esp_only + ours + neither
        if judged:
            out.append(EspAgreement(type_, judged, both, esp_only, ours, neither,
                                    _divide(both + neither, judged)))
    return tuple(out)


def _trust(anchors: Mapping[str, Metrics]) -> Trust:
    checks = tuple(
        AnchorCheck(anchor, expected, int(m.get("judged", 0)), int(m.get("agreed", 0)),
                    _divide(m.get("agreed", 0), m.get("judged", 0)))
        for anchor, expected in ANCHOR_EXPECTS.items()
        for m in (anchors.get(anchor, {}),))

    def pooled(expected: str) -> tuple[float | None, int]:
        judged = sum(c.judged for c in checks if c.expected == expected)
        agreed = sum(c.agreed for c in checks if c.expected == expected)
        return _divide(agreed, judged), judged

    recall, machines = pooled(NHI)
    precision, people = pooled(HUMAN)
    return Trust(recall, machines, precision, people, checks)


def _summary(campaign_id: str, name: str | None, totals: Totals,
             first_day: str | None) -> CampaignSummary:
    return CampaignSummary(campaign_id, name, first_day, totals.delivered, totals.openers,
                           totals.clickers, totals.open_rate, totals.click_rate,
                           totals.unsubscribers, totals.nhi_share,
                           totals.opens.pending + totals.clicks.pending
                           + totals.unsubscribes.pending)


def _first_day(days: Mapping[str, Metrics]) -> str | None:
    delivered = [day for day, m in days.items() if m.get("delivered.raw")]
    return min(delivered or days, default=None)


def _shares(cells: Mapping[str, Metrics],
            pairs: Mapping[str, Metrics] | None = None) -> tuple[Share, ...]:
    kinds: dict[str, list[str]] = defaultdict(list)
    for key, _metrics in sorted((pairs or {}).items(),
                               key=lambda item: -sum(item[1].values())):
        vendor, _, kind = key.partition(SEP)
        kinds[vendor].append(kind)
    events = {name: sum(m.get(t, 0) for t in ("open", "click", "unsubscribe"))
              for name, m in cells.items()}
    total = sum(events.values())
    rows = [Share(name, int(m.get("open", 0)), int(m.get("click", 0)),
                  int(m.get("unsubscribe", 0)), int(events[name]),
                  events[name] / total if total else 0.0, tuple(kinds.get(name, ())))
            for name, m in cells.items() if events[name]]
    rows.sort(key=lambda row: (-row.events, row.name))
    return tuple(rows)


def _timeline(cells: Mapping[str, Metrics]) -> tuple[TimelinePoint, ...]:
    return tuple(TimelinePoint(bucket, _counts(cells.get(bucket, {}), "open"),
                               _counts(cells.get(bucket, {}), "click"))
                 for bucket in TIMELINE_ORDER
                 if bucket in DELAY_LABELS or cells.get(bucket))


def _days(cells: Mapping[str, Metrics]) -> tuple[DayPoint, ...]:
    return tuple(DayPoint(day, int(m.get("delivered.raw", 0)), _counts(m, "open"),
                          _counts(m, "click"))
                 for day, m in sorted(cells.items()))


def _links(store: SqlStore, campaign_id: str,
           cells: Mapping[str, Metrics]) -> tuple[LinkRow, ...]:
    known = _campaign_links(store, campaign_id)
    rows = []
    for key, m in cells.items():
        index = int(key[1:]) if key.startswith("#") and key[1:].isdigit() else None
        url, kind = known[index] if index is not None and index < len(known) else (None, None)
        if index is None:
            url = key or None
        rows.append(LinkRow(key, index, url, kind or ("honeypot" if m.get("honeypot") else None),
                            _counts(m, "click"), _pair(m, "clickers"), int(m.get("honeypot", 0))))
    rows.sort(key=lambda row: (row.index is None, row.index or 0, row.key))
    return tuple(rows)


def _campaign_links(store: SqlStore, campaign_id: str) -> list[tuple[str, str]]:
    links = store.value(sql.CAMPAIGN_LINKS, (campaign_id,))
    if links is None:
        return []
    return [(item["url"], item["kind"]) for item in json.loads(links)]


def _domain(name: str, m: Metrics) -> DomainRow:
    judged = sum(m.get(f"{t}.{c}", 0) for t in ENGAGEMENT for c in LABELS)
    machine = sum(m.get(f"{t}.{NHI}", 0) for t in ENGAGEMENT)
    vendor_events: dict[str, float] = defaultdict(float)
    machine_clicks: dict[str, float] = {}
    for metric, n in m.items():
        part, _, rest = metric.partition(SEP)
        if part == "vendor":
            vendor_events[rest.partition(SEP)[0]] += n
        elif part == "delay":
            machine_clicks[rest] = n
    gateway = max(vendor_events, key=lambda v: (vendor_events[v], v), default=None)
    return DomainRow(
        domain=name, messages=int(m.get("messages", 0)), delivered=int(m.get("delivered", 0)),
        events=int(sum(m.get(f"{t}.raw", 0) for t in ("open", "click", "unsubscribe"))),
        nhi_events=int(machine), nhi_share=_divide(machine, judged),
        opens=_counts(m, "open"), clicks=_counts(m, "click"),
        openers=_pair(m, "openers"), clickers=_pair(m, "clickers"),
        gateway=gateway,
        gateway_share=_divide(vendor_events.get(gateway or "", 0), sum(vendor_events.values())),
        typical_delay=_median_bucket(machine_clicks),
        machine_clicks_first_minute=_first_minute(machine_clicks))


def _median_bucket(counts: Mapping[str, float]) -> str | None:
    ordered = [(bucket, counts.get(bucket, 0)) for bucket in TIMELINE_ORDER]
    total = sum(n for _, n in ordered if _ != NO_DELIVERY)
    if not total:
        return None
    running = 0.0
    for bucket, n in ordered:
        running += n
        if running >= total / 2:
            return bucket
    return None


def _first_minute(counts: Mapping[str, float]) -> float | None:
    timed = {b: n for b, n in counts.items() if b != NO_DELIVERY}
    total = sum(timed.values())
    fast = sum(n for b, n in timed.items()
               if b == BEFORE_DELIVERY or (b in DELAY_LABELS
                                           and DELAY_LABELS.index(b) < DELAY_EDGES.index(60) + 1))
    return fast / total if total else None
