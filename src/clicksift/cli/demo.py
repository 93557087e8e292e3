"""``clicksift demo``: the whole pipeline on the embedded store, in one command."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import click
import httpx

from clicksift import access, reports
from clicksift.classify import BatchClassifier, engine_from_settings
from clicksift.classify.rescore import stored_events
from clicksift.cli.common import Context, console, console_err, pass_context, verdict_summary
from clicksift.cli.report import show_campaign
from clicksift.configuration import settings_to_env
from clicksift.demo import (
    CAMPAIGN,
    ESP_CAMPAIGN,
    SIMULATED_CAMPAIGN,
    build_demo,
    esp_webhooks,
    simulated_campaign,
)
from clicksift.errors import ConfigError
from clicksift.events import LinkKind
from clicksift.protect import conversions, outbound
from clicksift.protect import subscriptions as subs
from clicksift.settings import Settings
from clicksift.simulate.driver import replay
from clicksift.storage import open_store


def _check_port_free(host: str, port: int) -> None:
    with socket.socket() as sock:
        try:
            sock.bind((host, port))
        except OSError:
            raise ConfigError(f"port {port} on {host} is in use; pass --port to choose "
                              "another") from None


def _start_server(settings: Settings, started: list[subprocess.Popen[bytes]]
                  ) -> subprocess.Popen[bytes]:
    """Start `clicksift serve` and wait until it answers; the process is put in STARTED at
    once, so that an interruption while it starts still stops it."""
    env = {**os.environ, **settings_to_env(settings), "CLICKSIFT_LOG_LEVEL": "warning"}
    process = subprocess.Popen([sys.executable, "-m", "clicksift", "serve"], env=env,
                               start_new_session=True)
    started.append(process)
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
    """The first message's links, each tracking link whole on a line of its own (so it can
    be clicked or copied in any terminal), under what it leads to."""
    first = campaign.messages[0]  # type: ignore[attr-defined]
    console.print(f"[bold]links for {first.recipient}[/]")
    for link, url in zip(first.links, first.tracking_urls, strict=True):
        target = link.url if link.kind != LinkKind.UNSUBSCRIBE else "the preference page"
        console.print(f"  [cyan]{link.kind}[/] {target}", soft_wrap=True, highlight=False)
        console.print(f"    {url}", soft_wrap=True, highlight=False)
    unsubscribe = first.headers["List-Unsubscribe"].split(",")[0].strip("<> ")
    console.print("[bold]open pixel[/]", highlight=False)
    console.print(f"    {first.open_url}", soft_wrap=True, highlight=False)
    console.print("[bold]one-click unsubscribe[/] (RFC 8058)", highlight=False)
    console.print("    curl -X POST -d List-Unsubscribe=One-Click \\", highlight=False)
    console.print(f"    '{unsubscribe}'", soft_wrap=True, highlight=False)
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
    console_err.print(f"posted [cyan]{ESP_CAMPAIGN}[/] as {len(bodies)} signed SendGrid webhook "
                      f"batches ({recipients} simulated recipients): {accepted:,} events "
                      f"accepted, {new:,} new", soft_wrap=False)


class _Receiver(BaseHTTPRequestHandler):
    """The demo's automation: takes outbound webhooks, checks their signatures, and writes
    them to FOLDER/webhook-deliveries.jsonl."""

    secret = ""
    path_out: Path = Path("webhook-deliveries.jsonl")

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        valid = outbound.verify_signature(self.secret, self.headers.get(
            outbound.SIGNATURE_HEADER, ""), body)
        with self.path_out.open("a", encoding="utf-8") as out:
            out.write(json.dumps({"signature_valid": valid, **json.loads(body)}) + "\n")
        self.send_response(200 if valid else 400)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def _start_receiver(settings: Settings, folder: Path) -> str:
    """A local webhook receiver and a people-only hook pointing at it."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/automation"
    with open_store(settings) as store:
        hook = outbound.create_hook(store, url, ["click", "unsubscribe", "conversion"],
                                    from_now=False)
    _Receiver.secret, _Receiver.path_out = hook.secret, folder / "webhook-deliveries.jsonl"
    return url


#: The terminal width the closing guide is laid out for.
GUIDE_COLUMNS = 80


def _print_guide(entries: list[tuple[str, list[str]]]) -> None:
    """What to try next, as labelled lines short enough for 80 columns; a URL, key or
    password is never cut, so each can be copied (a line longer than the terminal is a URL
    alone on its line)."""
    width = max(len(label) for label, _ in entries) + 2
    console.print()
    for label, lines in entries:
        for number, line in enumerate(lines):
            head = f"[bold green]{label}[/]" + " " * (width - len(label)) if number == 0 \
                else " " * width
            if width + len(line) > GUIDE_COLUMNS and " " not in line:
                if number == 0:
                    console.print(f"[bold green]{label}[/]", highlight=False)
                head = ""                      # a long URL alone, from the first column
            console.print(head + line, soft_wrap=True, highlight=False)


def _convert(settings: Settings, key: str, count: int = 5) -> int:
    """The demo shop reports purchases for a few of people's clicks (POST /api/v1/conversions)."""
    with open_store(settings) as store:
        clicks = conversions.peoples_tracked_clicks(store, count)
    done = 0
    with httpx.Client(timeout=30) as client:
        for number, click_id in enumerate(clicks):
            response = client.post(f"{settings.base_url}/api/v1/conversions",
                                   headers={"authorization": f"Bearer {key}"},
                                   json={"click_id": click_id, "value": 39.0 + 10 * number,
                                         "currency": "EUR", "order_id": f"demo-{number}"})
            done += response.status_code in (200, 201)
    return done


def _held(settings: Settings) -> int:
    with open_store(settings) as store:
        return len(subs.reviews(store))


def _rescore(settings: Settings) -> None:
    engine = engine_from_settings(settings)
    with open_store(settings) as store:
        ids = store.message_ids()
        batch = BatchClassifier(engine)
        verdicts = list(batch.classify(stored_events(store, ids), expected=len(ids) * 4))
        with store.transaction():
            reports.mark_dirty(store, ids)
            store.save_verdicts(verdicts, engine.version)
        reports.refresh(store)
    verdict_summary(batch.stats.by_type, f"final verdicts for {len(ids):,} messages")
    console_err.print(f"judged by {engine.version}", soft_wrap=False)


def _show_report(settings: Settings) -> None:
    with open_store(settings) as store:
        result = reports.campaign_report(store, SIMULATED_CAMPAIGN)
    show_campaign(result, "table", ("summary", "vendors", "timeline"))


def _make_logins(settings: Settings, folder: str) -> tuple[str, str]:
    """A dashboard user 'demo' and an API key, written to FOLDER/logins.txt too."""
    password = secrets.token_urlsafe(12)
    with open_store(settings) as store:
        access.set_password(store, "demo", password)
        key = access.create_key(store, "demo").secret
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
    # A plain kill, or the terminal closing (a hang-up), stops the demo like Ctrl-C does:
    # the server goes with it.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    if signal.getsignal(signal.SIGHUP) != signal.SIG_IGN:
        signal.signal(signal.SIGHUP, lambda *_: sys.exit(0))
    campaign = build_demo(Path(folder), base)
    settings = campaign.settings
    console.print(f"[bold]clicksift demo[/]: campaign [cyan]{CAMPAIGN}[/] prepared for "
                  f"{len(campaign.messages)} recipients; store [cyan]{settings.database}[/]")
    _show_links(campaign, folder)
    started: list[subprocess.Popen[bytes]] = []
    try:
        server = _start_server(settings, started)
        if recipients:
            simulated = simulated_campaign(settings, recipients, seed=7)
            console_err.print(f"sending the traffic of [cyan]{SIMULATED_CAMPAIGN}[/] "
                              f"({recipients} simulated recipients, sent 3 days ago) "
                              "through the tracking server ...", soft_wrap=False)
            answers = asyncio.run(replay(simulated, settings.base_url, until=time.time()))
            console_err.print("answers: " + ", ".join(f"{count:,} x {status}"
                                                      for status, count in sorted(answers.items())))
            _post_webhooks(settings, Path(folder), max(50, recipients // 2))
            _rescore(settings)
            _show_report(settings)
        password, key = _make_logins(settings, folder)
        base_url = f"http://{host}:{port}"
        converted = _convert(settings, key) if recipients else 0
        receiver = _start_receiver(settings, Path(folder))
        first = campaign.messages[0]
        preferences = first.headers["List-Unsubscribe"].split(",")[0].strip("<> ")
        _print_guide([
            ("Dashboard", [f"{base_url}/dashboard/",
                           f"user [cyan]demo[/], password [cyan]{password}[/]"]),
            ("JSON API", [f"KEY={key}",
                          'curl -H "Authorization: Bearer $KEY" \\',
                          f"  {base_url}/api/v1/campaigns/{SIMULATED_CAMPAIGN}"]),
            ("Report", [f"clicksift report {SIMULATED_CAMPAIGN} \\",
                        f"  --db={settings.database}"]),
            ("Click", [f"open {base_url}/demo/ in a browser:",
                       "every request is recorded and judged"]),
            ("ESP events", [f"{ESP_CAMPAIGN} came in as signed SendGrid webhooks at",
                            f"{base_url}/webhooks/sendgrid (docs/esps/: every ESP)"]),
            ("Protect", [f"{_held(settings)} unsubscribes judged non-human are held for review:",
                         f"{base_url}/dashboard/unsubscribes",
                         "(or clicksift reviews list)",
                         f"{converted} conversions reported through the API",
                         "people's clicks, unsubscribes and conversions go to a signed",
                         f"webhook at {receiver}, written to",
                         f"{Path(folder) / 'webhook-deliveries.jsonl'}"]),
            ("Preferences", ["the preference center of the first message:", preferences]),
            ("Logins", ["kept in", f"{Path(folder) / 'logins.txt'}"]),
        ])
        if not serve:
            return
        console.print("Ctrl-C stops the server.")
        server.wait()
    except KeyboardInterrupt:
        pass
    finally:
        for process in started:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(timeout=15)
