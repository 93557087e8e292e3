"""The JSON API over real HTTP: keys, the OpenAPI schemas, reports equal to the library's,
errors that name the field, streamed exports, and new events counted in."""

from __future__ import annotations

import asyncio
import csv
import gc
import io
import json
from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator

from clicksift import access, reports
from clicksift.events import event_from_dict
from clicksift.settings import Settings
from clicksift.storage import open_store
from tests.conftest import ReportSite
from tests.support import TwoBatchesAtOnce


def _campaigns(site: ReportSite) -> list[str]:
    return [c["id"] for c in site.api("/campaigns").json()["campaigns"]]


@pytest.fixture(scope="module")
def openapi(report_site: ReportSite) -> dict[str, Any]:
    response = httpx.get(f"{report_site.server.base_url}/api/v1/openapi.json", timeout=10)
    assert response.status_code == 200    # the description needs no key
    return dict(response.json())


def _check(openapi: dict[str, Any], schema: dict[str, Any], data: Any) -> None:
    validator = Draft202012Validator({**schema, "components": openapi["components"]})
    errors = sorted(validator.iter_errors(data), key=str)
    assert not errors, errors[0]


def _schema(openapi: dict[str, Any], path: str) -> dict[str, Any]:
    return dict(openapi["paths"][path]["get"]["responses"]["200"]["content"]
                ["application/json"]["schema"])


def test_no_key_no_data(report_site: ReportSite) -> None:
    url = f"{report_site.server.base_url}/api/v1/campaigns"
    missing = httpx.get(url, timeout=10)
    assert missing.status_code == 401
    assert "Bearer" in missing.headers["www-authenticate"]
    assert "clicksift keys create" in missing.json()["error"]["message"]
    key = report_site.api_key
    altered = key[:-1] + ("y" if key[-1] == "x" else "x")     # one character off
    for wrong in ("Bearer csk_00000000_" + "a" * 32, "Bearer nonsense", "Bearer " + altered):
        assert httpx.get(url, headers={"authorization": wrong}, timeout=10).status_code == 401
    assert httpx.get(url, headers={"x-api-key": report_site.api_key},
                     timeout=10).status_code == 200


def test_a_revoked_key_stops_working(report_site: ReportSite) -> None:
    store = open_store(Settings(database=report_site.database))
    try:
        made = access.create_key(store, "short-lived")
        url = f"{report_site.server.base_url}/api/v1/overview"
        headers = {"authorization": f"Bearer {made.secret}"}
        assert httpx.get(url, headers=headers, timeout=10).status_code == 200
        access.revoke_key(store, made.key.id)
        assert httpx.get(url, headers=headers, timeout=10).status_code == 401
        assert {k.id for k in access.list_keys(store) if k.last_used_at} >= {made.key.id}
    finally:
        store.close()


def test_every_answer_follows_the_openapi_schemas(report_site: ReportSite,
                                                  openapi: dict[str, Any]) -> None:
    campaign = _campaigns(report_site)[0]
    answers = {
        "/overview": report_site.api("/overview"),
        "/campaigns": report_site.api("/campaigns"),
        "/campaigns/{campaign}": report_site.api(f"/campaigns/{campaign}"),
        "/campaigns/{campaign}/links": report_site.api(f"/campaigns/{campaign}/links"),
        "/campaigns/{campaign}/domains": report_site.api(f"/campaigns/{campaign}/domains",
                                                         per_page=5),
        "/campaigns/{campaign}/events": report_site.api(f"/campaigns/{campaign}/events",
                                                        verdict="nhi"),
        "/events": report_site.api("/events", type="open"),
    }
    for path, response in answers.items():
        assert response.status_code == 200, (path, response.text)
        _check(openapi, _schema(openapi, path), response.json())
    message = answers["/events"].json()["items"][0]["message_id"]
    response = report_site.api(f"/messages/{message}/events")
    _check(openapi, _schema(openapi, "/messages/{message}/events"), response.json())


def test_the_report_is_the_library_report(report_site: ReportSite) -> None:
    for campaign in _campaigns(report_site):
        answer = report_site.api(f"/campaigns/{campaign}").json()
        store = open_store(Settings(database=report_site.database))
        try:
            expected = reports.to_json(reports.campaign_report(store, campaign))
        finally:
            store.close()
        for key in ("campaign", "totals", "vendors", "kinds", "timeline", "links", "domains"):
            assert answer[key] == json.loads(json.dumps(expected[key])), key
        assert answer["totals"]["clicks"]["raw"] > answer["totals"]["clicks"]["human"] > 0


@pytest.mark.parametrize(("path", "params", "status", "field"), [
    ("/campaigns/no-such-campaign", {}, 404, None),
    ("/campaigns/no-such-campaign/events", {}, 404, None),
    ("/campaigns/no-such-campaign/domains", {}, 404, None),
    ("/messages/no-such-message/events", {}, 404, None),
    ("/events", {"verdict": "robot"}, 400, "verdict"),
    ("/events", {"page": "0"}, 400, "page"),
    ("/events", {"per_page": "100000"}, 400, "per_page"),
    ("/events", {"since": "last week"}, 400, "since"),
    ("/events", {"rule": "ua.nope"}, 400, "rule"),
    ("/events", {"colour": "red"}, 400, "colour"),
    ("/overview", {"x": "1"}, 400, "x"),
    ("/campaigns/{first}/domains", {"sort": "size"}, 400, "sort"),
    ("/campaigns/{first}/export.xml", {}, 404, None),
])
def test_client_mistakes_are_4xx_that_say_what(report_site: ReportSite, path: str,
                                               params: dict[str, str], status: int,
                                               field: str | None) -> None:
    response = report_site.api(path.format(first=_campaigns(report_site)[0]), **params)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["message"]
    assert error.get("field") == field


def test_event_pages_and_rule_filter(report_site: ReportSite) -> None:
    campaign = _campaigns(report_site)[0]
    first = report_site.api(f"/campaigns/{campaign}/events", per_page=20).json()
    second = report_site.api(f"/campaigns/{campaign}/events", per_page=20, page=2).json()
    assert first["has_more"] and len(first["items"]) == 20
    assert first["items"][-1]["seq"] < second["items"][0]["seq"]
    honeypot = report_site.api(f"/campaigns/{campaign}/events", rule="context.honeypot",
                               per_page=500).json()["items"]
    assert honeypot and all(any(r["rule"] == "context.honeypot" for r in e["reasons"])
                            and e["verdict"] == "nhi" for e in honeypot)
    domain = first["items"][0]["recipient"].split("@")[1]
    by_domain = report_site.api("/events", domain=domain, per_page=500).json()["items"]
    assert by_domain and all(e["recipient"].endswith("@" + domain) for e in by_domain)


def test_exports_stream_every_event_with_its_verdict(report_site: ReportSite) -> None:
    campaign = _campaigns(report_site)[0]
    store = open_store(Settings(database=report_site.database))
    try:
        stored = sum(1 for _ in store.iter_events(campaign_id=campaign))
        clicks = sum(1 for _ in store.iter_events(campaign_id=campaign, types=["click"]))
    finally:
        store.close()
    text = report_site.api(f"/campaigns/{campaign}/export.csv")
    assert text.status_code == 200 and text.headers["content-type"].startswith("text/csv")
    assert "attachment" in text.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(text.text)))
    assert len(rows) == stored
    assert {r["verdict"] for r in rows if r["type"] == "click"} == {"human", "nhi"}
    lines = report_site.api(f"/campaigns/{campaign}/export.jsonl", type="click").text
    parsed = [json.loads(line) for line in lines.splitlines()]
    assert len(parsed) == clicks and all(p["type"] == "click" and p["reasons"]
                                         for p in parsed)


def test_new_events_are_counted_into_the_report(report_site: ReportSite) -> None:
    campaign = _campaigns(report_site)[-1]
    before = report_site.api(f"/campaigns/{campaign}").json()["totals"]
    message = report_site.api(f"/campaigns/{campaign}/events",
                              type="delivered").json()["items"][0]["message_id"]
    late = event_from_dict({"type": "click", "id": "late-click-1", "message_id": message,
                            "timestamp": "2026-11-01T10:00:00Z", "url": "https://x.example/",
                            "link_kind": "content"})
    store = open_store(Settings(database=report_site.database))
    try:
        with store.transaction():
            store.add_events([late])
    finally:
        store.close()
    after = report_site.api(f"/campaigns/{campaign}").json()["totals"]
    assert after["clicks"]["raw"] == before["clicks"]["raw"] + 1
    assert after["clicks"]["pending"] == before["clicks"]["pending"] + 1


def test_any_tracker_posts_canonical_events(tmp_path: Any) -> None:
    """POST /api/v1/events: a JSON array or JSON Lines of canonical events, stored once by
    id, each engagement event answered with its provisional verdict; a record that does not
    follow the contract is kept as an unknown event and named; too many events is a 400.
    (A server of its own: the shared report site's campaigns stay as they are.)"""
    from tests.support import running_server

    db = str(tmp_path / "tracker.db")
    store = open_store(Settings(database=db))
    key = access.create_key(store, "tracker").secret
    store.close()
    with running_server({"CLICKSIFT_DATABASE": db}, tmp_path) as server:
        _post_canonical_events(server.base_url, key)


def test_the_server_settles_provisional_verdicts_in_the_background(tmp_path: Any) -> None:
    """Posted events are answered with provisional verdicts; the server's settler judges
    their messages again with all their context soon after (settle_after_seconds) and the
    verdicts become final, as `import` and `rescore` make them."""
    import time

    from tests.support import running_server

    db = str(tmp_path / "settle.db")
    store = open_store(Settings(database=db))
    key = access.create_key(store, "tracker").secret
    store.close()
    auth = {"authorization": f"Bearer {key}"}
    base = {"message_id": "settle-m1", "campaign_id": "settle-c",
            "timestamp": "2026-11-02T09:00:00Z"}
    events = [{**base, "type": "delivered", "id": "s-d1", "recipient": "zoe@example.com"},
              {**base, "type": "click", "id": "s-c1", "url": "https://shop.example/1",
               "timestamp": "2026-11-02T12:00:00Z", "ip": "73.1.2.3"}]
    with running_server({"CLICKSIFT_DATABASE": db, "CLICKSIFT_SETTLE_AFTER_SECONDS": "0.3"},
                        tmp_path) as server:
        posted = httpx.post(f"{server.base_url}/api/v1/events", json=events, headers=auth,
                            timeout=30)
        assert posted.status_code == 200, posted.text
        url = f"{server.base_url}/api/v1/messages/settle-m1/events"
        deadline, final = time.monotonic() + 20, None
        while time.monotonic() < deadline:
            rows = httpx.get(url, headers=auth, timeout=30).json()["events"]
            final = {e["id"]: e["final"] for e in rows if e["type"] == "click"}
            if final == {"s-c1": True}:
                break
            time.sleep(0.2)
        assert final == {"s-c1": True}


def _post_canonical_events(base_url: str, key: str) -> None:
    url = f"{base_url}/api/v1/events"
    auth = {"authorization": f"Bearer {key}"}
    base = {"message_id": "tracker-m1", "campaign_id": "tracker-c",
            "timestamp": "2026-11-02T09:00:00Z"}
    events = [{**base, "type": "delivered", "id": "t-d1", "recipient": "zoe@example.com"},
              {**base, "type": "click", "id": "t-c1", "url": "https://shop.example/1",
               "timestamp": "2026-11-02T12:00:00Z", "ip": "73.1.2.3",
               "user_agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
                             "(KHTML, like Gecko) Chrome/142.0.0.0 Safari/537.36"},
              {**base, "type": "click", "id": "t-c2", "url": "https://shop.example/1",
               "timestamp": "2026-11-02T09:00:01Z", "ip": "40.107.1.1", "method": "HEAD",
               "user_agent": "curl/8.5.0"},
              {**base, "type": "click", "id": "t-bad", "timestamp": "yesterday"}]
    first = httpx.post(url, json=events, headers=auth, timeout=30)
    assert first.status_code == 200, first.text
    body = first.json()
    assert (body["accepted"], body["new"]) == (4, 4)
    verdicts = {v["id"]: v for v in body["verdicts"]}
    assert set(verdicts) == {"t-c1", "t-c2"}
    assert verdicts["t-c2"]["verdict"] == "nhi" and verdicts["t-c1"]["verdict"] == "human"
    assert [u["record"] for u in body["unreadable"]] == [3]
    assert "timestamp" in body["unreadable"][0]["reason"]
    # The same as JSON Lines: nothing new (idempotent by id).
    lines = "\n".join(json.dumps(e) for e in events).encode()
    again = httpx.post(url, content=lines, headers={**auth, "content-type":
                                                    "application/x-ndjson"}, timeout=30)
    assert again.status_code == 200 and again.json()["new"] == 0
    stored = httpx.get(f"{base_url}/api/v1/messages/tracker-m1/events", headers=auth,
                       timeout=30).json()["events"]
    assert [e["id"] for e in stored] == ["t-d1", "t-c2", "t-c1"]
    assert {e["id"]: e["verdict"] for e in stored}["t-c2"] == "nhi"
    assert httpx.post(url, json=events).status_code == 401
    too_many = [{**events[0], "id": f"x{n}"} for n in range(10_001)]
    refused = httpx.post(url, json=too_many, headers=auth, timeout=60)
    assert refused.status_code == 400 and "at most 10,000" in refused.text
    assert httpx.post(url, content=b"not json", headers=auth).status_code == 200  # kept
    assert httpx.post(url, content=b"  ", headers=auth).status_code == 400


class _CollectorWatch:
    """The real engine, noting whether the cycle collector ran while it judged."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.version = engine.version
        self.collector_on: set[bool] = set()

    def provisional(self, event: Any) -> Any:
        self.collector_on.add(gc.isenabled())
        return self.engine.provisional(event)


def _spread_answers(tmp_path: Any, *, spread: bool, bodies: int,
                    engine: Any = None) -> list[httpx.Response]:
    """Answers to BODIES batches posted at once to one worker's API (in process)."""
    from starlette.applications import Starlette

    from clicksift.classify.engine import engine_from_settings
    from clicksift.storage.pool import StorePool
    from clicksift.web import api
    from clicksift.web.handover import Handover
    from clicksift.web.service import StoreWork

    tmp_path.mkdir()
    settings = Settings(database=str(tmp_path / "spread.db"))
    store = open_store(settings)
    key = access.create_key(store, "tracker").secret
    store.close()
    if engine is None:
        engine = TwoBatchesAtOnce(engine_from_settings(settings)) if bodies > 1 \
            else engine_from_settings(settings)
    pool = StorePool(settings)
    app = Starlette(routes=api.routes(StoreWork(pool), lambda _: None, lambda: engine,
                                      Handover(enabled=spread)))
    batches = [[{"type": "click", "id": f"b{n}:{i}", "message_id": f"m{i}",
                 "timestamp": 1_790_000_000 + i, "url": "https://shop.example/",
                 "ip": "198.51.100.7", "user_agent": "Mozilla/5.0"} for i in range(50)]
               for n in range(bodies)]

    async def post_all() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as client:
            return list(await asyncio.gather(*(
                client.post("/api/v1/events", json=batch,
                            headers={"authorization": f"Bearer {key}"}) for batch in batches)))
    try:
        return asyncio.run(post_all())
    finally:
        pool.close()


def test_a_busy_worker_of_several_hands_one_senders_connection_over(tmp_path: Any) -> None:
    """With several workers, a worker taking two bodies at once closes the connection of
    the one it answers first (the sender's next batch may reach another worker); a lone
    sender, and a server of one worker, keep their connections."""
    answers = _spread_answers(tmp_path / "two", spread=True, bodies=2)
    assert [a.status_code for a in answers] == [200, 200]
    assert sorted(a.headers.get("connection", "") for a in answers) == ["", "close"]
    assert all(len(a.json()["verdicts"]) == 50 for a in answers)

    alone = _spread_answers(tmp_path / "alone", spread=True, bodies=1)
    assert alone[0].status_code == 200 and "connection" not in alone[0].headers

    one_worker = _spread_answers(tmp_path / "one", spread=False, bodies=2)
    assert [a.status_code for a in one_worker] == [200, 200]
    assert not any("connection" in a.headers for a in one_worker)


def test_a_body_of_events_is_judged_with_the_cycle_collector_paused(tmp_path: Any) -> None:
    """The API reads, judges and stores a body with the collector paused (web/collector.py)
    and leaves it running afterwards."""
    from clicksift.classify.engine import engine_from_settings

    watch = _CollectorWatch(engine_from_settings(Settings(database=str(tmp_path / "e.db"))))
    gc.enable()
    answers = _spread_answers(tmp_path / "watched", spread=False, bodies=1, engine=watch)
    assert answers[0].status_code == 200 and len(answers[0].json()["verdicts"]) == 50
    assert watch.collector_on == {False}
    assert gc.isenabled()
