"""``clicksift import``: ESP webhook bodies and export files, normalized (and stored)."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator

import click
from rich.progress import TaskID
from rich.table import Table

from clicksift.classify import Engine, engine_from_settings
from clicksift.classify.batch import worker_count
from clicksift.cli.classify import rescore_messages
from clicksift.cli.common import (
    Context,
    console,
    console_err,
    db_option,
    event_progress,
    pass_context,
    show_table,
    warn,
)
from clicksift.errors import InputError
from clicksift.events import Event, EventType, dumps
from clicksift.ingest import ADAPTERS, PayloadError, get_adapter
from clicksift.ingest.problems import problems
from clicksift.ingest.reading import FILE_HEADER, split_bodies
from clicksift.ingest.reparse import Reparsed, reparse
from clicksift.protect.esp_unsubscribes import mirror_unsubscribes
from clicksift.settings import Settings
from clicksift.storage import SqlStore

BATCH = 5000


def _where(path: str, line: int, error: PayloadError) -> InputError:
    source = f"{path}, line {line}" + (f", {error.source}" if error.source else "")
    return InputError(error.reason, source=source, field=error.field)


def read_esp_files(esp: str, paths: tuple[str, ...], *, skip_invalid: bool,
                   skipped: list[str]) -> Iterator[Event]:
    """Events from import FILES of ESP, in file order; an invalid body stops the run with
    its file, line, record and field, unless SKIP_INVALID (then it lands in SKIPPED)."""
    adapter = get_adapter(esp)
    for path in _files(paths):
        try:
            with (sys.stdin.buffer if path == "-" else open(path, "rb")) as stream:
                data = stream.read()
        except OSError as exc:
            raise InputError(f"cannot read: {exc.strerror}", source=path) from None
        for line, body in split_bodies(data):
            try:
                events = adapter.parse(body, {FILE_HEADER: path})
            except PayloadError as exc:
                error = _where(path, line, exc)
                if not skip_invalid:
                    raise error from None
                skipped.append(str(error))
                continue
            yield from events


def _files(paths: tuple[str, ...]) -> Iterator[str]:
    """PATHS, a folder standing for every file under it (in name order, hidden ones left
    out): an ESP's export tree, as Braze Currents writes it."""
    for path in paths:
        if path != "-" and os.path.isdir(path):
            for folder, folders, names in sorted(os.walk(path)):
                folders[:] = sorted(f for f in folders if not f.startswith("."))
                yield from (os.path.join(folder, name) for name in sorted(names)
                            if not name.startswith("."))
        else:
            yield path


@click.command("import")
@click.option("--esp", required=True, type=click.Choice(sorted(ADAPTERS)),
              help="Which ESP wrote the files.")
@click.argument("files", nargs=-1, required=True, metavar="FILE|FOLDER...")
@click.option("-o", "--output", type=click.Path(dir_okay=False, allow_dash=True),
              help="Write canonical events (JSON Lines) here instead of storing them.")
@click.option("--skip-invalid", is_flag=True, help="Count and skip bodies that do not parse.")
@db_option
@pass_context
def import_(ctx: Context, esp: str, files: tuple[str, ...], output: str | None,
            skip_invalid: bool, database: str | None) -> None:
    """Normalize an ESP's webhook bodies (as posted: one per file or one per line) or its
    export files into canonical events, and store and judge them (or write them with -o).

    Files are trusted: signatures are not checked. Events already stored (same ESP id) are
    skipped, so importing a file twice is harmless."""
    skipped: list[str] = []
    events = read_esp_files(esp, files, skip_invalid=skip_invalid, skipped=skipped)
    if output is not None:
        count = 0
        with click.open_file(output, "w", encoding="utf-8") as out:
            for event in events:
                out.write(dumps(event.raw) + "\n")
                count += 1
        console_err.print(f"wrote {count:,} events from {len(files)} file(s)")
    else:
        settings = ctx.settings(database=database)
        with ctx.store(settings) as store:
            count = new = 0
            messages: set[str] = set()
            unsubscribes: list[Event] = []
            with event_progress() as progress:
                task = progress.add_task(f"importing {esp}", total=None)
                batch: list[Event] = []
                for event in events:
                    batch.append(event)
                    if event.type == EventType.UNSUBSCRIBE:
                        unsubscribes.append(event)
                    if len(batch) >= BATCH:
                        new += _store(store, batch, messages)
                        count += len(batch)
                        progress.update(task, completed=count)
                        batch = []
                new += _store(store, batch, messages)
                count += len(batch)
            console_err.print(f"read {count:,} events, stored {new:,} new, "
                              f"{count - new:,} already stored")
            if new:
                engine = engine_from_settings(settings)
                rescore_messages(store, engine, sorted(messages),
                                 worker_count(settings.classify_workers))
                console_err.print(f"judged the events of {len(messages):,} messages")
                _mirror(store, unsubscribes, engine, settings)
    if skipped:
        warn(f"skipped {len(skipped):,} invalid bodies; the first:")
        for line in skipped[:10]:
            console_err.print(f"  {line}", soft_wrap=True, markup=False)


def _mirror(store: SqlStore, unsubscribes: list[Event], engine: Engine,
            settings: Settings) -> None:
    """The ESP's unsubscribes, as its webhooks' are: a person's mirrored into clicksift's
    subscriptions, a machine's held for review (`clicksift reviews list`)."""
    if not unsubscribes:
        return
    mirrored, held = mirror_unsubscribes(store, unsubscribes, engine, settings.audit_mode,
                                         settings.hold_unsubscribe_score)
    if mirrored or held:
        console_err.print(f"unsubscribes the ESP processed: {mirrored:,} a person's "
                          f"(mirrored), {held:,} a machine's (held for review: "
                          "clicksift reviews list)")


def _store(store: SqlStore, batch: list[Event], messages: set[str]) -> int:
    if not batch:
        return 0
    messages.update(e.message_id for e in batch)
    with store.transaction():
        return int(store.add_events(batch))


@click.group()
def ingest() -> None:
    """What the ESP adapters could not read, per ESP, and reading it again."""


@ingest.command("problems")
@click.option("--esp", type=click.Choice(sorted(ADAPTERS)), help="Only this ESP's events.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True)
@db_option
@pass_context
def ingest_problems(ctx: Context, esp: str | None, fmt: str, database: str | None) -> None:
    """Records kept whole because they could not be read, and fields left out of events,
    counted per ESP and problem, with examples (the events keep the ESP's record in
    esp_payload: clicksift events shows them whole)."""
    with ctx.store(ctx.settings(database=database)) as store:
        found = problems(store, esp)
    if fmt == "json":
        print(json.dumps([p.to_json() for p in found], indent=2))
        return
    if not found:
        console_err.print("no problems: every stored ESP record was read whole")
        return
    table = Table("esp", "problem", "about", "events", "example", width=min(
        console.width, 120))
    for problem in found:
        example = problem.examples[0]
        table.add_row(problem.esp, problem.kind, problem.what, f"{problem.count:,}",
                      f"{example['note']} ({example['event'][:12]})")
    show_table(table)


@ingest.command("reparse")
@click.option("--esp", type=click.Choice(sorted(ADAPTERS)), help="Only this ESP's events.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True)
@db_option
@pass_context
def ingest_reparse(ctx: Context, esp: str | None, fmt: str, database: str | None) -> None:
    """Read the stored ESP records again with this version's adapters (after an
    upgrade): records that could not be read and can be now become their events, events
    read differently now are rewritten and judged again. Running it twice changes
    nothing the second time."""
    settings = ctx.settings(database=database)
    results: list[Reparsed] = []
    with ctx.store(settings) as store:
        with event_progress() as progress:
            for name in [esp] if esp else sorted(ADAPTERS):
                task = progress.add_task(f"reading {name} again", total=None)

                def advance(count: int, task: TaskID = task) -> None:
                    progress.update(task, completed=count)

                results.append(reparse(store, name, progress=advance))
                progress.remove_task(task)
        messages = sorted(set().union(*(r.messages for r in results)))
        if messages:
            rescore_messages(store, engine_from_settings(settings), messages,
                             worker_count(settings.classify_workers))
    results = [r for r in results if r.read]
    if fmt == "json":
        print(json.dumps([r.to_json() for r in results], indent=2))
        return
    if not results:
        console_err.print("no stored ESP events to read again")
        return
    table = Table("esp", "read", "recovered", "rewritten", "unchanged", "still unread",
                  "kept", width=min(console.width, 100))
    for r in results:
        table.add_row(r.esp, *(f"{n:,}" for n in (r.read, r.recovered, r.rewritten,
                                                   r.unchanged, r.still_unread, r.kept)))
    show_table(table)
    if messages:
        console_err.print(f"judged the events of {len(messages):,} messages again")


COMMANDS = [import_, ingest]
