"""``clicksift subscriptions``, ``suppressions``, ``reviews`` and ``sunset``."""

from __future__ import annotations

import csv
import json
import sys
from collections import Counter
from typing import IO

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
    warn,
    when,
)
from clicksift.csvcells import safe_row
from clicksift.errors import InputError
from clicksift.protect import erasure, outbound
from clicksift.protect import subscriptions as subs
from clicksift.protect.sunset import Sunset, sunset_list
from clicksift.settings import topic_table

FORMAT = click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
                      show_default=True)



def _json(data: object) -> None:
    print(json.dumps(data, indent=2, sort_keys=True))


@click.command()
@click.argument("address", required=False)
@FORMAT
@db_option
@pass_context
def subscriptions(ctx: Context, address: str | None, fmt: str, database: str | None) -> None:
    """Subscription state (subscribed or unsubscribed, overall and per topic) of ADDRESS with
    its full history, or of everyone whose subscriptions changed."""
    settings = ctx.settings(database=database)
    topic_ids = [t for t, _ in topic_table(settings)]
    with ctx.store(settings) as store:
        if address:
            state = subs.get_state(store, address, topic_ids)
            log = subs.history(store, address)
            states = [state]
        else:
            states = [subs.get_state(store, r, topic_ids) for r in subs.changed_recipients(store)]
            log = []
    if fmt == "json":
        if address:
            _json({**states[0].to_json(), "history": [e.to_json() for e in log]})
        else:
            _json([s.to_json() for s in states])
        return
    table = Table("recipient", "state", *topic_ids, "frequency", "paused until", "suppressed",
                  "changed", title="Subscriptions" + ("" if address else
                                                      " (everyone else is subscribed)"))
    for state in states:
        table.add_row(state.recipient, state.overall, *(state.topics.get(t, "subscribed")
                                                        for t in topic_ids),
                      state.frequency, when(state.paused_until), state.suppressed or "-",
                      when(state.updated_at))
    show_table(table)
    if address:
        history = Table("when", "change", "outcome", "by", "verdict", "event", title="History")
        for entry in log:
            verdict = f"{entry.verdict} {entry.score:.2f}" if entry.verdict and \
                entry.score is not None else "-"
            history.add_row(when(entry.at), entry.change, entry.outcome,
                            entry.actor + (f" ({entry.detail})" if entry.detail else ""),
                            verdict, entry.event_id or "-")
        show_table(history)


@click.command()
@click.option("-o", "--output", type=click.File("w"), default="-", help="Where to write.")
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]), default="csv",
              show_default=True)
@db_option
@pass_context
def suppressions(ctx: Context, output: IO[str], fmt: str, database: str | None) -> None:
    """The suppression list: everyone unsubscribed from all mail or suppressed (sunset), for
    the sending system to skip."""
    with ctx.store(ctx.settings(database=database)) as store:
        rows = subs.suppression_list(store)
    if fmt == "json":
        json.dump([{"recipient": r.recipient, "reason": r.reason, "since": when(r.at),
                    "detail": r.detail} for r in rows], output, indent=2)
        output.write("\n")
    else:
        writer = csv.writer(output)
        writer.writerow(["recipient", "reason", "since", "detail"])
        for r in rows:
            writer.writerow(safe_row([r.recipient, r.reason, when(r.at), r.detail or ""]))
    console_err.print(f"{len(rows):,} addresses suppressed")


@click.group()
def reviews() -> None:
    """Unsubscribes judged non-human: held, never applied, until the person confirms or an
    operator decides."""


@reviews.command("list")
@click.option("--status", type=click.Choice([*(s.value for s in subs.ReviewStatus), "all"]),
              default=subs.ReviewStatus.HELD.value, show_default=True)
@FORMAT
@db_option
@pass_context
def reviews_list(ctx: Context, status: str, fmt: str, database: str | None) -> None:
    """Held attempts with the reasons they were judged non-human."""
    with ctx.store(ctx.settings(database=database)) as store:
        found = subs.reviews(store, None if status == "all" else status)
    if fmt == "json":
        _json([r.to_json() for r in found])
        return
    table = Table("event", "when", "recipient", "request", "score", "why", "status")
    for review in found:
        reasons = [r["detail"] for r in review.judgement.get("reasons", [])
                   if r.get("weight", 0) > 0][:2]
        table.add_row(review.event_id, when(review.created_at), review.recipient,
                      review.change.describe(), f"{review.judgement.get('score', 0):.2f}",
                      "; ".join(reasons) or "-", review.status)
    show_table(table)
    if status == subs.ReviewStatus.HELD and found:
        console_err.print("apply one with: clicksift reviews apply EVENT   "
                          "(or dismiss it: clicksift reviews dismiss EVENT)")


def _decide(ctx: Context, event_ids: tuple[str, ...], database: str | None,
            apply_it: bool) -> None:
    with ctx.store(ctx.settings(database=database)) as store:
        for event_id in event_ids:
            with store.transaction():
                review = subs.decide(store, event_id, apply_it=apply_it, operator="cli")
            console_err.print(f"{review.status}: {review.recipient}: {review.change.describe()}")


@reviews.command("apply")
@click.argument("event_ids", nargs=-1, required=True, metavar="EVENT...")
@db_option
@pass_context
def reviews_apply(ctx: Context, event_ids: tuple[str, ...], database: str | None) -> None:
    """Apply held attempts (the operator believes a person asked)."""
    _decide(ctx, event_ids, database, True)


@reviews.command("dismiss")
@click.argument("event_ids", nargs=-1, required=True, metavar="EVENT...")
@db_option
@pass_context
def reviews_dismiss(ctx: Context, event_ids: tuple[str, ...], database: str | None) -> None:
    """Dismiss held attempts (a machine asked; the subscription stays)."""
    _decide(ctx, event_ids, database, False)


@click.command()
@click.option("--days", type=click.IntRange(1), help="No human engagement in the last N days.")
@click.option("--sends", type=click.IntRange(1), help="No human engagement in each "
              "recipient's last N messages.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, allow_dash=True),
              help="Write the list as CSV.")
@click.option("--suppress", is_flag=True, help="Add the list to the suppressions (asks first).")
@click.option("--yes", is_flag=True, help="With --suppress: do it without asking.")
@db_option
@pass_context
def sunset(ctx: Context, days: int | None, sends: int | None, output: str | None,
           suppress: bool, yes: bool, database: str | None) -> None:
    """Recipients with no human engagement (people's opens and clicks, not Apple's proxy or
    scanners; conversions), beside the list raw engagement would give."""
    if (days is None) == (sends is None):
        raise InputError("give either --days N or --sends N")
    settings = ctx.settings(database=database)
    with ctx.store(settings) as store:
        result = sunset_list(store, days=days, sends=sends, audit=settings.audit_mode,
                             machine_score=settings.sunset_machine_score)
        _show_sunset(result)
        if output:
            with click.open_file(output, "w") as out:
                _write_csv(result, out)
            console_err.print(f"wrote {len(result.human):,} recipients to {output}")
        if suppress:
            if not result.human:
                warn("nobody to suppress")
                return
            if not yes and not click.confirm(
                    f"Suppress {len(result.human):,} recipients (they will be on the "
                    "suppression list)?", err=True):
                console_err.print("nothing changed (dry run)")
                return
            with store.transaction():
                added = subs.suppress(store, [r.recipient for r in result.human], "sunset",
                                      result.rule)
            console_err.print(f"suppressed {added:,} recipients ({result.rule})")
        elif result.human:
            console_err.print("dry run: nothing changed; --suppress adds them to the "
                              "suppression list")


def _show_sunset(result: Sunset) -> None:
    console.print(f"[bold]Sunset[/] ({result.rule}): {result.considered:,} recipients "
                  f"considered")
    console.print(f"  no human engagement:  [bold]{len(result.human):,}[/]")
    console.print(f"  no raw engagement:    {len(result.raw):,}  (what a list built on raw "
                  f"opens and clicks would sunset)")
    console.print(f"  engaged only by machines: {result.machine_only:,} (Apple's proxy, "
                  f"scanners: raw numbers would keep mailing them)")
    table = Table("recipient", "sends", "raw opens", "raw clicks", "human opens",
                  "human clicks", "conversions", "last human engagement",
                  title="No human engagement (first 20)")
    for row in result.human[:20]:
        table.add_row(row.recipient, str(row.sends), str(row.raw_opens), str(row.raw_clicks),
                      str(row.human_opens), str(row.human_clicks), str(row.conversions),
                      when(row.last_human))
    show_table(table)


def _write_csv(result: Sunset, out: IO[str]) -> None:
    writer = csv.writer(out)
    writer.writerow(["recipient", "sends", "raw_opens", "raw_clicks", "human_opens",
                     "human_clicks", "conversions", "last_human_engagement",
                     "in_raw_list"])
    raw = {r.recipient for r in result.raw}
    for row in result.human:
        writer.writerow(safe_row([row.recipient, row.sends, row.raw_opens, row.raw_clicks,
                         row.human_opens, row.human_clicks, row.conversions,
                         when(row.last_human) if row.last_human else "",
                         "yes" if row.recipient in raw else "no"]))


COMMANDS = [subscriptions, suppressions, reviews, sunset]


@click.group()
def hooks() -> None:
    """Outbound webhooks: events sent to your automations, people's only by default."""


@hooks.command("create")
@click.argument("url")
@click.option("--events", default="click,unsubscribe,conversion", show_default=True,
              help=f"Comma-separated event types: {', '.join(outbound.EVENT_TYPES)}.")
@click.option("--all-traffic", is_flag=True,
              help="Send machines' events too (each carries its verdict).")
@click.option("--include-stored", is_flag=True, help="Also send the events already stored.")
@db_option
@pass_context
def hooks_create(ctx: Context, url: str, events: str, all_traffic: bool,
                 include_stored: bool, database: str | None) -> None:
    """Send events to URL as signed POSTs; prints the signing secret (shown once)."""
    with ctx.store(ctx.settings(database=database)) as store:
        hook = outbound.create_hook(store, url, [e.strip() for e in events.split(",")
                                                 if e.strip()],
                                    humans_only=not all_traffic, from_now=not include_stored)
    console_err.print(f"webhook {hook.id} -> {hook.url} ({', '.join(hook.events)}; "
                      f"{'people only' if hook.humans_only else 'all traffic'}). Verify each "
                      "POST's Clicksift-Signature with this secret (docs/protect.md):")
    print(hook.secret)


@hooks.command("list")
@FORMAT
@db_option
@pass_context
def hooks_list(ctx: Context, fmt: str, database: str | None) -> None:
    """Webhooks and the state of their deliveries."""
    with ctx.store(ctx.settings(database=database)) as store:
        found, counts = outbound.list_hooks(store), outbound.delivery_counts(store)
    if fmt == "json":
        _json([{"id": h.id, "url": h.url, "events": list(h.events),
                "humans_only": h.humans_only, "deliveries": dict(counts.get(h.id, {}))}
               for h in found])
        return
    table = Table("id", "url", "events", "sends", "delivered", "pending", "failed")
    for hook in found:
        c = counts.get(hook.id, Counter())
        table.add_row(hook.id, hook.url, ", ".join(hook.events),
                      "people" if hook.humans_only else "all", f"{c['delivered']:,}",
                      f"{c['pending']:,}", f"{c['failed']:,}")
    show_table(table)


@hooks.command("deliveries")
@click.argument("hook_id", required=False, metavar="[HOOK]")
@click.option("--status", type=click.Choice(["pending", "delivered", "failed"]))
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10_000))
@FORMAT
@db_option
@pass_context
def hooks_deliveries(ctx: Context, hook_id: str | None, status: str | None, limit: int,
                     fmt: str, database: str | None) -> None:
    """Recent deliveries, newest first, with their attempts and last error."""
    with ctx.store(ctx.settings(database=database)) as store:
        rows = outbound.deliveries(store, hook_id=hook_id, status=status, limit=limit)
    if fmt == "json":
        _json([d.to_json() for d in rows])
        return
    table = Table("delivery", "hook", "event", "status", "attempts", "queued", "next try",
                  "last error")
    for d in rows:
        table.add_row(str(d.seq), d.hook_id, d.event_id, d.status, str(d.attempts),
                      when(d.created_at), when(d.due_at) if d.status == "pending" else "-",
                      d.last_error or "-")
    show_table(table)


@hooks.command("deliver")
@db_option
@pass_context
def hooks_deliver(ctx: Context, database: str | None) -> None:
    """Queue settled events and deliver what is due, once (the server does this every
    hook_poll_seconds; use this from cron when no server runs)."""
    from clicksift.classify import engine_from_settings

    settings = ctx.settings(database=database)
    dispatcher = outbound.Dispatcher(settings, lambda: ctx.store(settings),
                                     engine_from_settings(settings))
    result = dispatcher.run_once()
    console_err.print(", ".join(f"{value:,} {name}" for name, value in result.items()))


@hooks.command("retry")
@click.argument("deliveries", nargs=-1, required=True, type=int, metavar="DELIVERY...")
@db_option
@pass_context
def hooks_retry(ctx: Context, deliveries: tuple[int, ...], database: str | None) -> None:
    """Send failed deliveries again."""
    with ctx.store(ctx.settings(database=database)) as store:
        done = outbound.retry(store, deliveries)
    console_err.print(f"{done} deliveries queued again")


@hooks.command("delete")
@click.argument("hook_id", metavar="HOOK")
@db_option
@pass_context
def hooks_delete(ctx: Context, hook_id: str, database: str | None) -> None:
    """Stop a webhook (its pending deliveries are dropped; the history stays)."""
    with ctx.store(ctx.settings(database=database)) as store:
        outbound.delete_hook(store, hook_id)
    console_err.print(f"webhook {hook_id} stopped")


COMMANDS.append(hooks)


@click.command()
@click.argument("addresses", nargs=-1, required=True, metavar="ADDRESS...")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@db_option
@pass_context
def erase(ctx: Context, addresses: tuple[str, ...], yes: bool, database: str | None) -> None:
    """Remove each ADDRESS from everything stored (events, verdicts, messages, subscriptions
    and their log, held unsubscribes, outbound deliveries); a hash of it stays suppressed,
    so it is not mailed again (docs/privacy.md). Campaign counts stay."""
    if not yes:
        if not sys.stdin.isatty():
            raise click.UsageError("erasing cannot be undone: add --yes to confirm")
        click.confirm(f"Erase {len(addresses)} address(es)? This cannot be undone",
                      abort=True)
    with ctx.store(ctx.settings(database=database)) as store:
        removed = erasure.erase(store, addresses)
    for address, counts in removed.items():
        parts = ", ".join(f"{n:,} {label}" for label, n in counts.items()) or "nothing stored"
        console.print(f"{escape(address)}: removed {escape(parts)}; a hash stays suppressed",
                      soft_wrap=True)


COMMANDS.append(erase)
