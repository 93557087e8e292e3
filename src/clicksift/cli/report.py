"""``clicksift report``: raw and human numbers side by side, as tables, JSON or CSV."""

from __future__ import annotations

import csv
import os
import sys
import tempfile
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import click
from rich.console import Group, RenderableType
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from clicksift import reports
from clicksift.archive import Archive, locate, recover
from clicksift.classify.vocabulary import Label
from clicksift.cli.common import (
    Context,
    console,
    console_err,
    db_option,
    event_progress,
    pass_context,
    warn,
    when,
)
from clicksift.csvcells import safe_row
from clicksift.errors import StoreBusy
from clicksift.events import dumps
from clicksift.reports.model import (
    CampaignReport,
    Counts,
    DoctorAdvice,
    DomainRow,
    EspAgreement,
    GatewayShare,
    LinkRow,
    Overview,
    Pair,
    Share,
    TimelinePoint,
    Totals,
    Trust,
)
from clicksift.reports.recounted import recount_into
from clicksift.settings import Settings
from clicksift.storage import SqlStore
from clicksift.storage.sqlite import SqliteStore

SECTIONS = ("summary", "vendors", "kinds", "timeline", "links", "domains", "gateways", "trust",
            "esp")


def _table(*headers: str, title: str, names: Iterable[str] = ()) -> Table:
    """A table whose cells wrap instead of being cut off on narrow terminals; the first
    column keeps NAMES (campaign ids, domains) whole."""
    table = Table(*headers, title=title, title_justify="left")
    for column in table.columns:
        column.overflow = "fold"
    table.columns[0].min_width = min(40, max((len(name) for name in names), default=0)) or None
    return table


def refresh_with_progress(store: SqlStore) -> None:
    """Count new events into the rollups, with a progress bar when that takes a while."""
    behind = reports.rollup.events_behind(store)
    with Progress(TextColumn("counting events"), BarColumn(),
                  TextColumn("{task.completed:,}/{task.total:,}"), TimeElapsedColumn(),
                  console=console_err, transient=True,
                  disable=not console_err.is_terminal or behind < 50_000) as progress:
        task = progress.add_task("refresh", total=behind)
        start = store.get_meta(reports.rollup.WATERMARK_KEY)
        base = int(start or 0)
        reports.refresh(store, progress=lambda done, high: progress.update(
            task, completed=max(0, done - base), total=max(1, high - base)))


@click.command()
@click.argument("campaign", required=False)
@db_option
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table",
              show_default=True, help="Tables for people; JSON or CSV for programs.")
@click.option("--section", type=click.Choice(SECTIONS), multiple=True,
              help="Only these parts of a campaign report (repeatable; CSV prints the first).")
@click.option("--archive", "from_archive", is_flag=True,
              help="Recount from the events themselves, the archive's Parquet files "
                   "included, instead of the kept counts (docs/archive.md).")
@pass_context
def report(ctx: Context, campaign: str | None, database: str | None, fmt: str,
           section: tuple[str, ...], from_archive: bool) -> None:
    """Raw and human opens, clicks and unsubscribes: every campaign, or one CAMPAIGN with
    machines by vendor and kind, the timeline after delivery, links and recipient domains."""
    settings = ctx.settings(database=database)
    if from_archive:
        _report_recounted(ctx, settings, campaign, fmt, section)
        return
    with ctx.store(settings) as store:
        try:
            with store.waiting_at_most(0.5):
                refresh_with_progress(store)
        except StoreBusy:            # another process writes: report what is counted so far
            console_err.print("warning: another process is writing to the store; these "
                              "figures leave out events it has not counted yet")
        _show(store, campaign, fmt, section)


def _show(store: SqlStore, campaign: str | None, fmt: str, section: Sequence[str]) -> None:
    """Every campaign, or the report of CAMPAIGN, from STORE's rollups."""
    if campaign is None:
        _show_overview(reports.overview(store), fmt)
        return
    result = reports.campaign_report(store, campaign, domains=25 if fmt == "table"
                                     else 1_000_000)
    show_campaign(result, fmt, section or SECTIONS)


def _report_recounted(ctx: Context, settings: Settings, campaign: str | None, fmt: str,
                      section: tuple[str, ...]) -> None:
    """The report recounted from the store's events and the archive's files."""
    with ctx.store(settings) as store, tempfile.TemporaryDirectory(
            prefix="clicksift-recount-") as folder:
        # the store's archive, or one configured for a store that is new (or rebuilt)
        location = locate(store, settings.archive_dir, settings.database)
        found = None if location is None else Archive(location)
        if found is not None:
            recover(store, found)
        if found is None or not found.files():
            warn("this store has no archive yet: the recount reads the store alone")
        with SqliteStore.open(os.path.join(folder, "recount.db"),
                              synchronous="normal") as scratch:
            scratch.migrate()
            with event_progress() as progress:
                task = progress.add_task("recounting", total=None)
                recount_into(scratch, found, store, campaign_id=campaign,
                             progress=lambda n: progress.update(task, completed=n))
            _show(scratch, campaign, fmt, section)


# -- overview -----------------------------------------------------------------------------------

def _show_overview(view: Overview, fmt: str) -> None:
    if fmt == "json":
        print(dumps(reports.to_json(view)))
        return
    if fmt == "csv":
        _write_csv(["campaign", "first_day", "delivered", "openers_raw", "openers_human",
                    "clickers_raw", "clickers_human", "click_rate_raw", "click_rate_human",
                    "unsubscribers_human", "nhi_share"],
                   ([c.id, c.first_day, c.delivered, c.openers.raw, c.openers.human,
                     c.clickers.raw, c.clickers.human, _num(c.click_rate.raw),
                     _num(c.click_rate.human), c.unsubscribers.human, _num(c.nhi_share)]
                    for c in view.campaigns))
        return
    if not view.campaigns:
        console.print("No campaigns yet: load events ('clicksift load') or run the tracking "
                      "server ('clicksift serve').")
        return
    narrow = console.width < 130
    headers = (("campaign", "sent", "opens", "people", "clicks", "people", "mach.")
               if narrow else
               ("campaign", "first day", "delivered", "open rate raw", "open rate human",
                "click rate raw", "click rate human", "machine share"))
    table = _table(*headers, title="Campaigns (newest first)" + (
        ": rates of delivered, raw and people's" if narrow else ""),
        names=(c.id for c in view.campaigns))
    for c in view.campaigns:
        cells = [c.id] + ([] if narrow else [c.first_day or "-"]) + [
            f"{c.delivered:,}", _pct(c.open_rate.raw), _people(c.open_rate.human, c.pending),
            _pct(c.click_rate.raw), _people(c.click_rate.human, c.pending),
            _pct(c.nhi_share)]
        table.add_row(*cells)
    console.print(table)
    pending = sum(c.pending for c in view.campaigns)
    if pending:
        console_err.print(f"{pending:,} opens, clicks and unsubscribes are not judged yet: "
                          "their people are not counted until they are (the server settles "
                          "them within a minute; 'clicksift rescore' judges them now).")
    console.print(_totals_table(view.totals, "All campaigns"))
    console.print(_shares_table(view.vendors, "Machines by vendor (all campaigns)"))


def _people(rate: float | None, pending: int) -> str:
    """A people's rate, or "not judged" while events wait for their verdicts and none of
    them is known to be a person's yet (never a 0.0 % that is not one)."""
    return "not judged" if pending and not rate else _pct(rate)


# -- one campaign --------------------------------------------------------------------------------

def show_campaign(result: CampaignReport, fmt: str, sections: Sequence[str]) -> None:
    if fmt == "json":
        data = reports.to_json(result)
        keep = {"campaign", "freshness", "domain_count", "doctor", *_json_keys(sections)}
        print(dumps({key: value for key, value in data.items() if key in keep}))
        return
    if fmt == "csv":
        header, rows = _csv_section(result, sections[0])
        _write_csv(header, rows)
        return
    c = result.campaign
    console.print(f"[bold]{c.id}[/]  first delivery {c.first_day or 'unknown'}  ·  "
                  f"{result.totals.delivered:,} delivered")
    console.print(f"machines made {_pct(result.totals.nhi_share)} of its engagement")
    renderers: dict[str, Callable[[], RenderableType]] = {
        "summary": lambda: _totals_table(result.totals, "Raw and human"),
        "vendors": lambda: _shares_table(result.vendors, "Machines by vendor"),
        "kinds": lambda: _shares_table(result.kinds, "Machines by kind"),
        "timeline": lambda: _timeline_table(result.timeline),
        "links": lambda: _links_table(result.links),
        "domains": lambda: _domains_table(result.domains, result.domain_count),
        "trust": lambda: _trust_table(result.trust),
        "esp": lambda: _esp_table(result.esp_flags),
        "gateways": lambda: _gateways_table(result.mx_gateways),
    }
    for name in sections:
        if name == "esp" and not result.esp_flags:
            continue           # no ESP events: nothing to compare
        if name == "gateways" and not result.mx_gateways:
            continue           # no recipient domain looked up (clicksift gateways)
        console.print(renderers[name]())
    if result.doctor is not None:
        _doctor_advice(result.doctor)
    if result.freshness.events_behind:
        console_err.print(f"{result.freshness.events_behind:,} newer events are still being "
                          "counted")


_ANCHOR_LABELS = {
    "honeypot_source": "other requests of honeypot fetchers",
    "one_click": "one-click unsubscribes (RFC 8058)",
    "converting_click": "clicks that led to a conversion",
}


def _trust_table(trust: Trust) -> Table:
    """How the verdicts fared on the events whose label the campaign's traffic carries."""
    table = _table("anchored events", "should be", "judged", "agreed", "share",
                   title="Verdicts checked against the campaign's own labels")
    for c in trust.checks:
        table.add_row(_ANCHOR_LABELS.get(c.anchor, c.anchor),
                      "machine" if c.expected == Label.NHI else "person", f"{c.judged:,}",
                      f"{c.agreed:,}", _pct(c.share))
    table.add_row("[bold]machine recall[/]", "", f"{trust.machine_events:,}", "",
                  _pct(trust.machine_recall))
    table.add_row("[bold]person precision[/]", "", f"{trust.person_events:,}", "",
                  _pct(trust.person_precision))
    return table


def _esp_table(rows: Sequence[EspAgreement]) -> Table:
    """The ESP's own bot flags beside the verdicts."""
    table = _table("ESP events", "judged", "both", "ESP only", "clicksift only", "neither",
                   "agree", title="The ESP's own flags beside clicksift's verdicts "
                                  "(machines each found)")
    for r in rows:
        table.add_row(f"{r.type}s", f"{r.judged:,}", f"{r.both:,}", f"{r.esp_only:,}",
                      f"{r.clicksift_only:,}", f"{r.neither:,}", _pct(r.agreement))
    return table


def _gateways_table(rows: Sequence[GatewayShare]) -> Table:
    """Recipients by the gateway or provider their domain's MX names."""
    table = _table("behind", "scans links", "domains", "recipients", "share",
                   title="Recipients by their domain's mail gateway (from MX)")
    for r in rows:
        table.add_row(r.name, "yes" if r.scans_links else "-", f"{r.domains:,}",
                      f"{r.recipients:,}", _pct(r.share))
    return table


def _doctor_advice(advice: DoctorAdvice) -> None:
    console.print(f"\n[bold]Machines made {_pct(advice.machine_click_share)} of the judged "
                  "clicks.[/] What in your set-up draws scans:")
    if advice.domain is None:
        console.print("  run [bold]clicksift doctor YOUR-DOMAIN[/]: SPF, DKIM, DMARC, the "
                      "tracking host\n  and one-click unsubscribe, each finding with its fix")
        return
    if not advice.findings:
        console.print(f"  clicksift doctor found nothing to fix for {advice.domain} "
                      f"({when(advice.checked_at)})")
        return
    console.print(f"  clicksift doctor {advice.domain} ({when(advice.checked_at)}):")
    for finding in advice.findings[:8]:
        console.print(f"  {finding['status']:<4} {finding['check']}: {finding['message']}",
                      soft_wrap=False)
        if finding.get("fix"):
            console.print(f"       [dim]fix: {finding['fix']}[/]")


def _json_keys(sections: Iterable[str]) -> set[str]:
    mapping = {"summary": "totals", "vendors": "vendors", "kinds": "kinds",
               "timeline": "timeline", "links": "links", "domains": "domains",
               "trust": "trust", "esp": "esp_flags", "gateways": "mx_gateways"}
    keys = {mapping[name] for name in sections}
    if "timeline" in keys:
        keys.add("days")
    return keys


def _totals_table(t: Totals, title: str) -> Table:
    table = _table("", "raw", "human", "machines", title=title)
    rows: list[tuple[str, Counts]] = [("opens", t.opens), ("clicks", t.clicks),
                                      ("unsubscribes", t.unsubscribes),
                                      ("preference page views", t.preference_page_views)]
    for label, counts in rows:
        table.add_row(label, f"{counts.raw:,}", f"{counts.human:,}", f"{counts.nhi:,}")
    pairs: list[tuple[str, Pair, bool]] = [
        ("unique openers", t.openers, False), ("unique clickers", t.clickers, False),
        ("open rate", t.open_rate, True), ("click rate", t.click_rate, True),
        ("click-to-open", t.click_to_open, True),
        ("unsubscribe rate", t.unsubscribe_rate, True)]
    for label, pair, percent in pairs:
        show = _pct if percent else _int
        table.add_row(label, show(pair.raw), show(pair.human), "")
    table.add_row("machine opens (privacy proxies)", f"{t.machine_opens:,}", "", "")
    table.add_row("honeypot hits", f"{t.honeypot_hits:,}", "", "")
    if t.conversions:
        for revenue in t.revenue:
            table.add_row(f"conversions {revenue.currency}".strip(), f"{revenue.conversions:,}",
                          f"{revenue.value:,.2f}", "")
        table.add_row("click-to-conversion", _pct(t.click_to_conversion.raw),
                      _pct(t.click_to_conversion.human), "")
    return table


def _shares_table(shares: Sequence[Share], title: str) -> Table:
    narrow = console.width < 100
    table = _table("", "opens", "clicks", "unsubs" if narrow else "unsubscribes", "share", "",
                   title=title)
    width = _bar_width(max((len(s.name) for s in shares), default=10) + 46)
    for share in shares:
        bar = "█" * max(1, round(share.share * width))
        table.add_row(share.name.replace("_", " "), f"{share.opens:,}", f"{share.clicks:,}",
                      f"{share.unsubscribes:,}", _pct(share.share), f"[magenta]{bar}[/]")
    return table


def _bar_width(fixed: int) -> int:
    """How wide a bar column may be beside FIXED columns' characters, so that no bar wraps
    (30 on wide terminals, at least 8)."""
    return max(8, min(30, console.width - fixed))


def _timeline_table(points: Sequence[TimelinePoint]) -> Table:
    narrow = console.width < 100
    headers = (("after", "clicks", "people", "opens", "people") if narrow else
               ("after delivery", "clicks raw", "clicks human", "opens raw", "opens human"))
    table = _table(*headers, "", title="Timeline (clicks: magenta machines, green people)")
    width = _bar_width(52 if narrow else 76)
    peak = max((p.clicks.raw for p in points), default=0) or 1
    for p in points:
        machines = "█" * round(p.clicks.nhi / peak * width)
        people = "█" * round(p.clicks.human / peak * width) or ("▏" if p.clicks.human else "")
        table.add_row(p.bucket, f"{p.clicks.raw:,}", f"{p.clicks.human:,}",
                      f"{p.opens.raw:,}", f"{p.opens.human:,}",
                      f"[magenta]{machines}[/][green]{people}[/]")
    return table


#: Narrower terminals get the links and domains with each name on a line of its own.
WIDE_LISTING = 100


def _stacked(title: str, headers: Sequence[str], rows: Sequence[tuple[str, Sequence[str]]],
             texts: Sequence[int] = ()) -> Group:
    """A listing for narrow terminals: each entry's name whole on its own line (a URL stays
    one piece to copy), its figures on the next under one header; the columns TEXTS are
    text (aligned left), the others numbers."""
    widths = [max([len(h), *(len(cells[i]) for _, cells in rows)])
              for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        return "    " + "  ".join(c.ljust(w) if i in texts else c.rjust(w)
                                  for i, (c, w) in enumerate(zip(cells, widths, strict=True)))
    parts = [Text(title, style="italic"), Text(line(headers).rstrip(), style="bold")]
    for name, cells in rows:
        parts += [Text("  " + name, style="cyan"), Text(line(cells).rstrip())]
    return Group(*parts)


def _links_table(links: Sequence[LinkRow]) -> Table | Group:
    if console.width < WIDE_LISTING:
        return _stacked("Links", ("kind", "clicks", "people", "clickers", "people"),
                        [(link.url or link.key, (link.kind or "", f"{link.clicks.raw:,}",
                                                 f"{link.clicks.human:,}",
                                                 _int(link.clickers.raw),
                                                 _int(link.clickers.human)))
                         for link in links], texts=(0,))
    table = _table("link", "kind", "clicks raw", "clicks human", "clickers raw",
                  "clickers human", title="Links")
    for link in links:
        table.add_row(link.url or link.key, link.kind or "", f"{link.clicks.raw:,}",
                      f"{link.clicks.human:,}", _int(link.clickers.raw),
                      _int(link.clickers.human))
    return table


def _domains_table(domains: Sequence[DomainRow], count: int) -> Table | Group:
    title = f"Recipient domains ({len(domains)} of {count:,}, most messages first)"
    if console.width < WIDE_LISTING:
        return _stacked(title, ("messages", "machines", "clicks", "people", "delay",
                                "gateway"),
                        [(d.domain, (f"{d.messages:,}", _pct(d.nhi_share), f"{d.clicks.raw:,}",
                                     f"{d.clicks.human:,}", d.typical_delay or "-",
                                     _gateway_words(d)))
                         for d in domains], texts=(4, 5))
    table = _table("domain", "messages", "machine share", "clicks raw", "clicks human",
                  "gateway", "typical delay", title=title, names=(d.domain for d in domains))
    for d in domains:
        gateway = (d.gateway or "-").replace("_", " ")
        if d.mx_gateway and d.mx_gateway != d.gateway:
            gateway += f"\n[dim]MX: {d.mx_gateway.replace('_', ' ')}[/]"
        table.add_row(d.domain, f"{d.messages:,}", _pct(d.nhi_share), f"{d.clicks.raw:,}",
                      f"{d.clicks.human:,}", gateway, d.typical_delay or "-")
    return table


def _gateway_words(domain: DomainRow) -> str:
    """The gateway seen in a domain's traffic, and the one its MX names when they differ."""
    seen = (domain.gateway or "-").replace("_", " ")
    if domain.mx_gateway and domain.mx_gateway != domain.gateway:
        seen += f" (MX: {domain.mx_gateway.replace('_', ' ')})"
    return seen


# -- CSV ----------------------------------------------------------------------------------------

def _csv_section(result: CampaignReport, section: str) -> tuple[list[str], Iterable[list[Any]]]:
    if section == "summary":
        data = reports.to_json(result.totals)
        rows = [[name, value.get("raw"), value.get(Label.HUMAN), value.get(Label.NHI)]
                for name, value in data.items() if isinstance(value, dict)]
        rows += [[name, value, None, None] for name, value in data.items()
                 if isinstance(value, int | float) or value is None]
        return ["metric", "raw", "human", "nhi"], rows
    if section in ("vendors", "kinds"):
        shares = result.vendors if section == "vendors" else result.kinds
        return (["name", "opens", "clicks", "unsubscribes", "events", "share"],
                ([s.name, s.opens, s.clicks, s.unsubscribes, s.events, _num(s.share)]
                 for s in shares))
    if section == "timeline":
        return (["after_delivery", "opens_raw", "opens_human", "opens_nhi", "clicks_raw",
                 "clicks_human", "clicks_nhi"],
                ([p.bucket, p.opens.raw, p.opens.human, p.opens.nhi, p.clicks.raw,
                  p.clicks.human, p.clicks.nhi] for p in result.timeline))
    if section == "trust":
        return (["anchor", "expected", "judged", "agreed", "share"],
                ([c.anchor, c.expected, c.judged, c.agreed, _num(c.share)]
                 for c in result.trust.checks))
    if section == "gateways":
        return (["vendor", "name", "scans_links", "domains", "recipients", "share"],
                ([r.vendor, r.name, r.scans_links, r.domains, r.recipients, _num(r.share)]
                 for r in result.mx_gateways))
    if section == "esp":
        return (["type", "judged", "both", "esp_only", "clicksift_only", "neither",
                 "agreement"],
                ([r.type, r.judged, r.both, r.esp_only, r.clicksift_only, r.neither,
                  _num(r.agreement)] for r in result.esp_flags))
    if section == "links":
        return (["key", "url", "kind", "clicks_raw", "clicks_human", "clickers_raw",
                 "clickers_human", "honeypot_hits"],
                ([k.key, k.url, k.kind, k.clicks.raw, k.clicks.human, k.clickers.raw,
                  k.clickers.human, k.honeypot_hits] for k in result.links))
    return (["domain", "messages", "delivered", "events", "nhi_events", "nhi_share",
             "clicks_raw", "clicks_human", "gateway", "gateway_share", "typical_delay",
             "mx_gateway"],
            ([d.domain, d.messages, d.delivered, d.events, d.nhi_events, _num(d.nhi_share),
              d.clicks.raw, d.clicks.human, d.gateway, _num(d.gateway_share), d.typical_delay,
              d.mx_gateway]
             for d in result.domains))


def _write_csv(header: list[str], rows: Iterable[Sequence[Any]]) -> None:
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(safe_row(row) for row in rows)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _int(value: float | None) -> str:
    return "-" if value is None else f"{int(value):,}"


def _num(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}"


COMMANDS = [report]
