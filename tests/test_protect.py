"""Protect, end to end over real HTTP: unsubscribes machines cannot make, the preference
center, conversions, sunsetting and outbound webhooks fed by people only."""

from __future__ import annotations

import csv
import json
import random
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from clicksift import access
from clicksift.cli import main
from clicksift.events import event_from_dict, format_timestamp
from clicksift.links import TrackingUrls, load_signer
from clicksift.prepare import PreparedMessage, Preparer
from clicksift.protect import outbound
from clicksift.protect import subscriptions as subs
from clicksift.protect.conversions import add_click_id
from clicksift.settings import Settings
from clicksift.simulate import world
from clicksift.storage import open_store
from tests.support import EMAILS, ServerProcess, running_server

BASE = "https://t.example.net"
SCANNER_IP = "40.107.145.184"            # Microsoft Defender (Exchange Online Protection)
CLOUD_IP = "3.80.1.1"                     # Amazon Web Services (cloud space)
PERSON_IP = "79.210.54.236"              # a residential address
TOPICS = "news:Newsletter,offers:Special offers"
ADDRESSES = ["ann@example.com", "bob@contoso.example", "cem@example.org", "dia@example.net",
             "eve@example.com", "fay@example.com"]


# -- a webhook receiver on loopback that can be down -----------------------------------------

@dataclass
class Receiver:
    failures_left: int = 2                 # answer 503 to the first deliveries (an outage)
    received: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                with receiver.lock:
                    down = receiver.failures_left > 0
                    receiver.failures_left -= 1 if down else 0
                    receiver.received.append({"body": body, "down": down,
                                              "signature": self.headers["clicksift-signature"],
                                              "event": self.headers["clicksift-event-id"]})
                self.send_response(503 if down else 200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass
        return Handler


@dataclass
class Site:
    server: ServerProcess
    database: str
    messages: dict[str, Any]              # recipient -> PreparedMessage
    receiver: Receiver
    hook: outbound.Hook
    api_key: str
    delivered_at: float

    def link(self, recipient: str, kind: str) -> list[str]:
        html = self.messages[recipient].html
        return [self.server.url(u) for u in re.findall(
            rf'href="({re.escape(BASE)}/{kind}/[^"]+)"', html)]

    def unsubscribe_url(self, recipient: str) -> str:
        return self.server.url(self.messages[recipient].headers["List-Unsubscribe"]
                               .split(",")[0].strip("<> "))

    def state(self, recipient: str) -> subs.State:
        store = open_store(Settings(database=self.database))
        try:
            return subs.get_state(store, recipient, ["news", "offers"])
        finally:
            store.close()


def _scanner(at: float, ip: str = SCANNER_IP) -> dict[str, str]:
    rng = random.Random(1)
    return {"user-agent": world.chrome_ua(at, 14), "x-forwarded-for": ip,
            "x-clicksift-simulated-time": format_timestamp(at),
            **world.scanner_headers(rng, language=False, fetch_metadata=False)}


def _person(at: float) -> dict[str, str]:
    agent = world.chrome_ua(at)
    return {"user-agent": agent, "x-forwarded-for": PERSON_IP,
            "x-clicksift-simulated-time": format_timestamp(at),
            **world.browser_headers(random.Random(2), agent, user_activated=True)}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    folder = tmp_path_factory.mktemp("protect")
    database = str(folder / "protect.db")
    receiver = Receiver()
    http = ThreadingHTTPServer(("127.0.0.1", 0), receiver.handler())
    threading.Thread(target=http.serve_forever, daemon=True).start()
    store = open_store(Settings(database=database))
    delivered_at = time.time()
    try:
        preparer = Preparer(TrackingUrls(BASE, load_signer("", store)))
        html = (EMAILS / "fragment.html").read_text()
        messages = {a: preparer.prepare(html, recipient=a, campaign_id="winter")
                    for a in ADDRESSES}
        with store.transaction():
            store.add_events([event_from_dict(m.delivered_event()) for m in messages.values()])
        hook = outbound.create_hook(store, f"http://127.0.0.1:{http.server_address[1]}/hook",
                                    ["click", "unsubscribe", "conversion"])
        api_key = access.create_key(store, "shop").secret
    finally:
        store.close()
    env = {"CLICKSIFT_DATABASE": database, "CLICKSIFT_BASE_URL": BASE,
           "CLICKSIFT_TRUSTED_PROXIES": "127.0.0.1/32", "CLICKSIFT_CLICK_ID_DOMAINS":
           "example.org", "CLICKSIFT_ACCEPT_SIMULATED_TIME": "true", "CLICKSIFT_TOPICS": TOPICS,
           "CLICKSIFT_SENDER_NAME": "Example Shop", "CLICKSIFT_BRAND_COLOR": "#0b5fff",
           "CLICKSIFT_HOOK_SETTLE_SECONDS": "1", "CLICKSIFT_HOOK_POLL_SECONDS": "0.3",
           "CLICKSIFT_HOOK_RETRY_SECONDS": "0.3"}
    with running_server(env, folder) as server:
        yield Site(server, database, messages, receiver, hook, api_key, delivered_at)
    http.shutdown()


# -- unsubscribes --------------------------------------------------------------------------------

def test_a_scanner_burst_at_delivery_leaves_the_subscription_alone(site: Site) -> None:
    victim = "ann@example.com"
    at = site.delivered_at + 3
    for url in site.link(victim, "c"):
        httpx.get(url, headers=_scanner(at))
        at += 0.2
    page = httpx.get(site.unsubscribe_url(victim), headers=_scanner(at + 0.5))
    assert page.status_code == 200 and "Unsubscribe from all mail" in page.text
    assert site.state(victim).overall == "subscribed"         # a GET changes nothing
    submitted = httpx.post(site.unsubscribe_url(victim), data={"action": "unsubscribe_all"},
                           headers=_scanner(at + 1.5))
    assert submitted.status_code == 200
    assert "One more step" in submitted.text and "Yes, unsubscribe from all mail" in submitted.text
    again = httpx.post(site.unsubscribe_url(victim), headers=_scanner(at + 2),
                       data={"action": "unsubscribe_all", "confirm": "1"})
    assert "One more step" in again.text                      # the scanner confirms too
    assert site.state(victim).overall == "subscribed"
    store = open_store(Settings(database=site.database))
    try:
        held = [r for r in subs.reviews(store) if r.recipient == victim]
        log = subs.history(store, victim)
    finally:
        store.close()
    assert len(held) == 2 and all(r.judgement["verdict"] == "nhi" for r in held)
    assert any(r["weight"] > 0 for r in held[0].judgement["reasons"])
    assert [e.outcome for e in log] == ["held", "held"]


def test_a_person_confirms_and_it_applies(site: Site) -> None:
    person = "ann@example.com"
    later = site.delivered_at + 3 * 3600
    page = httpx.get(site.unsubscribe_url(person), headers=_person(later))
    assert "Example Shop" in page.text and "#0b5fff" in page.text
    done = httpx.post(site.unsubscribe_url(person), data={"action": "unsubscribe_all"},
                      headers=_person(later + 20))
    assert done.status_code == 200 and "You are unsubscribed" in done.text
    assert site.state(person).overall == "unsubscribed"
    store = open_store(Settings(database=site.database))
    try:
        assert not [r for r in subs.reviews(store) if r.recipient == person]
        statuses = {r.status for r in subs.reviews(store, None) if r.recipient == person}
        outcomes = [e.outcome for e in subs.history(store, person)]
    finally:
        store.close()
    assert statuses == {"confirmed"} and outcomes == ["held", "held", "applied"]


def test_one_click_post_unsubscribes_at_once(site: Site) -> None:
    response = httpx.post(site.unsubscribe_url("bob@contoso.example"),
                          data={"List-Unsubscribe": "One-Click"},
                          headers={"x-forwarded-for": "209.85.220.41"})
    assert response.status_code == 200 and response.text == "unsubscribed\n"
    assert "location" not in response.headers and "set-cookie" not in response.headers
    assert site.state("bob@contoso.example").overall == "unsubscribed"


def test_a_person_chooses_topics_frequency_and_a_pause(site: Site) -> None:
    person = "cem@example.org"
    later = site.delivered_at + 5 * 3600
    page = httpx.get(site.unsubscribe_url(person), headers=_person(later))
    assert 'name="topic_offers"' in page.text and "Special offers" in page.text
    saved = httpx.post(site.unsubscribe_url(person), headers=_person(later + 30), data={
        "action": "save", "topic_news": "on", "frequency": "weekly", "pause": "30"})
    assert "Your preferences are saved" in saved.text
    state = site.state(person)
    assert state.overall == "subscribed" and state.frequency == "weekly"
    assert state.topics == {"news": "subscribed", "offers": "unsubscribed"}
    assert state.paused_until and state.paused_until > time.time() + 29 * 86400
    bad = httpx.post(site.unsubscribe_url(person), headers=_person(later + 40),
                     data={"action": "save", "frequency": "hourly"})
    assert bad.status_code == 400 and "frequency" in bad.text


def test_an_operator_applies_or_dismisses_held_attempts(site: Site, tmp_path: Path) -> None:
    for address in ("dia@example.net", "eve@example.com"):
        httpx.post(site.unsubscribe_url(address), data={"action": "unsubscribe_all"},
                   headers=_scanner(site.delivered_at + 4))
    runner = CliRunner()
    listed = runner.invoke(main, ["reviews", "list", "--db", site.database, "--format",
                                  "json"])
    held = {r["recipient"]: r["event_id"] for r in json.loads(listed.output)}
    assert set(held) == {"dia@example.net", "eve@example.com"}
    applied = runner.invoke(main, ["reviews", "apply", held["dia@example.net"], "--db",
                                   site.database])
    assert applied.exit_code == 0, applied.output
    dismissed = runner.invoke(main, ["reviews", "dismiss", held["eve@example.com"], "--db",
                                     site.database])
    assert dismissed.exit_code == 0
    assert site.state("dia@example.net").overall == "unsubscribed"
    assert site.state("eve@example.com").overall == "subscribed"
    twice = runner.invoke(main, ["reviews", "apply", held["eve@example.com"], "--db",
                                 site.database])
    assert twice.exit_code == 2 and "already dismissed" in twice.output
    shown = runner.invoke(main, ["subscriptions", "dia@example.net", "--db", site.database,
                                 "--format", "json"])
    history = json.loads(shown.output)["history"]
    assert [(h["outcome"], h["actor"]) for h in history] == [("held", "recipient"),
                                                             ("applied", "operator")]
    out = tmp_path / "suppressed.csv"
    assert runner.invoke(main, ["suppressions", "--db", site.database, "-o", str(out)]
                         ).exit_code == 0
    rows = list(csv.DictReader(out.open()))
    assert {r["recipient"] for r in rows} >= {"ann@example.com", "bob@contoso.example",
                                              "dia@example.net"}


# -- conversions and webhooks --------------------------------------------------------------------

def test_conversions_tie_to_the_click(site: Site) -> None:
    person = "eve@example.com"
    click = httpx.get(site.link(person, "c")[0], headers=_person(site.delivered_at + 7200))
    signed = re.search(r"csclid=([0-9a-f]{52})&?", click.headers["location"]).group(1)
    click_id = signed[:32]
    headers = {"authorization": f"Bearer {site.api_key}"}
    body = {"click_id": click_id, "value": 49.9, "currency": "eur", "order_id": "A-1"}
    url = f"{site.server.base_url}/api/v1/conversions"
    first = httpx.post(url, json=body, headers=headers)
    assert first.status_code == 201 and first.json()["campaign_id"] == "winter"
    assert httpx.post(url, json=body, headers=headers).json()["new"] is False
    for bad in (-1, 1e308, 1_000_000_001):
        refused = httpx.post(url, json={**body, "value": bad, "order_id": "X"},
                             headers=headers)
        assert (refused.status_code, refused.json()["error"]["field"]) == (400, "value")
    at_the_bar = httpx.post(url, json={**body, "value": 1_000_000_000, "order_id": "B"},
                            headers=headers)        # the near miss: the largest accepted
    assert at_the_bar.status_code == 201
    huge = httpx.get(f"{site.server.base_url}/cv.gif", params={
        "click_id": click_id, "value": "1e308", "currency": "EUR", "order_id": "A-3"})
    assert huge.headers["x-clicksift-recorded"] == "0"
    assert httpx.post(url, json=body).status_code == 401
    unknown = httpx.post(url, json={**body, "click_id": "0" * 32}, headers=headers)
    assert unknown.status_code == 404
    # The pixel needs no key, so it takes only the signed id: not a bare event id, not a
    # signature that does not match.
    forged = signed[:-1] + ("0" if signed[-1] != "0" else "1")
    for refused in (click_id, forged):
        guess = httpx.get(f"{site.server.base_url}/cv.gif", params={
            "click_id": refused, "value": "10", "currency": "EUR", "order_id": "A-9"})
        assert guess.status_code == 200 and guess.headers["x-clicksift-recorded"] == "0"
    pixel = httpx.get(f"{site.server.base_url}/cv.gif", params={
        "click_id": signed, "value": "10", "currency": "EUR", "order_id": "A-2"})
    assert pixel.status_code == 200 and pixel.headers["x-clicksift-recorded"] == "1"
    # The API takes the signed id too, and refuses a forged one.
    assert httpx.post(url, json={**body, "click_id": signed}, headers=headers
                      ).json()["new"] is False
    assert httpx.post(url, json={**body, "click_id": forged}, headers=headers
                      ).status_code == 404
    assert httpx.get(f"{site.server.base_url}/cv.gif").headers["x-clicksift-recorded"] == "0"
    report = httpx.get(f"{site.server.base_url}/api/v1/campaigns/winter",
                       headers=headers).json()["totals"]
    assert report["conversions"] == 3
    assert report["revenue"] == [{"currency": "EUR", "conversions": 3,
                                  "value": 1_000_000_059.9}]
    assert report["click_to_conversion"]["human"] == 1.0


def test_click_ids_keep_the_destination_intact() -> None:
    assert add_click_id(b"https://a.example/p", b"csclid", "f" * 32) == \
        b"https://a.example/p?csclid=" + b"f" * 32
    assert add_click_id(b"https://a.example/p?x=1#top", b"id", "ab") == \
        b"https://a.example/p?x=1&id=ab#top"


def test_webhooks_get_only_peoples_events_signed_and_again_after_an_outage(
        site: Site) -> None:
    deadline = time.time() + 40
    wanted = {"click", "unsubscribe", "conversion"}
    while time.time() < deadline:
        with site.receiver.lock:
            delivered = [json.loads(r["body"]) for r in site.receiver.received if not r["down"]]
            down = {json.loads(r["body"])["id"] for r in site.receiver.received if r["down"]}
        if {d["type"] for d in delivered} >= wanted and down <= {d["id"] for d in delivered}:
            break
        time.sleep(0.3)
    with site.receiver.lock:
        received = list(site.receiver.received)
    assert {d["type"] for d in delivered} >= wanted, received
    for request in received:
        assert outbound.verify_signature(site.hook.secret, request["signature"],
                                         request["body"])
        assert not outbound.verify_signature("whsec_wrong", request["signature"],
                                             request["body"])
    assert len([r for r in received if r["down"]]) == 2
    assert set(down) <= {d["id"] for d in delivered}           # sent again after the outage
    assert all(d["verdict"] is None or d["verdict"]["verdict"] == "human" for d in delivered)
    assert not [d for d in delivered if d["recipient"] == "ann@example.com"
                and d["type"] == "click"]                      # the scanner's clicks stayed
    assert all(d.get("link_kind") in (None, "content") for d in delivered if d["type"] == "click")
    store = open_store(Settings(database=site.database))
    try:
        machine_clicks = store.execute(
            "SELECT COUNT(*) FROM events e JOIN verdicts v ON v.event_id = e.id WHERE "
            "e.type = 'click' AND v.verdict = 'nhi'").fetchone()[0]
        states = outbound.delivery_counts(store)[site.hook.id]
    finally:
        store.close()
    assert machine_clicks >= len(site.link("ann@example.com", "c")) > 0
    assert states["failed"] == 0
    runner = CliRunner()
    listed = runner.invoke(main, ["hooks", "list", "--db", site.database, "--format", "json"])
    assert json.loads(listed.output)[0]["deliveries"]["delivered"] >= len(wanted)


def test_sunset_counts_only_people(site: Site, tmp_path: Path) -> None:
    at = site.delivered_at + 2
    for url in site.link("fay@example.com", "c"):             # only a scanner "engages"
        httpx.get(url, headers=_scanner(at))
        at += 0.3
    out = tmp_path / "sunset.csv"
    result = CliRunner().invoke(main, ["sunset", "--days", "30", "--db", site.database,
                                       "-o", str(out)])
    assert result.exit_code == 0, result.output
    rows = {r["recipient"]: r for r in csv.DictReader(out.open())}
    # eve clicked and bought; cem only set preferences; fay's clicks were a scanner's.
    assert "eve@example.com" not in rows
    assert rows["cem@example.org"]["in_raw_list"] == "yes"
    assert rows["fay@example.com"]["in_raw_list"] == "no"
    assert rows["fay@example.com"]["raw_clicks"] != "0" == rows["fay@example.com"]["human_clicks"]
    assert "ann@example.com" not in rows                     # unsubscribed: not mailed
    assert "dry run" in result.output
    suppressed = CliRunner().invoke(main, ["sunset", "--days", "30", "--db", site.database,
                                           "--suppress", "--yes"])
    assert "suppressed" in suppressed.output
    assert site.state("cem@example.org").suppressed == "sunset"


# -- the dashboard in Chromium -------------------------------------------------------------------

@pytest.mark.chromium
def test_the_dashboard_shows_held_unsubscribes_and_webhook_deliveries(site: Site) -> None:
    from tests.browser import chromium

    httpx.post(site.unsubscribe_url("fay@example.com"), data={"action": "unsubscribe_all"},
               headers=_scanner(site.delivered_at + 5))
    store = open_store(Settings(database=site.database))
    try:
        access.set_password(store, "ops", "a long enough password")
        expected = outbound.delivery_counts(store)[site.hook.id]
    finally:
        store.close()
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(site.server.base_url + "/dashboard/unsubscribes")
        page.fill("#name", "ops")
        page.fill("#password", "a long enough password")
        page.click("button[type=submit]")
        page.wait_for_load_state()
        row = page.locator("#reviews tr", has_text="fay@example.com")
        assert row.count() == 1 and "unsubscribe from all mail" in row.inner_text()
        assert row.locator("ul.reasons li").count() >= 1        # the reasons are shown
        row.locator("button[value=apply]").click()
        page.wait_for_load_state()
        assert "applied: fay@example.com" in page.inner_text(".notice")
        assert site.state("fay@example.com").overall == "unsubscribed"
        page.goto(site.server.base_url + "/dashboard/unsubscribes?status=applied")
        page.click("#reviews a:has-text('fay@example.com')")     # to the recipient's page
        page.wait_for_load_state()
        assert page.inner_text("#states tr[data-recipient='fay@example.com'] .state") == \
            "unsubscribed"
        outcomes = page.locator("#history tbody tr").all_inner_texts()
        assert any("\theld\t" in row for row in outcomes)
        assert "applied" in outcomes[-1] and "operator" in outcomes[-1]
        page.goto(site.server.base_url + "/dashboard/webhooks")
        hook = page.locator(f"#hooks tr[data-hook={site.hook.id}]")
        shown = int(hook.locator("[data-metric=delivered]").inner_text().replace(",", ""))
        assert shown >= expected["delivered"]            # (the count only grows meanwhile)
        assert page.locator("#deliveries tbody tr").count() >= min(1, shown)


def test_sunset_by_sends_needs_enough_messages(tmp_path: Path) -> None:
    from clicksift.protect.sunset import sunset_list

    store = open_store(Settings(database=str(tmp_path / "s.db")))
    try:
        events = []
        for number, (recipient, sends) in enumerate([("new@example.com", 1),
                                                     ("old@example.com", 3)]):
            for send in range(sends):
                events.append({"type": "delivered", "id": f"d{number}{send}",
                               "message_id": f"m{number}{send}", "recipient": recipient,
                               "campaign_id": f"c{send}",
                               "timestamp": 1_790_000_000 + send * 86400})
        events.append({"type": "open", "id": "o1", "message_id": "m10",
                       "timestamp": 1_790_000_100})       # opened the oldest of three
        with store.transaction():
            store.add_events([event_from_dict(e) for e in events])
        two = sunset_list(store, sends=2, now=1_790_500_000)
        three = sunset_list(store, sends=3, now=1_790_500_000)
    finally:
        store.close()
    # new@ has one send: too few to judge; old@'s last two sends had no engagement ...
    assert [r.recipient for r in two.human] == ["old@example.com"] and two.considered == 1
    # ... and over its last three it opened once (not judged yet: counted as engagement).
    assert three.human == [] and three.considered == 1


# -- the same on both stores ---------------------------------------------------------------------

def test_protect_storage_on_sqlite_and_postgresql(database: str, store: Any) -> None:
    from dataclasses import replace

    from clicksift.classify import Engine

    receiver = Receiver(failures_left=1)
    http = ThreadingHTTPServer(("127.0.0.1", 0), receiver.handler())
    threading.Thread(target=http.serve_forever, daemon=True).start()
    try:
        rows = [{"type": "delivered", "id": "d1", "message_id": "m1", "campaign_id": "c",
                 "recipient": "Ann@Example.com", "timestamp": 1_790_000_000},
                {"type": "click", "id": "k1", "message_id": "m1", "url": "https://a.example/",
                 "link_kind": "content", "ip": PERSON_IP, "timestamp": 1_790_020_000,
                 **{"user_agent": world.chrome_ua(1_790_020_000)}, "method": "GET",
                 "headers": world.browser_headers(random.Random(3), world.chrome_ua(
                     1_790_020_000), user_activated=True)}]
        with store.transaction():
            store.add_events([event_from_dict(r) for r in rows])
        change = subs.Change(unsubscribe_all=True)
        with store.transaction():
            subs.hold(store, "ann@example.com", "m1", change,
                      subs.Attempt("recipient", "u1", "nhi", 0.97), {"score": 0.97})
            subs.apply(store, "bob@example.com", subs.Change(topics={"offers": False}),
                       subs.Attempt("recipient", "u2", "human", 0.03))
        assert subs.get_state(store, "ANN@example.com").overall == "subscribed"
        with store.transaction():
            subs.decide(store, "u1", apply_it=True, operator="test")
        assert subs.get_state(store, "ann@example.com").overall == "unsubscribed"
        assert subs.get_state(store, "bob@example.com", ["offers"]).topics == {
            "offers": "unsubscribed"}
        assert [e.outcome for e in subs.history(store, "ann@example.com")] == ["held",
                                                                                "applied"]
        with store.transaction():
            subs.suppress(store, ["cid@example.com"], "sunset", "last 90 days")
        assert [s.recipient for s in subs.suppression_list(store)] == ["ann@example.com",
                                                                         "cid@example.com"]
        hook = outbound.create_hook(store, f"http://127.0.0.1:{http.server_address[1]}/",
                                    ["click"], from_now=False)
        assert hook.humans_only and hook.cursor == 0
        settings = replace(Settings(database=database), hook_settle_seconds=0.0,
                           hook_retry_seconds=0.0)
        dispatcher = outbound.Dispatcher(settings, lambda: open_store(settings), Engine())
        first = dispatcher.run_once()
        assert first["queued"] == 1 and first["retrying"] == 1      # the receiver was down
        assert dispatcher.run_once() == {"queued": 0, "delivered": 1}
        sent = json.loads(receiver.received[-1]["body"])
        assert sent["id"] == "k1" and sent["verdict"]["verdict"] == "human"
        assert outbound.deliveries(store)[0].status == "delivered"
    finally:
        http.shutdown()


def _delivered_message(database: str, recipient: str, campaign: str) -> PreparedMessage:
    """One message prepared for RECIPIENT and recorded as delivered in a new store."""
    store = open_store(Settings(database=database))
    try:
        prepared = Preparer(TrackingUrls(BASE, load_signer("", store))).prepare(
            (EMAILS / "fragment.html").read_text(), recipient=recipient, campaign_id=campaign)
        with store.transaction():
            store.add_events([event_from_dict(prepared.delivered_event())])
    finally:
        store.close()
    return prepared


def test_a_busy_store_never_half_applies_an_unsubscribe(tmp_path: Path) -> None:
    import sqlite3

    database = str(tmp_path / "busy.db")
    prepared = _delivered_message(database, "gil@example.com", "busy")
    env = {"CLICKSIFT_DATABASE": database, "CLICKSIFT_BASE_URL": BASE,
           "CLICKSIFT_STORE_TIMEOUT_MS": "200", "CLICKSIFT_HOOK_POLL_SECONDS": "0"}
    with running_server(env, tmp_path) as server:
        url = server.url(prepared.headers["List-Unsubscribe"].split(",")[0].strip("<> "))
        holder = sqlite3.connect(database)
        holder.execute("BEGIN EXCLUSIVE")
        try:
            busy = httpx.post(url, data={"List-Unsubscribe": "One-Click"}, timeout=30)
        finally:
            holder.rollback()
            holder.close()
        assert busy.status_code == 503 and busy.headers["retry-after"]
        again = httpx.post(url, data={"List-Unsubscribe": "One-Click"}, timeout=30)
        assert again.status_code == 200
    store = open_store(Settings(database=database))
    try:
        assert subs.get_state(store, "gil@example.com").overall == "unsubscribed"
    finally:
        store.close()


def test_audit_mode_lets_verdicts_change_nothing(tmp_path: Path) -> None:
    from clicksift.protect.sunset import sunset_list

    database = str(tmp_path / "audit.db")
    prepared = _delivered_message(database, "hal@example.com", "audit")
    env = {"CLICKSIFT_DATABASE": database, "CLICKSIFT_BASE_URL": BASE,
           "CLICKSIFT_TRUSTED_PROXIES": "127.0.0.1/32", "CLICKSIFT_AUDIT_MODE": "true",
           "CLICKSIFT_ACCEPT_SIMULATED_TIME": "true", "CLICKSIFT_HOOK_POLL_SECONDS": "0"}
    at = time.time() + 3
    with running_server(env, tmp_path) as server:
        links = re.findall(rf'href="({re.escape(BASE)}/c/[^"]+)"', prepared.html)
        for url in links:
            httpx.get(server.url(url), headers=_scanner(at))
        url = server.url(prepared.headers["List-Unsubscribe"].split(",")[0].strip("<> "))
        done = httpx.post(url, data={"action": "unsubscribe_all"}, headers=_scanner(at + 1))
        assert "You are unsubscribed" in done.text      # judged a machine, applied anyway
    store = open_store(Settings(database=database))
    try:
        assert subs.get_state(store, "hal@example.com").overall == "unsubscribed"
        entry = subs.history(store, "hal@example.com")[0]
        assert entry.outcome == "applied" and entry.verdict == "nhi"   # the verdict is logged
        with store.transaction():
            subs.apply(store, "hal@example.com", subs.Change(resubscribe=True),
                       subs.Attempt("operator"))
        assert sunset_list(store, days=30, audit=True).human == []      # raw clicks count
        assert [r.recipient for r in sunset_list(store, days=30).human] == ["hal@example.com"]
    finally:
        store.close()


def test_changes_are_described_in_peoples_words_and_no_ops_need_no_protection() -> None:
    labels = {"news": "Newsletter", "offers": "Special offers"}
    change = subs.Change(topics={"news": True, "offers": False}, frequency="weekly")
    assert change.describe(labels) == ("stop Special offers, keep Newsletter, get mail at "
                                       "most once a week")
    state = subs.State("a@example.com", topics={"news": "subscribed", "offers": "subscribed"})
    assert change.changes_anything(state)
    same = subs.Change(topics={"news": True, "offers": True}, frequency="all")
    assert not same.changes_anything(state)
    assert same.describe(labels) == "keep your preferences as they are"
    assert not subs.Change(unsubscribe_all=True).changes_anything(
        subs.State("a@example.com", overall="unsubscribed"))


def test_hooks_command_line(tmp_path: Path) -> None:
    database = str(tmp_path / "hooks.db")
    runner = CliRunner()
    made = runner.invoke(main, ["hooks", "create", "http://127.0.0.1:9/nowhere", "--events",
                                "click,conversion", "--db", database])
    assert made.exit_code == 0, made.output
    assert re.search(r"whsec_[\w-]{20,}", made.output)
    bad = runner.invoke(main, ["hooks", "create", "ftp://x", "--db", database])
    assert bad.exit_code == 2 and "http(s) URL" in bad.output
    wrong = runner.invoke(main, ["hooks", "create", "https://x.example", "--events", "bounce",
                                 "--db", database])
    assert wrong.exit_code == 2 and "event types" in wrong.output
    listed = json.loads(runner.invoke(main, ["hooks", "list", "--db", database, "--format",
                                             "json"]).output)
    assert len(listed) == 1 and listed[0]["events"] == ["click", "conversion"]
    hook_id = listed[0]["id"]
    store = open_store(Settings(database=database))
    try:
        with store.transaction():
            store.execute("INSERT INTO outbox (hook_id, event_id, body, created_at, due_at, "
                          "attempts, status, last_error) VALUES (?, 'e1', '{}', 0, 0, 12, "
                          "'failed', 'HTTP 500')", (hook_id,))
    finally:
        store.close()
    failed = runner.invoke(main, ["hooks", "deliveries", "--status", "failed", "--db",
                                  database, "--format", "json"])
    rows = json.loads(failed.output)
    assert rows[0]["last_error"] == "HTTP 500" and rows[0]["status"] == "failed"
    retried = runner.invoke(main, ["hooks", "retry", str(rows[0]["seq"]), "--db", database])
    assert "1 deliveries queued again" in retried.output
    deliver = runner.invoke(main, ["hooks", "deliver", "--db", database])
    assert deliver.exit_code == 0 and "retrying" in deliver.output    # port 9 refuses
    gone = runner.invoke(main, ["hooks", "delete", hook_id, "--db", database])
    assert gone.exit_code == 0
    assert json.loads(runner.invoke(main, ["hooks", "list", "--db", database, "--format",
                                           "json"]).output) == []
    missing = runner.invoke(main, ["hooks", "delete", "hnope", "--db", database])
    assert missing.exit_code == 2 and "no webhook" in missing.output


def test_actions_that_harm_people_act_only_on_confident_machine_verdicts(
        tmp_path: Path) -> None:
    """Reports count a verdict at the threshold; sunsetting counts an event as a machine's
    only when its score reaches sunset_machine_score, and a held unsubscribe needs
    hold_unsubscribe_score (docs/protect.md)."""
    from clicksift.classify.vocabulary import Verdict
    from clicksift.protect.confidence import machine_for_action
    from clicksift.protect.sunset import sunset_list

    assert machine_for_action("nhi", 0.95, 0.9)
    assert machine_for_action("nhi", 0.9995, Settings().sunset_machine_score)
    assert not machine_for_action("nhi", 0.99, Settings().sunset_machine_score)
    assert not machine_for_action("nhi", 0.89, 0.9)       # judged a machine, not surely
    assert not machine_for_action("human", 0.99, 0.9)
    assert not machine_for_action(None, None, 0.9)        # not judged yet: a person's
    store = open_store(Settings(database=str(tmp_path / "bars.db")))
    try:
        events = []
        for number, recipient in enumerate(["sure@example.com", "unsure@example.com"]):
            events += [{"type": "delivered", "id": f"d{number}", "message_id": f"m{number}",
                        "recipient": recipient, "campaign_id": "c",
                        "timestamp": 1_790_000_000},
                       {"type": "click", "id": f"k{number}", "message_id": f"m{number}",
                        "timestamp": 1_790_000_030, "url": "https://shop.example/"}]
        with store.transaction():
            store.add_events([event_from_dict(e) for e in events])
            store.save_verdicts([Verdict("k0", "nhi", 0.9995, "security_scanner", None, ()),
                                 Verdict("k1", "nhi", 0.62, "security_scanner", None, ())],
                                "test")
        now = 1_790_100_000
        sunset = [r.recipient for r in sunset_list(store, days=30, now=now).human]
        assert sunset == ["sure@example.com"]               # the unsure click is a person's
        strict = [r.recipient for r in sunset_list(store, days=30, now=now,
                                                   machine_score=0.5).human]
        assert sorted(strict) == ["sure@example.com", "unsure@example.com"]
    finally:
        store.close()


def test_a_form_unsubscribe_judged_a_machine_without_confidence_is_applied(
        tmp_path: Path) -> None:
    """A scanner-like submission from cloud space seconds after delivery (a machine, but
    virtual desktops live there too): held at a bar of 0.9, applied at the default bar,
    which its score does not reach."""
    outcomes = {}
    default = str(Settings().hold_unsubscribe_score)
    for bar in ("0.9", default):
        database = str(tmp_path / f"bar{bar}.db")
        prepared = _delivered_message(database, "ida@example.com", f"bar{bar}")
        env = {"CLICKSIFT_DATABASE": database, "CLICKSIFT_BASE_URL": BASE,
               "CLICKSIFT_TRUSTED_PROXIES": "127.0.0.1/32",
               "CLICKSIFT_ACCEPT_SIMULATED_TIME": "true", "CLICKSIFT_HOOK_POLL_SECONDS": "0",
               "CLICKSIFT_HOLD_UNSUBSCRIBE_SCORE": bar}
        at = time.time() + 3
        with running_server(env, tmp_path) as server:
            url = server.url(prepared.headers["List-Unsubscribe"].split(",")[0].strip("<> "))
            httpx.post(url, data={"action": "unsubscribe_all"},
                       headers=_scanner(at + 1, ip=CLOUD_IP))
        store = open_store(Settings(database=database))
        try:
            entry = subs.history(store, "ida@example.com")[0]
            outcomes[bar] = (entry.outcome, entry.verdict)
        finally:
            store.close()
    assert outcomes["0.9"] == ("held", "nhi")
    assert outcomes[default] == ("applied", "nhi")


@pytest.mark.parametrize(("base_url", "own"), [
    ("https://t.example.com", "example.com"), ("https://t.example.co.uk/x", "example.co.uk"),
    ("https://example.com", "example.com"), ("http://127.0.0.1:8000", None),
    ("http://localhost:8000", None), ("https://[2001:db8::1]/", None)])
def test_the_senders_domain_is_the_tracking_hosts_parent(base_url: str, own: str | None
                                                         ) -> None:
    from clicksift.protect.conversions import click_id_scope, own_domain

    assert own_domain(base_url) == own
    scope = click_id_scope([], base_url)
    assert scope.of(b"https://www.example.com/p") is (own == "example.com")
    assert click_id_scope(["shop.example"], base_url).of(b"https://shop.example/p")
