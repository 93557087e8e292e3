"""The ``clicksift`` command. Each command parses, calls the library, renders."""

from __future__ import annotations

import sys
from typing import Any

import click
from rich.markup import escape

from clicksift import __version__
from clicksift.classify import COMPILED
from clicksift.cli.common import Context, console_err
from clicksift.errors import (
    ClicksiftError,
    ConfigError,
    InputError,
    NotFoundError,
    PrepareError,
)

#: Errors that are the user's input or configuration (exit status 2, like bad usage).
USER_ERRORS = (InputError, ConfigError, PrepareError, NotFoundError)


class ClicksiftGroup(click.Group):
    """Turns clicksift errors into one clear line on stderr instead of a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ClicksiftError as error:
            # one line, whatever a driver's message holds (PostgreSQL's spans two)
            message = " ".join(str(error).split())
            console_err.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)
            sys.exit(2 if isinstance(error, USER_ERRORS) else 1)
        except BrokenPipeError:
            sys.stderr.close()
            sys.exit(0)


@click.group(cls=ClicksiftGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="clicksift", message=(
    "%(prog)s, version %(version)s (classifier "
    + ("compiled by mypyc" if COMPILED else "plain Python: install with a C compiler for speed")
    + ")"))
@click.option("--config", "config_file", type=click.Path(dir_okay=False),
              help="TOML settings file (default: $CLICKSIFT_CONFIG or ./clicksift.toml).")
@click.pass_context
def main(ctx: click.Context, config_file: str | None) -> None:
    """Tell people from machines in email engagement.

    Prepare messages with signed tracking links, run the tracking server, load and
    classify events, and see raw and human numbers side by side.
    """
    ctx.obj = Context(config_file)


def _register() -> None:
    from clicksift.cli import (
        access,
        archive,
        classify,
        core,
        demo,
        doctor,
        ingest,
        knowledge,
        protect,
        report,
        simulate,
    )

    for command in [*core.COMMANDS, *classify.COMMANDS, *simulate.COMMANDS,
                    *knowledge.COMMANDS, *report.COMMANDS, *access.COMMANDS, *ingest.COMMANDS,
                    *protect.COMMANDS, *doctor.COMMANDS, *archive.COMMANDS,
                    demo.demo]:
        command.short_help = SHORT_HELP[str(command.name)]
        main.add_command(command)
        for name, sub in getattr(command, "commands", {}).items():
            sub.short_help = SHORT_HELP.get(f"{command.name} {name}", sub.short_help)


#: Each command in the list `clicksift --help` prints: whole in 80 columns, where click
#: would cut the first sentence of its help off with "...".
SHORT_HELP = {
    "archive": "Move old events into Parquet files.",
    "classify": "Judge the events of JSON Lines files.",
    "config": "Show the settings and where each comes from.",
    "demo": "Prepare, track and report a demo campaign.",
    "doctor": "Check a domain's sending set-up.",
    "erase": "Remove people's addresses from everything.",
    "events": "Export stored events (JSON Lines).",
    "gateways": "Find the gateways behind recipient domains.",
    "hooks": "Send people's events to your automations.",
    "import": "Import an ESP's webhook bodies or files.",
    "ingest": "ESP records that could not be read.",
    "keys": "API keys for the JSON API and dashboard.",
    "knowledge": "The user agents and networks known.",
    "load": "Store events in the canonical shape.",
    "prepare": "Add tracking links, pixel and headers to mail.",
    "report": "Raw and human numbers per campaign.",
    "rescore": "Judge stored events again, with context.",
    "reviews": "Unsubscribes held for review.",
    "serve": "Run the tracking server.",
    "simulate": "Write labelled simulated traffic.",
    "subscriptions": "A person's subscriptions and history.",
    "sunset": "Who showed no human engagement.",
    "suppressions": "The suppression list.",
    "users": "Dashboard users and their passwords.",
    "hooks create": "Send events to a URL as signed POSTs.",
    "hooks delete": "Stop a webhook; drop its pending deliveries.",
    "hooks deliver": "Deliver what is due, once.",
    "hooks deliveries": "Recent deliveries and their attempts.",
    "keys create": "Make an API key (shown once).",
    "ingest problems": "Records and fields that could not be read.",
    "ingest reparse": "Read the stored ESP records again.",
    "knowledge update": "Update vendor networks from their lists.",
}


_register()
