"""The tracking server over real HTTP on loopback."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from clicksift.links import TrackingUrls, load_signer
from clicksift.settings import Settings
from clicksift.storage import open_store
from clicksift.tokens import Signer, SigningKey
from tests.support import (
    ServerProcess,
    delivered_message,
    running_server,
    start_server,
)

KEYS = "new:0123456789abcdef-new,old:0123456789abcdef-old"
OLD_SIGNER = Signer([SigningKey("old", b"0123456789abcdef-old")])


def stored_events(db: str) -> list[dict]:
    with sqlite3.connect(db) as connection:
        return [json.loads(row[0]) for row in connection.execute(
            "SELECT data FROM events WHERE type != 'delivered' ORDER BY seq")]


@pytest.fixture(scope="module")
def tracked(tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[tuple[ServerProcess, object, str]]:
    tmp = tmp_path_factory.mktemp("server")
    db = str(tmp / "track.db")
    env = {"CLICKSIFT_DATABASE": db, "CLICKSIFT_SIGNING_KEYS": KEYS,
           "CLICKSIFT_TRUSTED_PROXIES": "127.0.0.2",
           "CLICKSIFT_CLICK_ID_DOMAINS": "example.org,old.example"}
    prepared = delivered_message(db, KEYS)
    with running_server(env, tmp) as server:
        yield server, prepared, db


def _link(prepared: object, kind: str = "c") -> str:
    import re
    return re.findall(rf'(?:href|src)="(https://t\.example\.net/{kind}/[^"]+)"', prepared.html)[0]


def test_click_redirects_and_records_the_request(tracked: tuple) -> None:
    server, prepared, db = tracked
    response = httpx.get(server.url(_link(prepared)), headers={
        "User-Agent": "Mozilla/5.0 test", "Accept-Language": "en-GB", "Sec-Fetch-Mode": "navigate",
        "Cookie": "secret=1"})
    assert response.status_code == 302
    event = stored_events(db)[-1]
    # The destination, with the click's id for conversions (click_id_param).
    location = response.headers["location"]
    assert location.startswith(
        f"https://events.example.org/spring-2026?src=email&csclid={event['id']}")
    assert len(location.rsplit("=", 1)[1]) == 52          # the id and its signature
    assert "no-store" in response.headers["cache-control"]
    assert event["type"] == "click" and event["message_id"] == prepared.message_id
    assert event["url"] == "https://events.example.org/spring-2026?src=email"
    assert event["link_index"] == 0 and event["link_kind"] == "content"
    assert event["ip"] == "127.0.0.1" and event["user_agent"] == "Mozilla/5.0 test"
    assert event["method"] == "GET" and event["source"] == "tracker"
    assert event["headers"]["accept-language"] == "en-GB"
    assert event["headers"]["sec-fetch-mode"] == "navigate"
    assert "cookie" not in event["headers"]
    with sqlite3.connect(db) as connection:
        campaign = connection.execute("SELECT campaign_id FROM events WHERE id = ?",
                                      (event["id"],)).fetchone()[0]
    assert campaign == "june"


def test_head_redirects_too_and_missing_user_agent_is_recorded_empty(tracked: tuple) -> None:
    server, prepared, db = tracked
    with httpx.Client() as client:
        request = client.build_request("HEAD", server.url(_link(prepared)))
        del request.headers["user-agent"]
        response = client.send(request)
    assert response.status_code == 302
    event = stored_events(db)[-1]
    assert event["method"] == "HEAD" and event["user_agent"] == ""


def test_open_pixel_is_a_43_byte_gif_never_cached(tracked: tuple) -> None:
    server, prepared, db = tracked
    response = httpx.get(server.url(_link(prepared, "o")))
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/gif"
    assert len(response.content) == 43 and response.content.startswith(b"GIF89a")
    assert "no-store" in response.headers["cache-control"]
    assert stored_events(db)[-1]["type"] == "open"


def test_token_signed_with_a_rotated_out_key_still_works(tracked: tuple) -> None:
    server, _, _ = tracked
    url = TrackingUrls(server.base_url, OLD_SIGNER).click("m-old", 0, "content",
                                                           "https://old.example/", 1_750_000_000)
    response = httpx.get(url)
    assert response.status_code == 302
    assert response.headers["location"].startswith("https://old.example/?csclid=")


def test_only_the_senders_own_sites_get_the_click_id(tracked: tuple) -> None:
    """click_id_domains: a destination on them (a subdomain included) gets the click id;
    a third party's (or a look-alike's) is left exactly as it was."""
    server, _, _ = tracked
    urls = TrackingUrls(server.base_url, OLD_SIGNER)
    for destination, gets_it in (("https://shop.example.org/a?sig=x", True),
                                 ("https://old.example:8443/b", True),
                                 ("https://partner.example.com/p?sig=abc", False),
                                 ("https://notexample.org/", False),
                                 ("https://example.org.evil.example/", False)):
        location = httpx.get(urls.click("m-old", 0, "content", destination,
                                        1_750_000_000)).headers["location"]
        assert ("csclid=" in location) is gets_it, destination
        if not gets_it:
            assert location == destination


def test_forged_and_altered_tokens_are_404_never_a_redirect(tracked: tuple) -> None:
    server, prepared, db = tracked
    before = len(stored_events(db))
    good = server.url(_link(prepared))
    token = good.rsplit("/", 1)[1]
    evil = TrackingUrls(server.base_url, Signer([SigningKey("new", b"guessed-secret-000000")]))
    candidates = [
        good[:-1] + ("A" if good[-1] != "A" else "B"),     # altered tag
        good[:-10],                                          # truncated
        f"{server.base_url}/c/{token[:20]}X{token[21:]}",   # altered payload
        evil.click("m1", 0, "content", "https://evil.example/", 1),  # wrong secret, known key id
        f"{server.base_url}/c/",
        f"{server.base_url}/c/%ff%fe%00",
        f"{server.base_url}/c/../../etc/passwd",
        # an open token used as a click:
        server.url(_link(prepared, "o")).replace("/o/", "/c/").removesuffix(".gif"),
    ]
    for url in candidates:
        response = httpx.get(url)
        assert response.status_code == 404, url
        assert "location" not in response.headers
    assert httpx.get(server.url(_link(prepared, "o"))[:-12] + ".gif").status_code == 404
    assert len(stored_events(db)) == before


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
def test_wrong_methods_are_405(tracked: tuple, method: str) -> None:
    server, prepared, _ = tracked
    for kind in ("c", "o"):
        response = httpx.request(method, server.url(_link(prepared, kind)))
        assert response.status_code == 405
        assert "GET" in response.headers["allow"]


def test_bad_requests_get_short_4xx_answers(tracked: tuple) -> None:
    server, prepared, db = tracked
    assert httpx.get(f"{server.base_url}/c/{'A' * 9000}").status_code == 414
    assert httpx.get(f"{server.base_url}/nothing-here").status_code == 404
    huge = httpx.get(server.url(_link(prepared)), headers={"Accept": "x" * 200_000})
    assert huge.status_code in {302, 400, 413, 431}  # a person's click still redirects
    if huge.status_code == 302:
        assert len(stored_events(db)[-1]["headers"]["accept"]) == 1024
    many = httpx.get(server.url(_link(prepared)), headers={f"x-h{i}": "v" for i in range(500)})
    assert many.status_code in {302, 431, 400}
    long_ua = httpx.get(server.url(_link(prepared)),
                        headers={"User-Agent": "Mozilla/5.0 " * 200 + "x"})
    assert long_ua.status_code == 302
    assert len(stored_events(db)[-1]["user_agent"]) == 1024
    control = httpx.get(server.url(_link(prepared)), headers={"User-Agent": "\x7f\x01" * 10})
    assert control.status_code in {302, 400}
    assert "Traceback" not in server.log()


def test_x_forwarded_for_is_believed_only_from_trusted_proxies(tracked: tuple) -> None:
    server, prepared, db = tracked
    url = server.url(_link(prepared))
    httpx.get(url, headers={"X-Forwarded-For": "198.51.100.7"})
    assert stored_events(db)[-1]["ip"] == "127.0.0.1"  # 127.0.0.1 is not a trusted proxy
    # Requests from 127.0.0.2, the configured trusted proxy:
    with httpx.Client(transport=httpx.HTTPTransport(local_address="127.0.0.2")) as proxy:
        proxy.get(url, headers={"X-Forwarded-For": "203.0.113.5, 198.51.100.7"})
        assert stored_events(db)[-1]["ip"] == "198.51.100.7"
        proxy.get(url, headers={"X-Forwarded-For": "203.0.113.5, 127.0.0.2"})
        assert stored_events(db)[-1]["ip"] == "203.0.113.5"
        proxy.get(url, headers={"X-Forwarded-For": "not-an-ip"})
        assert stored_events(db)[-1]["ip"] == "127.0.0.2"
        proxy.get(url, headers={"X-Forwarded-For": "[2001:db8::7]:443"})
        assert stored_events(db)[-1]["ip"] == "2001:db8::7"


def test_the_scheme_is_recorded_and_x_forwarded_proto_believed_only_from_trusted_proxies(
        tracked: tuple) -> None:
    """Browsers send fetch metadata to https origins only, so the classifier needs to know
    which scheme the person's browser used: the server's own, or its trusted proxy's word."""
    server, prepared, db = tracked
    url = server.url(_link(prepared))
    httpx.get(url, headers={"X-Forwarded-Proto": "https"})
    assert stored_events(db)[-1]["headers"][":scheme"] == "http"   # not a trusted proxy
    with httpx.Client(transport=httpx.HTTPTransport(local_address="127.0.0.2")) as proxy:
        proxy.get(url, headers={"X-Forwarded-Proto": "https"})
        assert stored_events(db)[-1]["headers"][":scheme"] == "https"
        proxy.get(url, headers={"X-Forwarded-Proto": "gopher"})
        assert stored_events(db)[-1]["headers"][":scheme"] == "http"
        proxy.get(url)
        assert stored_events(db)[-1]["headers"][":scheme"] == "http"


def test_one_click_unsubscribe_and_the_body_link(tracked: tuple) -> None:
    server, prepared, db = tracked
    url = server.url(prepared.headers["List-Unsubscribe"].strip("<>"))
    page = httpx.get(url)
    assert page.status_code == 200 and "<form" in page.text
    viewed = stored_events(db)[-1]
    assert viewed["type"] == "click" and viewed["link_kind"] == "unsubscribe"
    one_click = httpx.post(url, data={"List-Unsubscribe": "One-Click"})
    assert one_click.status_code == 200
    event = stored_events(db)[-1]
    assert event["type"] == "unsubscribe" and event["form"] == {"List-Unsubscribe": "One-Click"}
    multipart = httpx.post(url, files={"List-Unsubscribe": (None, "One-Click")})
    assert multipart.status_code == 200
    assert stored_events(db)[-1]["form"] == {"List-Unsubscribe": "One-Click"}
    assert httpx.post(url, content=b"x" * 20_000).status_code == 400
    assert httpx.post(url, content=b"\xff\xfe", headers={
        "content-type": "application/x-www-form-urlencoded"}).status_code == 400
    assert httpx.post(url[:-3] + "AAA", data={"List-Unsubscribe": "One-Click"}).status_code == 404


def test_health(tracked: tuple) -> None:
    server, _, _ = tracked
    body = httpx.get(f"{server.base_url}/healthz").json()
    assert body["status"] == "ok" and body["committed"] >= 1 and body["failures"] == 0


@pytest.mark.parametrize("server_name", ["uvicorn"])
def test_uvicorn_serves_the_same_app(tmp_path: Path, server_name: str) -> None:
    db = str(tmp_path / "u.db")
    store = open_store(Settings(database=db))
    urls = TrackingUrls("https://t.example.net", load_signer("", store))
    store.close()
    with running_server({"CLICKSIFT_DATABASE": db, "CLICKSIFT_CLICK_ID_PARAM": ""}, tmp_path,
                        server=server_name) as server:
        click = server.url(urls.click("m1", 0, "content", "https://x.example/ü?q=a b#top", 1))
        response = httpx.get(click)
        assert response.status_code == 302
        assert response.headers["location"] == "https://x.example/%C3%BC?q=a%20b#top"
    assert [e["type"] for e in stored_events(db)] == ["click"]


def test_sweep_of_malformed_requests_never_gets_a_500(tracked: tuple) -> None:
    """Hundreds of broken paths, methods, bodies and headers: always a short 4xx or a
    proper answer, never a 500 and never a traceback in the log."""
    import random

    server, prepared, _ = tracked
    rng = random.Random(20261124)
    good = server.url(_link(prepared)).split(server.base_url, 1)[1]
    pieces = ["/c/", "/o/", "/u/", "/healthz", "/demo/", "/", "/c", "/o/.gif", "/u/x/y", good]
    junk = ["%", "%zz", "%00", "%ff", "..", "//", "\\", "<script>", "A" * 300, "é", "?a=b",
            "#frag", ";x", "%2e%2e", "=" * 5, good[3:40], good[3:] + "=", good[3:] + "%20"]
    methods = ["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE"]
    statuses = []
    with httpx.Client(base_url=server.base_url, timeout=5) as client:
        for _ in range(300):
            path = rng.choice(pieces) + "".join(rng.choice(junk)
                                                for _ in range(rng.choice([0, 0, 1, 2, 3])))
            method = rng.choice(methods)
            headers = {"content-type": rng.choice(["application/x-www-form-urlencoded",
                                                   "multipart/form-data; boundary=zz",
                                                   "application/json", "text/plain"])}
            body = rng.choice([b"", b"List-Unsubscribe=One-Click", b"--zz\r\n\r\n",
                               bytes(rng.randrange(256) for _ in range(64))])
            try:
                request = client.build_request(method, path, headers=headers,
                                               content=body if method != "GET" else None)
            except (httpx.InvalidURL, UnicodeEncodeError):
                continue
            statuses.append(client.send(request).status_code)
    assert statuses and all(status < 500 for status in statuses), sorted(set(statuses))
    assert {302, 404, 405} <= set(statuses)
    assert "Traceback" not in server.log()


def _processes_in_group(pgid: int) -> dict[int, str]:
    """pid -> command line of the live processes in process group PGID."""
    out = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] != "Z" and int(fields[2]) == pgid:
            out[int(entry.name)] = command
    return out


def _housekeepers(server: ServerProcess) -> list[int]:
    return [pid for pid, command in _processes_in_group(server.process.pid).items()
            if "clicksift.server.housekeeping" in command]


def _wait_until(check, timeout: float = 20.0) -> bool:  # type: ignore[no-untyped-def]
    import time
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.2)
    return False


def test_serve_runs_the_background_work_in_one_lower_priority_housekeeper(
        tmp_path: Path) -> None:
    """Two workers, one housekeeper: it counts clicks into the rollups, runs niced, is
    started again when it dies (the health check says so meanwhile) and stops with the
    server."""
    import os
    import signal

    db = str(tmp_path / "h.db")
    store = open_store(Settings(database=db))
    urls = TrackingUrls("https://t.example.net", load_signer("", store))
    store.close()
    env = {"CLICKSIFT_DATABASE": db, "CLICKSIFT_WORKERS": "2",
           "CLICKSIFT_REPORT_REFRESH_SECONDS": "0.2"}
    with running_server(env, tmp_path) as server:
        assert _wait_until(lambda: len(_housekeepers(server)) == 1)
        [housekeeper] = _housekeepers(server)
        assert _wait_until(lambda: os.getpriority(os.PRIO_PROCESS, housekeeper) > os.getpriority(
            os.PRIO_PROCESS, server.process.pid))
        for index in range(3):
            url = server.url(urls.click("m1", index, "content", f"https://x.example/{index}", 1))
            assert httpx.get(url).status_code == 302

        def counted() -> bool:
            with sqlite3.connect(db) as connection:
                row = connection.execute(
                    "SELECT value FROM meta WHERE key = 'rollup.seq'").fetchone()
                top = connection.execute("SELECT MAX(seq) FROM events").fetchone()[0]
            return row is not None and int(row[0]) >= top
        assert _wait_until(counted), "the housekeeper did not count the clicks"
        assert httpx.get(f"{server.base_url}/healthz").json()["housekeeper"] == "running"

        os.kill(housekeeper, signal.SIGKILL)
        assert _wait_until(lambda: httpx.get(f"{server.base_url}/healthz").json()
                           ["status"] == "degraded", timeout=5)
        assert _wait_until(lambda: _housekeepers(server) not in ([], [housekeeper]))
        health = httpx.get(f"{server.base_url}/healthz").json()
        assert health["housekeeper"] == "running" and health["status"] == "ok"
        group = server.process.pid
    assert _wait_until(lambda: not _processes_in_group(group)), _processes_in_group(group)


def test_the_housekeeper_does_not_outlive_a_killed_server(tmp_path: Path) -> None:
    import os
    import signal

    server = start_server({"CLICKSIFT_DATABASE": str(tmp_path / "k.db")}, tmp_path)
    try:
        assert _wait_until(lambda: len(_housekeepers(server)) == 1)
        [housekeeper] = _housekeepers(server)
        os.kill(server.process.pid, signal.SIGKILL)  # the server alone, not its group
        server.process.wait(timeout=10)
        assert _wait_until(lambda: not Path(f"/proc/{housekeeper}").exists()
                           or "Z" in Path(f"/proc/{housekeeper}/stat").read_text().split()[2],
                           timeout=10)
    finally:
        server.kill()
