"""Core commands: serve, prepare, load, events, config."""

from __future__ import annotations

import json
import os
import sys
import textwrap
from pathlib import Path
from typing import IO, Any

import click
from rich.markup import escape
from rich.table import Table

from clicksift.cli.common import (
    Context,
    console,
    console_err,
    db_option,
    event_progress,
    pass_context,
    report_skipped,
    time_option,
    warn,
)
from clicksift.configuration import SETTINGS_TABLE, redacted
from clicksift.errors import InputError
from clicksift.events import ReadStats, dumps, read_events
from clicksift.links import TrackingUrls, load_signer
from clicksift.prepare import PrepareOptions, Preparer

LOAD_BATCH = 5000
#: Narrower terminals get the settings one after another instead of a table.
WIDE_CONFIG = 120


@click.command()
@db_option
@click.option("--host", help="Address to listen on (setting 'host').")
@click.option("--port", type=int, help="Port to listen on (setting 'port').")
@click.option("--workers", type=int, help="Worker processes (setting 'workers').")
@click.option("--server", type=click.Choice(["granian", "uvicorn"]),
              help="ASGI server (setting 'server').")
@pass_context
def serve(ctx: Context, database: str | None, host: str | None, port: int | None,
          workers: int | None, server: str | None) -> None:
    """Run the tracking server (click redirects, open pixel, unsubscribe)."""
    from clicksift.server import runner

    settings = ctx.settings(database=database, host=host, port=port, workers=workers,
                            server=server)
    with ctx.store(settings) as store:  # create and migrate before the workers start
        load_signer(settings.signing_keys, store)
    console_err.print(f"clicksift tracking server on http://{settings.host}:{settings.port} "
                      f"({settings.server}, {settings.workers} worker(s), store "
                      f"{settings.database}); Ctrl-C stops it", soft_wrap=False)
    runner.run(settings)


def _read_text_file(path: str, encoding: str) -> str:
    try:
        data = Path(path).read_bytes() if path != "-" else sys.stdin.buffer.read()
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", source=path) from None
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise InputError(f"is not {encoding} (byte 0x{data[exc.start]:02x} at offset "
                         f"{exc.start}); convert it or pass --encoding", source=path) from None
    except LookupError:
        raise InputError(f"unknown encoding {encoding!r}", source=path) from None


def _write_text(path: str | None, text: str) -> None:
    if path is None or path == "-":
        sys.stdout.write(text)
        return
    try:
        Path(path).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot write: {exc.strerror}", source=path) from None


@click.command()
@click.argument("email", metavar="EMAIL.html")
@click.option("--recipient", required=True, metavar="ADDRESS", help="The recipient's address.")
@click.option("--campaign", required=True, metavar="ID", help="Campaign id.")
@click.option("--message-id", metavar="ID", help="Message id (default: a new random id).")
@click.option("--text", "text_file", metavar="TEXT.txt", help="Plain-text part to track too.")
@click.option("-o", "--output", metavar="OUT.html", help="Prepared HTML (default: stdout).")
@click.option("--text-out", metavar="OUT.txt", help="Where the prepared text part goes.")
@click.option("--headers-out", metavar="HEADERS.json",
              help="Write the List-Unsubscribe headers (JSON) here.")
@click.option("--encoding", default="utf-8", show_default=True, help="Encoding of EMAIL.html.")
@db_option
@pass_context
def prepare(ctx: Context, email: str, recipient: str, campaign: str, message_id: str | None,
            text_file: str | None, output: str | None, text_out: str | None,
            headers_out: str | None, encoding: str, database: str | None) -> None:
    """Rewrite EMAIL.html's links into signed tracking links, add the open pixel, honeypot
    links and unsubscribe headers, and record the message in the store."""
    settings = ctx.settings(database=database)
    html = _read_text_file(email, encoding)
    text = _read_text_file(text_file, encoding) if text_file else None
    with ctx.store(settings) as store:
        signer = load_signer(settings.signing_keys, store)
        preparer = Preparer(TrackingUrls(settings.base_url, signer),
                            PrepareOptions.from_settings(settings))
        prepared = preparer.prepare(html, recipient=recipient, campaign_id=campaign,
                                    message_id=message_id, text=text)
        from clicksift.events import event_from_dict
        with store.transaction():
            store.add_events([event_from_dict(prepared.delivered_event())])
    for text_warning in prepared.warnings:
        warn(text_warning)
    _write_text(output, prepared.html)
    if prepared.text is not None:
        if text_out:
            _write_text(text_out, prepared.text)
        else:
            warn("the prepared text part was not written; pass --text-out")
    if headers_out:
        _write_text(headers_out, json.dumps(prepared.headers, indent=2) + "\n")
    kinds = [link.kind for link in prepared.links]
    console_err.print(
        f"prepared message [bold]{prepared.message_id}[/] for {recipient}: "
        f"{kinds.count('content')} links tracked, {kinds.count('honeypot')} honeypot, "
        f"unsubscribe {'in body' if 'unsubscribe' in kinds else 'in headers'}")




@click.command()
@click.argument("files", nargs=-1, required=True, metavar="EVENTS.jsonl...")
@click.option("--skip-invalid", is_flag=True, help="Count and skip invalid lines.")
@click.option("--no-judge", is_flag=True,
              help="Store only; judge later with 'clicksift rescore' (a faster bulk load).")
@db_option
@pass_context
def load(ctx: Context, files: tuple[str, ...], skip_invalid: bool, no_judge: bool,
         database: str | None) -> None:
    """Store events in the canonical shape (from simulate, another system or an export),
    and judge the messages they belong to, as `import` does.

    Events already stored (same id) are skipped, so loading a file twice is harmless."""
    from clicksift.classify import engine_from_settings
    from clicksift.classify.batch import worker_count
    from clicksift.cli.classify import rescore_messages

    settings = ctx.settings(database=database)
    stats = ReadStats()
    new = 0
    messages: set[str] = set()
    with ctx.store(settings) as store:
        with event_progress() as progress:
            task = progress.add_task("loading", total=None)
            batch = []
            for event in read_events(files, skip_invalid=skip_invalid, stats=stats):
                batch.append(event)
                if len(batch) >= LOAD_BATCH:
                    new += _store_batch(store, batch, messages)
                    progress.update(task, completed=stats.events)
                    batch = []
            new += _store_batch(store, batch, messages)
        console_err.print(f"read {stats.events:,} events, stored {new:,} new, "
                          f"{stats.events - new:,} already stored")
        if new and not no_judge:
            rescore_messages(store, engine_from_settings(settings), sorted(messages),
                             worker_count(settings.classify_workers))
            console_err.print(f"judged the events of {len(messages):,} messages")
    report_skipped(stats)


def _store_batch(store: Any, batch: list[Any], messages: set[str]) -> int:
    if not batch:
        return 0
    messages.update(e.message_id for e in batch)
    with store.transaction():
        return int(store.add_events(batch))






@click.command()
@db_option
@click.option("-o", "--output", metavar="EVENTS.jsonl", help="Output file (default: stdout).")
@click.option("--campaign", metavar="ID", help="Only this campaign's events.")
@click.option("--type", "types", multiple=True, help="Only events of this type (repeatable).")
@click.option("--since", metavar="TIME", help="Only events at or after TIME (RFC 3339).")
@click.option("--until", metavar="TIME", help="Only events before TIME (RFC 3339).")
@pass_context
def events(ctx: Context, database: str | None, output: str | None, campaign: str | None,
           types: tuple[str, ...], since: str | None, until: str | None) -> None:
    """Export stored events in the canonical shape (JSON Lines)."""
    settings = ctx.settings(database=database)
    start, end = time_option(since, "--since"), time_option(until, "--until")
    with ctx.store(settings) as store:
        count = 0
        to_file = output not in {None, "-"}
        # A file is written beside its destination and moved into place only when complete:
        # a failed export leaves no empty or partial file where the old one was.
        partial = f"{output}.partial" if to_file else None
        out: IO[str] = (open(partial, "w", encoding="utf-8") if partial  # noqa: SIM115
                        else sys.stdout)
        done = False
        try:
            for stored in store.iter_events(campaign_id=campaign, types=types, since=start,
                                            until=end):
                out.write(dumps(stored.raw) + "\n")
                count += 1
            done = True
        finally:
            if partial:
                out.close()
                if done:
                    os.replace(partial, str(output))
                else:
                    os.unlink(partial)
    if to_file:
        console_err.print(f"wrote {count:,} events to {output}")


@click.command("config")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "env"]), default="table",
              show_default=True)
@pass_context
def config(ctx: Context, fmt: str) -> None:
    """Print the effective settings, where each comes from, and what it does."""
    loaded = ctx.load()
    settings = loaded.settings
    if fmt == "json":
        console.print_json(json.dumps({name: {"value": redacted(settings, name),
                                              "source": loaded.sources[name]}
                                       for name in SETTINGS_TABLE}))
    elif fmt == "env":
        for name, info in SETTINGS_TABLE.items():
            click.echo(f"{info.env_var}={redacted(settings, name)}")
    elif console.width < WIDE_CONFIG:
        # one setting after another, its meaning wrapped under it: a table's four columns
        # would squeeze the meaning into a sliver and cut it off
        width = max(40, console.width - 1)
        for name, info in SETTINGS_TABLE.items():
            value = redacted(settings, name)
            console.print(f"[bold]{name}[/] = {escape(value) if value else '[dim]empty[/]'}  "
                          f"[dim]({escape(loaded.sources[name])})[/]", soft_wrap=True)
            console.print(textwrap.fill(info.help, width, initial_indent="    ",
                                        subsequent_indent="    ", break_on_hyphens=False,
                                        break_long_words=False), markup=False,
                          highlight=False)
    else:
        table = Table("setting", "value", "source", "meaning", show_lines=False)
        for name, info in SETTINGS_TABLE.items():
            table.add_row(name, redacted(settings, name), loaded.sources[name], info.help)
        console.print(table)
    for variable in loaded.unknown_env:
        warn(f"environment variable {variable} names no setting")


COMMANDS = [serve, prepare, load, events, config]
