"""What every command shares: settings, the store, consoles and common options."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click
from rich.console import Console

from clicksift.events import minute_text
from clicksift.ingest import check_settings
from clicksift.settings import LoadedSettings, Settings, load_settings
from clicksift.storage import SqlStore, open_store

console = Console(highlight=False)
console_err = Console(stderr=True, highlight=False, soft_wrap=True)
F = TypeVar("F", bound=Callable[..., Any])


class Context:
    """Per-invocation state: the config file and the settings loaded from it."""

    def __init__(self, config_file: str | None) -> None:
        self.config_file = config_file

    def load(self, **overrides: Any) -> LoadedSettings:
        loaded = load_settings(self.config_file, overrides=overrides)
        check_settings(loaded.settings)
        return loaded

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
