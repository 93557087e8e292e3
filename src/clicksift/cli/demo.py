"""``clicksift demo``: the whole pipeline on the embedded store, in one command."""

from __future__ import annotations

import socket
from pathlib import Path

import click
from rich.table import Table

from clicksift.cli.common import Context, console, pass_context
from clicksift.demo import CAMPAIGN, build_demo
from clicksift.errors import ConfigError


def _check_port_free(host: str, port: int) -> None:
    with socket.socket() as sock:
        try:
            sock.bind((host, port))
        except OSError:
            raise ConfigError(f"port {port} on {host} is in use; pass --port to choose "
                              "another") from None


@click.command()
@click.option("--dir", "folder", default="clicksift-demo", show_default=True,
              type=click.Path(file_okay=False), help="Folder for the demo (recreated).")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--serve/--no-serve", default=True, show_default=True,
              help="Run the tracking server after preparing the campaign.")
@pass_context
def demo(ctx: Context, folder: str, host: str, port: int, serve: bool) -> None:
    """Prepare a demo campaign on a fresh SQLite store and run the tracking server.

    Open the printed /demo/ address in a browser, open a message and click its links:
    every request is recorded. `clicksift events --db DIR/demo.db` shows them."""
    base = ctx.settings(host=host, port=port)
    if serve:
        _check_port_free(host, port)
    campaign = build_demo(Path(folder), base)
    settings = campaign.settings
    console.print(f"[bold]clicksift demo[/]: campaign [cyan]{CAMPAIGN}[/] prepared for "
                  f"{len(campaign.messages)} recipients; store [cyan]{settings.database}[/]")
    first = campaign.messages[0]
    table = Table("kind", "destination", "tracking link", title=f"links for {first.recipient}",
                  title_justify="left")
    for link, url in zip(first.links, first.tracking_urls, strict=True):
        table.add_row(link.kind, link.url if link.kind != "unsubscribe" else "(preferences)",
                      url)
    console.print(table, soft_wrap=True)
    unsubscribe = first.headers["List-Unsubscribe"].split(",")[0].strip("<> ")
    console.print(f"open pixel:        {first.open_url}", soft_wrap=True)
    console.print(f"one-click unsubscribe: curl -X POST -d List-Unsubscribe=One-Click "
                  f"'{unsubscribe}'", soft_wrap=True)
    console.print(f"prepared messages: {Path(folder) / 'messages'}/")
    if not serve:
        return
    console.print(f"\n[bold green]Open http://{host}:{port}/demo/ in a browser[/] and click. "
                  f"Then: clicksift events --db {settings.database}\n")
    from clicksift.server import runner

    runner.run(settings)
