"""``clicksift demo``: the whole pipeline on the embedded store, in one command."""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import click
import httpx
from rich.table import Table

from clicksift import access, reports
from clicksift.classify import BatchClassifier, engine_from_settings
from clicksift.cli.classify import _stored_events, _summary
from clicksift.cli.common import Context, console, console_err, pass_context
from clicksift.cli.report import show_campaign
from clicksift.demo import (
    CAMPAIGN,
    ESP_CAMPAIGN,
    SIMULATED_CAMPAIGN,
    build_demo,
    esp_webhooks,
    simulated_campaign,
)
from clicksift.errors import ConfigError
from clicksift.settings import Settings, settings_to_env
from clicksift.simulate.driver import replay
from clicksift.storage import open_store


def _check_port_free(host: str, port: int) -> None:
    with socket.socket() as sock:
        try:
            sock.bind((host, port))
        except OSError:
            raise ConfigError(f"port {port} on {host} is in use; pass --port to choose "
                              "another") from None


def _start_server(settings: Settings) -> subprocess.Popen[bytes]:
    env = {**os.environ, **settings_to_env(settings), "CLICKSIFT_LOG_LEVEL": "warning"}
    process = subprocess.Popen([sys.executable, "-m", "clicksift", "serve"], env=env,
                               start_new_session=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ConfigError("the tracking server did not start (see its messages above)")
        try:
            if httpx.get(f"{settings.base_url}/healthz", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.2)
    process.kill()
    raise ConfigError("the tracking server did not answer within 30 s")


def _show_links(campaign: object, folder: str) -> None:
    first = campaign.messages[0]  # type: ignore[attr-defined]
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


def _post_webhooks(settings: Settings, folder: Path, recipients: int) -> None:
    """Post ESP_CAMPAIGN as signed SendGrid webhooks to the running server."""
    bodies = esp_webhooks(folder, recipients, seed=9)
    accepted = new = 0
    with httpx.Client(timeout=60) as client:
        for body, headers in bodies:
            response = client.post(f"{settings.base_url}/webhooks/sendgrid", content=body,
                                   headers=headers)
            if response.status_code != 200:
                raise ConfigError(f"the SendGrid webhook answered {response.status_code}: "
                                  f"{response.text}")
            accepted += response.json()["accepted"]
            new += response.json()["new"]
    console_err.print(f"posted [cyan]{ESP_CAMPAIGN}[/] ({recipients} simulated recipients) "
                      f"as {len(bodies)} signed SendGrid webhook batches: {accepted:,} events "
                      f"accepted, {new:,} new")


def _rescore(settings: Settings) -> None:
    engine = engine_from_settings(settings)
    store = open_store(settings)
    try:
        ids = store.message_ids()
        batch = BatchClassifier(engine)
        verdicts = list(batch.classify(_stored_events(store, ids), expected=len(ids) * 4))
        with store.transaction():
            reports.mark_dirty(store, ids)
            store.save_verdicts(verdicts, engine.version)
        reports.refresh(store)
    finally:
        store.close()
    _summary(batch.stats, f"final verdicts for {len(ids):,} messages ({engine.version})")


def _show_report(settings: Settings) -> None:
    store = open_store(settings)
    try:
        result = reports.campaign_report(store, SIMULATED_CAMPAIGN)
    finally:
        store.close()
    show_campaign(result, "table", ("summary", "vendors", "timeline"))


def _make_logins(settings: Settings, folder: str) -> tuple[str, str]:
    """A dashboard user 'demo' and an API key, written to FOLDER/logins.txt too."""
    password = secrets.token_urlsafe(12)
    store = open_store(settings)
    try:
        access.set_password(store, "demo", password)
        key = access.create_key(store, "demo").secret
    finally:
        store.close()
    (Path(folder) / "logins.txt").write_text(
        f"dashboard user: demo\ndashboard password: {password}\nAPI key: {key}\n")
    return password, key


@click.command()
@click.option("--dir", "folder", default="clicksift-demo", show_default=True,
              type=click.Path(file_okay=False), help="Folder for the demo (recreated).")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--recipients", default=400, show_default=True, type=click.IntRange(0, 100_000),
              help="Size of the simulated campaign sent through the server.")
@click.option("--serve/--no-serve", default=True, show_default=True,
              help="Keep the tracking server running at the end (Ctrl-C stops it).")
@pass_context
def demo(ctx: Context, folder: str, host: str, port: int, recipients: int,
         serve: bool) -> None:
    """Run the whole pipeline on a fresh SQLite store: prepare a campaign you can click,
    start the tracking server, send a simulated campaign's traffic (scanners, Apple's proxy,
    people) through it, judge every request, and keep serving.

    Open the printed /demo/ address in a browser and click: every request is recorded."""
    base = ctx.settings(host=host, port=port)
    _check_port_free(host, port)
    campaign = build_demo(Path(folder), base)
    settings = campaign.settings
    console.print(f"[bold]clicksift demo[/]: campaign [cyan]{CAMPAIGN}[/] prepared for "
                  f"{len(campaign.messages)} recipients; store [cyan]{settings.database}[/]")
    _show_links(campaign, folder)
    server = _start_server(settings)
    try:
        if recipients:
            simulated = simulated_campaign(settings, recipients, seed=7)
            console_err.print(f"sending the traffic of [cyan]{SIMULATED_CAMPAIGN}[/] "
                              f"({recipients} simulated recipients, sent 3 days ago) "
                              "through the tracking server ...")
            answers = asyncio.run(replay(simulated, settings.base_url, until=time.time()))
            console_err.print("answers: " + ", ".join(f"{count:,} x {status}"
                                                      for status, count in sorted(answers.items())))
            _post_webhooks(settings, Path(folder), max(50, recipients // 2))
            _rescore(settings)
            _show_report(settings)
        password, key = _make_logins(settings, folder)
        base_url = f"http://{host}:{port}"
        console.print(
            f"\n[bold green]Dashboard:[/] {base_url}/dashboard/  (user [cyan]demo[/], "
            f"password [cyan]{password}[/])\n"
            f"[bold green]JSON API:[/]  curl -H 'Authorization: Bearer {key}' "
            f"{base_url}/api/v1/campaigns/{SIMULATED_CAMPAIGN}\n"
            f"[bold green]Report:[/]    clicksift report {SIMULATED_CAMPAIGN} --db "
            f"{settings.database}\n"
            f"[bold green]ESP events:[/] {ESP_CAMPAIGN} came in as signed SendGrid webhooks at "
            f"{base_url}/webhooks/sendgrid (docs/esps/ for every ESP)\n"
            f"[bold green]Click:[/]     open {base_url}/demo/ in a browser; every request is "
            f"recorded and judged.\n(logins are in {Path(folder) / 'logins.txt'})",
            soft_wrap=True)
        if not serve:
            return
        console.print("Ctrl-C stops the server.")
        server.wait()
    except KeyboardInterrupt:
        pass
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=15)
