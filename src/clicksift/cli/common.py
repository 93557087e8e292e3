"""What every command shares: settings, the store, consoles and common options."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.measure import Measurement
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from clicksift.classify.vocabulary import Label
from clicksift.configuration import LoadedSettings, load_settings
from clicksift.events import ReadStats, minute_text, parse_timestamp
from clicksift.settings import Settings
from clicksift.storage import SqlStore, open_store

console = Console(highlight=False)
console_err = Console(stderr=True, highlight=False, soft_wrap=True)
F = TypeVar("F", bound=Callable[..., Any])


class Context:
    """Per-invocation state: the config file and the settings loaded from it."""

    def __init__(self, config_file: str | None) -> None:
        self.config_file = config_file

    def load(self, **overrides: Any) -> LoadedSettings:
        return load_settings(self.config_file, overrides=overrides)

    def settings(self, **overrides: Any) -> Settings:
        return self.load(**overrides).settings

    def store(self, settings: Settings) -> SqlStore:
        return open_store(settings)


def db_option(func: F) -> F:
    return click.option("--db", "database", metavar="PATH",
                        help="SQLite file or postgresql:// URL (setting 'database').")(func)


def when(seconds: float | None) -> str:
    """A time in a table: 'YYYY-MM-DD HH:MM UTC', or '-' when there is none."""
    return minute_text(seconds, "-")


def warn(text: str) -> None:
    console_err.print(f"[yellow]warning:[/] {text}", soft_wrap=True)


pass_context = click.make_pass_decorator(Context)


def event_progress() -> Progress:
    """A progress display for long work over events (hidden when stderr is no terminal)."""
    return Progress(TextColumn("{task.description}"), BarColumn(),
                    TextColumn("{task.completed:,} events"), TimeElapsedColumn(),
                    console=console_err, transient=True, disable=not console_err.is_terminal)


def report_skipped(stats: ReadStats) -> None:
    """Say how many invalid lines were skipped, and show the first of them."""
    if stats.skipped:
        warn(f"skipped {stats.skipped:,} invalid lines; the first:")
        for line in stats.first_errors:
            console_err.print(f"  {line}", soft_wrap=True, markup=False)


def time_option(value: str | None, name: str) -> float | None:
    """A --since/--until value as Unix seconds; a usage error naming NAME otherwise."""
    if value is None:
        return None
    try:
        return parse_timestamp(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint=name) from None


def show_table(table: Table, *, keys: int = 1, out: Console | None = None) -> None:
    """TABLE as a table when every word of every cell fits the terminal; on a narrower one,
    each row as a record: its first KEYS cells whole on a line (an id, an address or a URL
    is never cut, so it can be copied), then the other columns as "header: value" wrapped
    under it. A table squeezed below its words' widths would cut them off with "…"."""
    out = out or console
    unbounded = out.options.update_width(1 << 20)   # measured unclamped by the terminal
    if Measurement.get(out, unbounded, table).minimum <= out.width:
        out.print(table)
        return
    if table.title:
        out.print(table.title, style="italic", highlight=False)
    headers = [_plain(column.header) for column in table.columns]
    width = max(40, out.width - 1)
    for row in zip(*(list(column.cells) for column in table.columns), strict=True):
        cells = [_plain(cell) for cell in row]
        out.print(" ".join(cells[:keys]), style="bold", highlight=False, soft_wrap=True)
        pairs = [f"{header}: {cell}" for header, cell in zip(headers[keys:], cells[keys:],
                                                             strict=True)
                 if cell not in ("", "-")]
        if pairs:
            out.print(textwrap.fill(" · ".join(pairs), width, initial_indent="    ",
                                    subsequent_indent="    ", break_long_words=False,
                                    break_on_hyphens=False), markup=False, highlight=False)


def _plain(cell: Any) -> str:
    text = cell.plain if isinstance(cell, Text) else Text.from_markup(str(cell)).plain
    return " ".join(text.split())


def verdict_summary(by_type: dict[str, dict[str, int]], title: str) -> None:
    """Verdicts per event type: events, human, nhi and the machine share."""
    table = Table("type", "events", "human", "nhi", "nhi share", title=title,
                  title_justify="left")
    for kind, row in sorted(by_type.items()):
        human, machine = row[Label.HUMAN], row[Label.NHI]
        total = human + machine
        table.add_row(kind, f"{total:,}", f"{human:,}", f"{machine:,}",
                      f"{machine / total:.1%}" if total else "-")
    show_table(table, out=console_err)
