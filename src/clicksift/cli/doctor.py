"""``clicksift doctor`` (the sender's set-up) and ``clicksift gateways`` (recipient domains'
mail exchangers and the gateways behind them)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import click
from rich.markup import escape
from rich.table import Table

from clicksift.cli.common import (
    Context,
    console,
    console_err,
    db_option,
    pass_context,
    show_table,
    when,
)
from clicksift.doctor.checkup import Checkup, examine
from clicksift.doctor.findings import Report, Status
from clicksift.lookup.mx import DomainGateway, GatewayLookup
from clicksift.lookup.resolver import Resolver
from clicksift.settings import Settings
from clicksift.storage import SqlStore, is_postgres, open_store
from clicksift.storage.records import DoctorReport

_MARK = {Status.OK: "[green]ok[/]", Status.WARN: "[yellow]warn[/]", Status.FAIL: "[red]fail[/]"}
FORMATS = click.Choice(["table", "json"])


def _existing_store(settings: Settings) -> SqlStore | None:
    """The configured store when it exists already (the doctor never creates one)."""
    if is_postgres(settings.database) or Path(settings.database).is_file():
        return open_store(settings)
    return None


def _render(report: Report) -> None:
    table = Table("", "check", "finding", title=f"sender doctor: {report.domain}",
                  title_justify="left", show_lines=False, expand=False)
    for finding in sorted(report.findings, key=lambda f: list(Status).index(f.status),
                          reverse=True):
        text = escape(finding.message)
        if finding.fix:
            text += f"\n[dim]fix: {escape(finding.fix)}[/]"
        table.add_row(_MARK[finding.status], finding.check, text)
    show_table(table)
    counts = report.counts()
    console.print(f"{counts['ok']} ok, {counts['warn']} to improve, {counts['fail']} failing"
                  + ("" if not report.failed else " (exit status 1)"))
    whys = dict.fromkeys(f.why for f in report.findings if f.why and f.status is not Status.OK)
    if whys:
        console.print("\n[bold]Why it matters for machine clicks[/]")
        for why in whys:
            console.print(f"- {escape(why)}")


@click.command("doctor")
@click.argument("domain")
@click.option("--tracking-host", metavar="HOST[:PORT]",
              help="The host of your tracking links (default: the base_url setting's host).")
@click.option("--dkim-selector", "selectors", multiple=True, metavar="S",
              help="DKIM selector to check (repeat; default: common ones).")
@click.option("--message", "message", type=click.Path(dir_okay=False, path_type=Path),
              metavar="FILE.eml", help="A prepared message: its DKIM signatures, RFC 8058 "
              "headers and links.")
@click.option("--nameserver", metavar="HOST[:PORT]", help="DNS resolver (setting "
              "'nameserver'; default: the machine's).")
@click.option("--ca-file", type=click.Path(dir_okay=False, exists=True), metavar="PEM",
              help="Trust these CA certificates for the tracking host (default: the "
              "system's).")
@click.option("--no-tracking-host", is_flag=True,
              help="Skip the tracking host (when links are your ESP's).")
@click.option("--format", "fmt", type=FORMATS, default="table", show_default=True)
@db_option
@pass_context
def doctor(ctx: Context, domain: str, tracking_host: str | None, selectors: tuple[str, ...],
           message: Path | None, nameserver: str | None, ca_file: str | None,
           no_tracking_host: bool, fmt: str, database: str | None) -> None:
    """Check DOMAIN's sending set-up: SPF, DKIM, DMARC, MX, the tracking host and a
    prepared message's one-click unsubscribe; each finding with its fix.

    Uses the network (DNS, and HTTPS to the tracking host). Exits 1 when a check fails.
    The report is kept in the store (when there is one) for `clicksift report`.
    """
    settings = ctx.settings(**({"database": database} if database else {}))
    resolver = Resolver(nameserver or settings.nameserver or None)
    host = None if no_tracking_host else tracking_host or _base_host(settings)
    report = examine(Checkup(domain, host, selectors, message, ca_file), resolver)
    document = report.as_dict()
    store = _existing_store(settings)
    if store is not None:
        with store:
            store.save_doctor_report(DoctorReport(report.domain, time.time(), document))
    if fmt == "json":
        click.echo(json.dumps(document, indent=1))
    else:
        _render(report)
        if store is not None:
            console.print("Kept in the store: `clicksift report CAMPAIGN` shows these "
                          "findings beside a campaign whose clicks are largely machines'.")
    ctx_exit = click.get_current_context()
    ctx_exit.exit(1 if report.failed else 0)


def _base_host(settings: Settings) -> str | None:
    from urllib.parse import urlsplit
    parts = urlsplit(settings.base_url)
    if parts.scheme != "https" or not parts.hostname or parts.hostname in (
            "localhost", "127.0.0.1"):
        return None
    return parts.netloc


@click.command("gateways")
@click.argument("domains", nargs=-1)
@click.option("--recipients", is_flag=True,
              help="Every recipient domain of the stored messages (with --campaign, of one "
              "campaign).")
@click.option("--campaign", metavar="ID", help="With --recipients: one campaign's domains.")
@click.option("--nameserver", metavar="HOST[:PORT]", help="DNS resolver (setting "
              "'nameserver').")
@click.option("--offline", is_flag=True, help="Answer from the cache only (no DNS).")
@click.option("--format", "fmt", type=FORMATS, default="table", show_default=True)
@db_option
@pass_context
def gateways(ctx: Context, domains: tuple[str, ...], recipients: bool, campaign: str | None,
             nameserver: str | None, offline: bool, fmt: str, database: str | None) -> None:
    """Each DOMAIN's MX hosts and the gateway or mailbox provider they point to.

    Lookups are cached in the store with their TTL (setting 'mx_lookups' off, or
    --offline: the cache only). The classifier and the reports use what is cached.
    """
    settings = ctx.settings(**({"database": database} if database else {}))
    offline = offline or not settings.mx_lookups
    with open_store(settings) as store:
        wanted = list(domains)
        if recipients or campaign:
            wanted.extend(domain for domain, _ in store.recipient_domains(campaign))
        if not wanted:
            raise click.UsageError("name domains, or use --recipients")
        resolver = None if offline else Resolver(nameserver or settings.nameserver or None)
        lookup = GatewayLookup(store, resolver, rate=settings.mx_lookup_rate)
        found = _with_progress(lookup, wanted, offline)
    if fmt == "json":
        click.echo(json.dumps({"domains": [_as_dict(g) for g in found.values()]}, indent=1))
        return
    _gateway_table(list(found.values()))
    if lookup.looked_up:
        console_err.print(f"{lookup.looked_up} looked up, {len(found) - lookup.looked_up} "
                          "from the cache")


def _with_progress(lookup: GatewayLookup, wanted: list[str], offline: bool
                   ) -> dict[str, DomainGateway]:
    from clicksift.cli.common import event_progress
    with event_progress() as progress:
        task = progress.add_task("looking up MX", total=None)

        def advance(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        return lookup.lookup(wanted, offline=offline, progress=advance)


def _as_dict(gateway: DomainGateway) -> dict[str, object]:
    entry, record = gateway.entry, gateway.record
    return {"domain": gateway.domain, "mx": list(gateway.hosts), "status": gateway.status,
            "vendor": gateway.vendor, "gateway": None if entry is None else entry.name,
            "role": None if entry is None else entry.role,
            "scans_links": gateway.scanning_gateway,
            "looked_up_at": None if record is None else record.looked_up_at,
            "expires_at": None if record is None else record.expires_at}


def _gateway_table(found: list[DomainGateway]) -> None:
    table = Table("domain", "behind", "MX", "looked up", title="recipient domains' gateways",
                  title_justify="left")
    for gateway in found:
        entry = gateway.entry
        behind = "-" if entry is None else entry.name + (
            " (scans links)" if entry.scans_links else "")
        mx = gateway.hosts[0] if gateway.hosts else gateway.status
        if len(gateway.hosts) > 1:
            mx += f" +{len(gateway.hosts) - 1}"
        looked = when(gateway.record.looked_up_at) if gateway.record else "never"
        table.add_row(gateway.domain, behind, mx, looked)
    show_table(table)
    behind_gateways = sum(g.scanning_gateway for g in found)
    console.print(f"{behind_gateways} of {len(found)} domains receive mail through a "
                  "link-scanning gateway")


COMMANDS = [doctor, gateways]
