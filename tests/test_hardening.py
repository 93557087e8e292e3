"""A request never does unbounded work: a message flooded with events (clicks need no
credential, so anyone holding one email can add them) neither slows its unsubscribe link
nor stalls anybody else's request or the health check."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from clicksift import access
from clicksift.classify import Engine
from clicksift.events import event_from_dict
from clicksift.links import TrackingUrls, load_signer
from clicksift.prepare import Preparer
from clicksift.protect import judge
from clicksift.settings import Settings
from clicksift.storage import SqlStore, open_store
from tests.support import EMAILS, delivered_message, running_server

FLOOD = 100_000
KEYS = "k1:0123456789abcdef-k1"


def _flood(store: SqlStore, message_id: str, delivered_at: float, count: int) -> None:
    """COUNT clicks on MESSAGE_ID from as many addresses, one every 50 ms from delivery."""
    events = [event_from_dict({
        "type": "click", "id": f"{message_id}:flood{n}", "message_id": message_id,
        "timestamp": delivered_at + 60 + n * 0.05, "url": "https://x.example/",
        "link_index": 0, "link_kind": "content", "ip": f"10.{n >> 16 & 255}.{n >> 8 & 255}."
        f"{n & 255}", "user_agent": "curl/8.5.0", "method": "GET"}) for n in range(count)]
    for start in range(0, len(events), 20_000):
        with store.transaction():
            store.add_events(events[start:start + 20_000])


def _delivered(store: SqlStore) -> Any:
    delivered = event_from_dict({"type": "delivered", "id": "d", "message_id": "m1",
                                 "timestamp": 1_790_000_000.0, "recipient": "a@b.example",
                                 "links": [{"url": "https://x.example/", "kind": "content"}]})
    with store.transaction():
        store.add_events([delivered])
    return delivered


def test_a_message_s_context_is_read_within_its_budget(store: SqlStore) -> None:
    delivered = _delivered(store)
    _flood(store, "m1", delivered.ts, 5_000)
    late = delivered.ts + 60 + 4_000 * 0.05
    context = judge.context_events(store, "m1", [late])
    budget = judge.FIRST_EVENTS + judge.EVENTS_BEFORE + judge.EVENTS_AFTER
    assert len(context) == budget < 5_001
    ids = [e.id for e in context]
    assert ids[0] == "d"                                     # the delivery, first
    assert "m1:flood3999" in ids and "m1:flood4000" in ids        # around the moment judged
    assert "m1:flood2000" not in ids                         # far from both: not read
    many = judge.context_events(store, "m1", [delivered.ts + 60 + n for n in range(100)])
    assert len(many) <= judge.FIRST_EVENTS + judge.MOMENTS * (judge.EVENTS_BEFORE
                                                              + judge.EVENTS_AFTER)
    # A near miss: a message within the budget is read whole.
    with store.transaction():
        store.add_events([event_from_dict({**delivered.raw, "id": "d2", "message_id": "m2"})])
    _flood(store, "m2", delivered.ts, 300)
    assert len(judge.context_events(store, "m2", [late])) == 301


@pytest.fixture(scope="module")
def flooded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Any, Any]]:
    tmp = tmp_path_factory.mktemp("flood")
    db = str(tmp / "flood.db")
    store = open_store(Settings(database=db, signing_keys=KEYS))
    preparer = Preparer(TrackingUrls("https://t.example.net", load_signer(KEYS, store)))
    html = (EMAILS / "fragment.html").read_text()
    victim = preparer.prepare(html, recipient="ann@example.com", campaign_id="june")
    other = preparer.prepare(html, recipient="bob@example.com", campaign_id="june")
    delivered = [event_from_dict(p.delivered_event()) for p in (victim, other)]
    with store.transaction():
        store.add_events(delivered)
    _flood(store, victim.message_id, delivered[0].ts, FLOOD)
    store.close()
    with running_server({"CLICKSIFT_DATABASE": db, "CLICKSIFT_SIGNING_KEYS": KEYS},
                        tmp) as server:
        yield server, victim, other


def test_a_flooded_message_s_unsubscribe_stalls_nobody(flooded: tuple) -> None:
    import re
    server, victim, other = flooded
    url = server.url(victim.headers["List-Unsubscribe"].strip("<>"))
    other_click = server.url(re.findall(r'href="(https://t\.example\.net/c/[^"]+)"',
                                        other.html)[0])
    waits: list[float] = []
    done = threading.Event()

    def probe() -> None:
        with httpx.Client(timeout=30) as client:
            while not done.is_set():
                started = time.monotonic()
                assert client.get(f"{server.base_url}/healthz").status_code == 200
                waits.append(time.monotonic() - started)
                time.sleep(0.01)

    prober = threading.Thread(target=probe)
    prober.start()
    try:
        timings = []
        for form in ({"action": "unsubscribe_all"},
                     {"List-Unsubscribe": "One-Click"}):
            started = time.monotonic()
            answer = httpx.post(url, data=form, timeout=60)
            timings.append(time.monotonic() - started)
            assert answer.status_code == 200
        started = time.monotonic()
        assert httpx.get(other_click, timeout=30).status_code == 302
        timings.append(time.monotonic() - started)
    finally:
        done.set()
        prober.join()
    # Reading and judging all 100,000 events took over a minute; the budget keeps each
    # request to a fraction of a second (generous bounds: CI machines are shared).
    assert max(timings) < 2.0, timings
    assert waits and max(waits) < 1.0, max(waits)
    assert "Traceback" not in server.log()


def test_judging_a_flooded_message_is_bounded_in_process(tmp_path: Path) -> None:
    """The same budget in the outbound webhooks' path (judge_events), without a server."""
    store = open_store(Settings(database=str(tmp_path / "j.db")))
    delivered = _delivered(store)
    _flood(store, "m1", delivered.ts, 30_000)
    wanted = [e for e in (event_from_dict(s.raw) for s in store.message_context(
        "m1", [delivered.ts + 60 + n * 300.0 for n in range(5)], first=0, before=1, after=0))]
    verdicts = judge.judge_events(store, Engine(), wanted)
    store.close()
    assert sorted(verdicts) == sorted(e.id for e in wanted)
    assert all(v.verdict == "nhi" for v in verdicts.values())   # curl, flooding


# -- a user agent of any length is judged in time linear in its length ------------------------

def test_a_megabyte_user_agent_is_answered_at_once(tmp_path: Path) -> None:
    """A user agent is whatever a client or an ESP says it is: the crawler list was searched
    in time quadratic in its length (16,000 letters took 38 s, the worker holding the
    interpreter throughout). A 1 MB one, and a thousand different long ones, are now
    stored and judged within the client's timeout."""
    db = str(tmp_path / "ua.db")
    store = open_store(Settings(database=db))
    key = access.create_key(store, "tests").secret
    store.close()
    auth = {"authorization": f"Bearer {key}", "content-type": "application/json"}
    base = {"type": "click", "message_id": "m1", "timestamp": 1_790_000_100.0,
            "url": "https://shop.example/1", "ip": "81.2.69.160"}
    huge = [{**base, "id": "huge", "user_agent": "Mozilla" + "a" * (1 << 20)}]
    many = [{**base, "id": f"long{n}", "user_agent": f"{n}" + "b1" * 4000}
            for n in range(1000)]
    with running_server({"CLICKSIFT_DATABASE": db}, tmp_path) as server:
        for body in (huge, many):
            answer = httpx.post(f"{server.base_url}/api/v1/events", json=body,
                                headers=auth, timeout=60)
            assert answer.status_code == 200, answer.text[:300]
            assert answer.json()["new"] == len(body)
            assert len(answer.json()["verdicts"]) == len(body)


# -- files that hold secrets are the owner's alone ---------------------------------------------

def test_a_new_store_and_spool_are_readable_by_their_owner_only(tmp_path: Path) -> None:
    import os
    import stat

    from clicksift.server.spool import Spool

    db = tmp_path / "secret.db"
    store = open_store(Settings(database=str(db)))
    store.put_meta_if_absent("probe", "1")
    for name in (db, Path(f"{db}-wal"), Path(f"{db}.lock")):
        assert stat.S_IMODE(os.stat(name).st_mode) == 0o600, name
    assert store.exposed_files() == []                          # type: ignore[attr-defined]
    os.chmod(db, 0o644)                                         # the near miss: made public
    assert store.exposed_files() == [str(db)]                   # type: ignore[attr-defined]
    store.close()
    spool = Spool(tmp_path / "spool")
    spool.append([event_from_dict({"type": "open", "id": "o", "message_id": "m",
                                   "timestamp": 1_790_000_000.0})], 1.0)
    assert stat.S_IMODE(os.stat(tmp_path / "spool").st_mode) == 0o700
    assert all(stat.S_IMODE(os.stat(p).st_mode) == 0o600 for p in spool.pending())


def test_the_server_warns_when_its_store_is_readable_by_others(tmp_path: Path) -> None:
    import os

    db = tmp_path / "open.db"
    open_store(Settings(database=str(db))).close()
    os.chmod(db, 0o644)
    with running_server({"CLICKSIFT_DATABASE": str(db)}, tmp_path) as server:
        assert httpx.get(f"{server.base_url}/healthz").status_code == 200
    assert f"{db} is readable by other local users" in server.log()


# -- CSV cells a spreadsheet would run ---------------------------------------------------------

@pytest.mark.parametrize(("value", "written"), [
    ("=HYPERLINK(\"https://evil.example\")", "'=HYPERLINK(\"https://evil.example\")"),
    ("=SUM(A1:A9)", "'=SUM(A1:A9)"), ("+1", "'+1"), ("-2+3", "'-2+3"), ("@cmd", "'@cmd"),
    ("\tx", "'\tx"),
    ("https://x.example/=a", "https://x.example/=a"),     # near misses: left as they are
    (-1, -1), (0.5, 0.5), ("", ""), (None, None)])
def test_csv_cells_never_run_as_formulas(value: Any, written: Any) -> None:
    from clicksift.csvcells import safe_row
    assert safe_row([value]) == [written]


def test_the_events_export_writes_formulas_as_text(tmp_path: Path) -> None:
    from clicksift.web.api import _csv_line
    line = _csv_line(["=HYPERLINK(\"https://evil.example\",\"x\")", 3, "ok"])
    assert line.startswith("\"'=HYPERLINK(") and line.endswith(",3,ok\n")


# -- ids with '/' ---------------------------------------------------------------------------

def test_ids_with_slashes_reach_their_pages(tmp_path: Path) -> None:
    """Mailgun's, Brevo's and Postmark's message ids hold '/': the API and the dashboard
    find such messages and campaigns, written with '/' or with %2F."""
    from urllib.parse import quote

    from clicksift import access, reports

    db = str(tmp_path / "slash.db")
    message, campaign = "<20261205.1/abc@mg.example>/ann@example.com", "spring/2026"
    store = open_store(Settings(database=db))
    with store.transaction():
        store.add_events([event_from_dict(e) for e in (
            {"type": "delivered", "id": "d", "message_id": message, "campaign_id": campaign,
             "timestamp": 1_790_000_000.0, "recipient": "ann@example.com"},
            {"type": "open", "id": "o", "message_id": message, "campaign_id": campaign,
             "timestamp": 1_790_000_100.0, "ip": "73.1.2.3"})])
    reports.refresh(store)
    key = access.create_key(store, "tests").secret
    store.close()
    auth = {"authorization": f"Bearer {key}"}
    with running_server({"CLICKSIFT_DATABASE": db}, tmp_path) as server:
        api = f"{server.base_url}/api/v1"
        for name in (campaign, quote(campaign, safe="")):
            found = httpx.get(f"{api}/campaigns/{name}", headers=auth)
            assert found.status_code == 200 and found.json()["campaign"]["id"] == campaign
            links = httpx.get(f"{api}/campaigns/{name}/links", headers=auth)
            assert links.status_code == 200 and "links" in links.json()
        for name in (message, quote(message, safe="")):
            events = httpx.get(f"{api}/messages/{name}/events", headers=auth)
            assert events.status_code == 200, events.text
            assert [e["id"] for e in events.json()["events"]] == ["d", "o"]
        # The dashboard's routes match too: not found would be 404, here it asks to log in.
        page = httpx.get(f"{server.base_url}/dashboard/messages/{quote(message, safe='')}")
        assert page.status_code in (302, 303) and "login" in page.headers["location"]
        assert httpx.get(f"{api}/campaigns/nope/2026", headers=auth).status_code == 404


# -- security headers -------------------------------------------------------------------------

def test_pages_and_api_answers_carry_security_headers(tmp_path: Path) -> None:
    """The preference page cannot be framed (its unsubscribe button under another site's
    page), runs no script and posts only home; API answers stay out of caches; nothing is
    sniffed. A click's redirect is left as it is."""
    import re

    from clicksift import access

    db = str(tmp_path / "headers.db")
    prepared = delivered_message(db, KEYS)
    store = open_store(Settings(database=db))
    key = access.create_key(store, "tests").secret
    store.close()
    with running_server({"CLICKSIFT_DATABASE": db, "CLICKSIFT_SIGNING_KEYS": KEYS},
                        tmp_path) as server:
        page = httpx.get(server.url(prepared.headers["List-Unsubscribe"].strip("<>")))
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]
        policy = page.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in policy and "form-action 'self'" in policy
        assert "default-src 'none'" in policy and "script-src" not in policy
        assert page.headers["x-frame-options"] == "DENY"
        assert page.headers["x-content-type-options"] == "nosniff"
        assert page.headers["referrer-policy"] == "no-referrer"
        assert page.headers["cache-control"] == "no-store"          # its own, kept
        for headers in ({"authorization": f"Bearer {key}"}, {}):
            answer = httpx.get(f"{server.base_url}/api/v1/campaigns", headers=headers)
            assert answer.status_code == (200 if headers else 401)
            assert answer.headers["cache-control"] == "no-store"
            assert answer.headers["x-content-type-options"] == "nosniff"
            assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
        assert httpx.get(f"{server.base_url}/healthz").headers["x-content-type-options"] \
            == "nosniff"
        click = server.url(re.findall(r'href="(https://t\.example\.net/c/[^"]+)"',
                                      prepared.html)[0])
        redirect = httpx.get(click)
        assert redirect.status_code == 302 and "content-security-policy" not in redirect.headers
