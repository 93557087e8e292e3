"""``clicksift archive``: old events out of the store into Parquet files (docs/archive.md)."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime

import click
from rich.markup import escape
from rich.progress import Progress, TextColumn, TimeElapsedColumn

from clicksift.archive import Archive, ArchiveRun, archive_before, locate, recover
from clicksift.cli.common import Context, console, console_err, db_option, pass_context
from clicksift.events import dumps, parse_timestamp
from clicksift.reports.rollup import recount_uncounted
from clicksift.storage import SqlStore

_DAYS_AGO = re.compile(r"(\d+)\s*d(ays?)?", re.IGNORECASE)


def moment(text: str, now: float | None = None) -> float:
    """A --before value as Unix seconds: 'N days' ago ('90d'), a date (midnight UTC) or
    an RFC 3339 time."""
    now = time.time() if now is None else now
    value = text.strip()
    days = _DAYS_AGO.fullmatch(value)
    if days:
        return now - int(days[1]) * 86_400.0
    try:
        day = datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        pass
    else:
        return day.timestamp()
    try:
        return parse_timestamp(value)
    except ValueError:
        raise click.BadParameter(f"{text!r} is neither a date (2026-06-30), a time "
                                 "(2026-06-30T12:00:00Z) nor days ago (90d)",
                                 param_hint="--before") from None


@click.command()
@click.option("--before", metavar="DATE",
              help="Move the messages whose events are all older than DATE: a date "
                   "(2026-06-30, midnight UTC), a time (RFC 3339) or days ago (90d). "
                   "Without it: what the archive holds.")
@click.option("--to", "folder", type=click.Path(file_okay=False), metavar="FOLDER",
              help="The archive folder (setting 'archive_dir'; default: NAME.archive "
                   "beside a SQLite database).")
@click.option("--dry-run", is_flag=True, help="Count what would move; move nothing.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True)
@db_option
@pass_context
def archive(ctx: Context, before: str | None, folder: str | None, dry_run: bool, fmt: str,
            database: str | None) -> None:
    """Move old events and their verdicts out of the store into Parquet files, one folder
    per campaign and month (docs/archive.md). Reports keep their counts; 'report
    --archive' recounts from the files, 'classify --engine spark FOLDER' judges them
    again and 'erase' reaches them too."""
    cutoff = None if before is None else moment(before)
    settings = ctx.settings(database=database)
    with ctx.store(settings) as store:
        location = locate(store, folder or settings.archive_dir, settings.database)
        if location is None:
            raise click.UsageError("a PostgreSQL store has no default archive folder: give "
                                   "--to FOLDER or set archive_dir")
        where = Archive(location)
        if cutoff is None:
            if where.root.is_dir():
                recover(store, where)
            _show_status(store, where, fmt)
            return
        with Progress(TextColumn("archiving"), TextColumn("{task.fields[messages]:,} "
                                                          "messages, {task.completed:,} events"),
                      TimeElapsedColumn(), console=console_err, transient=True,
                      disable=not console_err.is_terminal) as progress:
            task = progress.add_task("archive", total=None, messages=0)
            run = archive_before(store, where, cutoff, lambda ids: recount_uncounted(store, ids),
                                 dry_run=dry_run,
                                 progress=lambda m, e: progress.update(task, completed=e,
                                                                       messages=m))
        kept = sum(store.event_counts().values())
    _show_run(run, where, cutoff, kept, dry_run, fmt)


def _show_run(run: ArchiveRun, where: Archive, cutoff: float, kept: int, dry_run: bool,
              fmt: str) -> None:
    files, size = where.size()
    if fmt == "json":
        console.print_json(dumps({
            "archive": str(where.root), "before": _iso(cutoff), "dry_run": dry_run,
            "moved": {"messages": run.messages, "events": run.events,
                      "campaigns": len(run.campaigns), "files": run.files},
            "archive_files": files, "archive_bytes": size, "store_events": kept,
            "seconds": round(run.seconds, 3)}))
        return
    verb = "would move" if dry_run else "moved"
    console.print(f"{verb} {run.events:,} events of {run.messages:,} messages "
                  f"({len(run.campaigns):,} campaigns)")
    console.print(f"  older than {_iso(cutoff)}"
                  + ("" if dry_run else f", into {run.files:,} files"))
    console.print(f"archive: {escape(str(where.root))}")
    console.print(f"  {files:,} files, {_size(size)}")
    console.print(f"the store keeps {kept:,} events"
                  + ("" if dry_run else "; reports keep their counts"))


def _show_status(store: SqlStore, where: Archive, fmt: str) -> None:
    messages, events = store.archive_totals()
    files, size = where.size()
    kept = sum(store.event_counts().values())
    if fmt == "json":
        console.print_json(dumps({"archive": str(where.root), "messages": messages,
                                  "events": events, "files": files, "bytes": size,
                                  "store_events": kept}))
        return
    console.print(f"archive: {escape(str(where.root))}")
    console.print(f"  {events:,} events of {messages:,} messages in {files:,} files "
                  f"({_size(size)})")
    console.print(f"the store keeps {kept:,} events; to move older ones:")
    console.print("  clicksift archive --before DATE")


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds").replace(
        "+00:00", "Z")


def _size(size: int) -> str:
    value = float(size)
    for unit in ("bytes", "KB", "MB", "GB"):
        if value < 1024:
            return f"{value:,.0f} {unit}" if unit == "bytes" else f"{value:,.1f} {unit}"
        value /= 1024
    return f"{value:,.1f} TB"


COMMANDS = [archive]
