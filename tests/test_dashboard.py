"""The dashboard in real headless Chromium: log in, read the numbers off the pages and
compare them with the JSON API; sessions, CSRF and friendly errors over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.browser import artifact, chromium
from tests.conftest import ReportSite

pytestmark = pytest.mark.chromium


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as launched:
        yield launched


def _login(browser: Any, site: ReportSite, path: str = "/dashboard/") -> Any:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(site.server.base_url + path)
    assert "/dashboard/login" in page.url         # no page without a login
    page.fill("#name", site.user)
    page.fill("#password", site.password)
    page.click("button[type=submit]")
    page.wait_for_load_state()
    return page


def _values(page: Any, selector: str) -> dict[str, str]:
    return dict(page.eval_on_selector_all(
        selector, "els => els.map(e => [e.dataset.metric, e.dataset.value])"))


def _number(text: str) -> float | None:
    return None if text == "" else float(text)


def _dig(data: dict[str, Any], dotted: str) -> Any:
    for part in dotted.split("."):
        data = data[part]
    return data


def test_campaign_page_shows_the_api_numbers(browser: Any, report_site: ReportSite) -> None:
    campaign = report_site.api("/campaigns").json()["campaigns"][0]["id"]
    page = _login(browser, report_site, f"/dashboard/campaigns/{campaign}")
    assert page.url.endswith(f"/dashboard/campaigns/{campaign}")   # back where we started
    page.screenshot(path=str(artifact("dashboard-campaign.png")), full_page=True)
    api = report_site.api(f"/campaigns/{campaign}").json()
    cards = _values(page, ".cards dd[data-metric]")
    assert len(cards) == 6
    for metric, value in cards.items():
        assert _number(value) == pytest.approx(_dig(api["totals"], metric)), metric
    totals = _values(page, "#totals td[data-metric]")
    assert len(totals) >= 16
    for metric, value in totals.items():
        if metric == "conversions":
            continue
        assert _number(value) == pytest.approx(_dig(api["totals"], metric)), metric
    link_rows = page.eval_on_selector_all(
        "#links tbody tr[data-link]", "rows => rows.map(r => [r.dataset.link, "
        "r.querySelector('[data-metric=\"clicks.human\"]').dataset.value])")
    assert {key: int(v) for key, v in link_rows} == {
        link["key"]: link["clicks"]["human"] for link in api["links"]}
    trust = _values(page, "#trust tr:not([data-anchor]) td[data-metric]")
    assert sorted(trust) == ["trust.machine_events", "trust.machine_recall",
                             "trust.person_events", "trust.person_precision"]
    for metric, value in trust.items():
        assert _number(value) == pytest.approx(_dig(api, metric)), metric
    anchors = page.eval_on_selector_all(
        "#trust tr[data-anchor]", "rows => rows.map(r => [r.dataset.anchor, "
        "r.querySelector('[data-metric=\"judged\"]').dataset.value, "
        "r.querySelector('[data-metric=\"agreed\"]').dataset.value])")
    assert [(a, int(j), int(g)) for a, j, g in anchors] == [
        (c["anchor"], c["judged"], c["agreed"]) for c in api["trust"]["checks"]]
    domains = page.eval_on_selector_all("#domains tbody tr[data-domain]",
                                        "rows => rows.map(r => r.dataset.domain)")
    assert domains == [d["domain"] for d in api["domains"]]
    # Recipients by the gateway their MX names, and the gateway from MX per domain.
    gateways = page.eval_on_selector_all(
        "#mx-gateways tbody tr", "rows => rows.map(r => [r.dataset.vendor, "
        "r.querySelector('[data-metric=\"recipients\"]').dataset.value])")
    assert [(v, int(n)) for v, n in gateways] == [
        (g["vendor"] or "", g["recipients"]) for g in api["mx_gateways"]]
    assert {"proofpoint", "mimecast"} <= {v for v, _ in gateways}
    mx_cells = page.eval_on_selector_all("#domains td[data-cell=mx_gateway]",
                                         "cells => cells.map(c => c.textContent.trim())")
    assert mx_cells == [(d["mx_gateway"] or "–").replace("_", " ") for d in api["domains"]]
    # Machines make most of the simulated clicks: the doctor's kept findings are shown.
    if api["doctor"] is not None:
        assert page.locator("#doctor li[data-check=dmarc]").count() == 1
    # The charts are there, with the same figures in their marks.
    for chart in ("chart-rates", "chart-timeline", "chart-timeline-opens", "chart-vendors"):
        assert page.locator(f"svg#{chart}").count() == 1, chart
    # each timeline chart says what it counts, right above it
    for chart, heading in (("chart-timeline", "Clicks"), ("chart-timeline-opens", "Opens")):
        above = page.eval_on_selector(f"svg#{chart}",
                                      "e => e.previousElementSibling.textContent.trim()")
        assert above == heading, chart
    machine_marks = page.eval_on_selector_all(
        "#chart-timeline rect.machine[data-value]", "els => els.map(e => Number(e.dataset.value))")
    assert sum(machine_marks) == sum(p["clicks"]["nhi"] for p in api["timeline"])
    page.close()


def test_overview_and_explorer(browser: Any, report_site: ReportSite) -> None:
    page = _login(browser, report_site)
    page.screenshot(path=str(artifact("dashboard-overview.png")), full_page=True)
    rows = page.eval_on_selector_all("#campaigns tbody tr",
                                     "rows => rows.map(r => r.dataset.campaign)")
    api = report_site.api("/campaigns").json()["campaigns"]
    assert rows == [c["id"] for c in api]
    campaign = api[0]["id"]
    page.click(f"#campaigns a[href$='/campaigns/{campaign}']")
    page.click("text=Explore events")
    page.select_option("select[name=verdict]", "nhi")
    page.select_option("select[name=rule]", "context.honeypot")
    page.click("form.filters button[type=submit]")
    page.wait_for_load_state()
    page.screenshot(path=str(artifact("dashboard-events.png")), full_page=True)
    shown = page.eval_on_selector_all("#events tbody tr[data-event]",
                                      "rows => rows.map(r => r.dataset.event)")
    expected = report_site.api(f"/campaigns/{campaign}/events", verdict="nhi",
                               rule="context.honeypot").json()["items"]
    assert shown == [e["id"] for e in expected] and shown
    page.click("#events tbody tr a")
    page.wait_for_load_state()
    assert "/dashboard/messages/" in page.url
    assert page.locator("table.reasons code", has_text="context.honeypot").count() >= 1
    page.screenshot(path=str(artifact("dashboard-message.png")), full_page=True)
    page.close()


def test_friendly_error_pages(browser: Any, report_site: ReportSite) -> None:
    page = _login(browser, report_site)
    answer = page.goto(report_site.server.base_url + "/dashboard/campaigns/no-such-campaign")
    assert answer.status == 404
    assert "no campaign 'no-such-campaign'" in page.inner_text("main")
    answer = page.goto(report_site.server.base_url + "/dashboard/events?page=zero")
    assert answer.status == 400
    assert "page" in page.inner_text("[role=alert]")
    page.screenshot(path=str(artifact("dashboard-error.png")))
    page.close()


def test_wrong_password_and_api_key_login(browser: Any, report_site: ReportSite) -> None:
    page = browser.new_page()
    page.goto(report_site.server.base_url + "/dashboard/login")
    page.fill("#name", report_site.user)
    page.fill("#password", "not the password")
    page.click("button[type=submit]")
    assert "did not match" in page.inner_text("[role=alert]")
    page.click("summary")
    page.fill("#api_key", report_site.api_key)
    page.click("button[type=submit]")
    page.wait_for_load_state()
    assert page.url.endswith("/dashboard/") and page.locator("#campaigns").count() == 1
    page.click("form.logout button")
    page.wait_for_load_state()
    assert "/dashboard/login" in page.url
    page.goto(report_site.server.base_url + "/dashboard/")
    assert "/dashboard/login" in page.url        # the session ended
    page.close()


def test_forms_need_their_csrf_token_and_cookies_are_locked_down(
        report_site: ReportSite) -> None:
    base = report_site.server.base_url
    with httpx.Client(base_url=base, timeout=10) as client:
        login = client.get("/dashboard/login")
        cookie = login.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=lax" in cookie and "path=/dashboard" in cookie
        forged = client.post("/dashboard/login", data={"name": report_site.user,
                                                       "password": report_site.password})
        assert forged.status_code == 400
        assert client.get("/dashboard/").status_code == 303
        token = login.text.split('name="csrf_token" value="')[1].split('"')[0]
        good = client.post("/dashboard/login", data={
            "name": report_site.user, "password": report_site.password, "csrf_token": token})
        assert good.status_code == 303 and client.get("/dashboard/").status_code == 200
        # Logging out needs the token too: a cross-site form cannot end the session.
        client.post("/dashboard/logout", data={})
        assert client.get("/dashboard/").status_code == 200
        export = client.get(f"/dashboard/campaigns/"
                            f"{report_site.api('/campaigns').json()['campaigns'][0]['id']}"
                            "/export.csv")
        assert export.status_code == 200 and export.text.startswith("seq,id,type")
    assert httpx.get(base + "/dashboard/campaigns/x/export.csv",
                     timeout=10).status_code == 303   # no export without a login


def test_deleting_a_user_ends_their_sessions(report_site: ReportSite) -> None:
    from clicksift import access
    from clicksift.settings import Settings
    from clicksift.storage import open_store

    store = open_store(Settings(database=report_site.database))
    try:
        access.set_password(store, "leaver", "a password that will go")
        with httpx.Client(base_url=report_site.server.base_url, timeout=10) as client:
            login = client.get("/dashboard/login").text
            token = login.split('name="csrf_token" value="')[1].split('"')[0]
            client.post("/dashboard/login", data={"name": "leaver", "csrf_token": token,
                                                  "password": "a password that will go"})
            assert client.get("/dashboard/").status_code == 200
            access.delete_user(store, "leaver")
            gone = client.get("/dashboard/")
            assert gone.status_code == 303 and "/dashboard/login" in gone.headers["location"]
    finally:
        store.close()


def _logged_in(client: httpx.Client, name: str, password: str) -> int:
    login = client.get("/dashboard/login").text
    token = login.split('name="csrf_token" value="')[1].split('"')[0]
    return client.post("/dashboard/login", data={"name": name, "csrf_token": token,
                                                 "password": password}).status_code


def test_a_saved_session_ends_at_logout_and_at_a_password_change(
        report_site: ReportSite) -> None:
    """A copy of the cookie taken before logout (or before the password changed) opens
    nothing afterwards, and re-creating a deleted user revives none of their sessions."""
    from clicksift import access
    from clicksift.settings import Settings
    from clicksift.storage import open_store

    base = report_site.server.base_url
    store = open_store(Settings(database=report_site.database))
    try:
        access.set_password(store, "saver", "the first password")
        with httpx.Client(base_url=base, timeout=10) as client:
            assert _logged_in(client, "saver", "the first password") == 303
            saved = dict(client.cookies)
            page = client.get("/dashboard/").text
            token = page.split('name="csrf_token" value="')[1].split('"')[0]
            client.post("/dashboard/logout", data={"csrf_token": token})
        with httpx.Client(base_url=base, timeout=10, cookies=saved) as replay:
            assert replay.get("/dashboard/").status_code == 303      # logged out for good
        with httpx.Client(base_url=base, timeout=10) as client:
            assert _logged_in(client, "saver", "the first password") == 303
            saved = dict(client.cookies)
        access.set_password(store, "saver", "the second password")
        with httpx.Client(base_url=base, timeout=10, cookies=saved) as replay:
            assert replay.get("/dashboard/").status_code == 303      # the password changed
        with httpx.Client(base_url=base, timeout=10) as client:
            assert _logged_in(client, "saver", "the second password") == 303
            saved = dict(client.cookies)
            assert client.get("/dashboard/").status_code == 200
        access.delete_user(store, "saver")
        access.set_password(store, "saver", "the second password")
        with httpx.Client(base_url=base, timeout=10, cookies=saved) as replay:
            assert replay.get("/dashboard/").status_code == 303      # deleted, not revived
    finally:
        store.close()


def test_failed_logins_are_throttled_with_retry_after(report_site: ReportSite) -> None:
    from clicksift import access
    from clicksift.settings import Settings
    from clicksift.storage import open_store
    from clicksift.web.throttle import FREE_PER_NAME

    store = open_store(Settings(database=report_site.database))
    try:
        access.set_password(store, "target", "the right password")
    finally:
        store.close()
    with httpx.Client(base_url=report_site.server.base_url, timeout=10) as client:
        codes = [_logged_in(client, "target", f"guess {n}") for n in range(FREE_PER_NAME)]
        assert codes == [401] * FREE_PER_NAME
        login = client.get("/dashboard/login").text
        token = login.split('name="csrf_token" value="')[1].split('"')[0]
        refused = client.post("/dashboard/login", data={
            "name": "Target", "csrf_token": token, "password": "the right password"})
        assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
        assert "Too many failed logins" in refused.text
        # Another user from elsewhere is not held up by it.
        assert _logged_in(client, report_site.user, report_site.password) == 303


def test_the_login_throttle_doubles_each_wait_and_forgets() -> None:
    from clicksift.web.throttle import FREE_PER_ADDRESS, FREE_PER_NAME, WINDOW, LoginThrottle

    now = [1000.0]
    throttle = LoginThrottle(clock=lambda: now[0])
    for _ in range(FREE_PER_NAME - 1):
        throttle.failed("ann", "192.0.2.1")
    assert throttle.wait("ann", "192.0.2.1") == 0.0
    throttle.failed("ann", "192.0.2.1")
    assert throttle.wait("ANN", "192.0.2.9") == 1.0            # names match in any case
    throttle.failed("ann", "192.0.2.1")
    assert throttle.wait("ann", None) == 2.0
    now[0] += 1.5
    assert throttle.wait("ann", None) == 0.5
    throttle.succeeded("ann")
    assert throttle.wait("ann", None) == 0.0
    for n in range(FREE_PER_ADDRESS):                           # many names, one address
        throttle.failed(f"user{n}", "198.51.100.7")
    assert throttle.wait("someone", "198.51.100.7") == 1.0
    assert throttle.wait("someone", "198.51.100.8") == 0.0
    now[0] += WINDOW + 1                                        # old failures stop counting
    assert throttle.wait("someone", "198.51.100.7") == 0.0


def test_the_esp_problems_page_shows_what_the_api_counts(
        browser: Any, tmp_path_factory: pytest.TempPathFactory) -> None:
    """A SendGrid batch with an unreadable address and two records that are no events: the
    page lists the problems the API counts, per ESP, and an ESP filter narrows them."""
    import json

    from clicksift import access
    from clicksift.ingest import get_adapter
    from clicksift.settings import Settings
    from clicksift.storage import open_store
    from tests.support import FIXTURES, running_server

    folder = tmp_path_factory.mktemp("problems")
    database = str(folder / "problems.db")
    batch = json.loads((FIXTURES / "esps" / "sendgrid-events.json").read_text())["body"]
    batch[0]["ip"] = "888.222.444.111"
    body = json.dumps([*batch, {"event": 5}, {"event": "open", "timestamp": "yesterday"}])
    store = open_store(Settings(database=database))
    try:
        with store.transaction():
            store.add_events(get_adapter("sendgrid").parse(body.encode(), {}))
        key = access.create_key(store, "tests").secret
        access.set_password(store, "ann", "a long enough password")
    finally:
        store.close()
    with running_server({"CLICKSIFT_DATABASE": database}, folder) as server:
        site = ReportSite(server, database, key, "ann", "a long enough password")
        api = site.api("/ingest/problems").json()["problems"]
        assert sum(p["count"] for p in api) == 3 and {p["esp"] for p in api} == {"sendgrid"}
        page = _login(browser, site, "/dashboard/ingest")
        page.screenshot(path=str(artifact("dashboard-ingest.png")), full_page=True)
        rows = page.eval_on_selector_all("#problems tbody tr", "rows => rows.map(r => "
                                         "[...r.cells].slice(1, 4).map(c => c.innerText))")
        assert rows == [[p["kind"], p["what"], str(p["count"])] for p in api]
        page.click("#problems tbody tr a")                 # an example's message
        page.wait_for_load_state()
        assert "/dashboard/messages/" in page.url
        page.goto(server.base_url + "/dashboard/ingest")
        page.select_option("select[name=esp]", "mailgun")
        page.click("form.filters button[type=submit]")
        page.wait_for_load_state()
        assert "No problems for Mailgun" in page.inner_text("#no-problems")
        assert site.api("/ingest/problems", esp="mailgun").json() == {"problems": []}
        answer = page.goto(server.base_url + "/dashboard/ingest?esp=hotmail")
        assert answer.status == 400 and "hotmail" in page.inner_text("[role=alert]")
        refused = site.api("/ingest/problems", esp="hotmail")
        assert refused.status_code == 400 and refused.json()["error"]["field"] == "esp"
        page.close()


def test_the_campaign_page_sets_the_esps_flags_beside_the_verdicts(
        browser: Any, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Braze events imported and judged: the campaign page's table of the ESP's own bot
    flags beside the verdicts shows what the API reports."""
    import json

    from click.testing import CliRunner

    from clicksift import access
    from clicksift.cli import main
    from clicksift.settings import Settings
    from clicksift.storage import open_store
    from tests.support import running_server

    folder = tmp_path_factory.mktemp("espflags")
    database = str(folder / "braze.db")
    records = [{"event_type": "users.messages.email.Click", "id": f"c{n}",
                "time": 1733407200 + n, "campaign_id": "braze-camp", "dispatch_id": f"d{n}",
                "email_address": f"p{n}@example.com", "url": "https://example.com/a",
                "user_agent": agent, "is_suspected_bot_click": flagged}
               for n, (agent, flagged) in enumerate([("python-requests/2.32.3", True),
                                                     ("Mozilla/5.0 (Windows NT 10.0)", True),
                                                     ("curl/8.5.0", False)])]
    source = folder / "braze.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in records))
    imported = CliRunner().invoke(main, ["import", "--esp", "braze", str(source), "--db",
                                         database])
    assert imported.exit_code == 0, imported.output
    with open_store(Settings(database=database)) as store:
        key = access.create_key(store, "tests").secret
        access.set_password(store, "ann", "a long enough password")
    with running_server({"CLICKSIFT_DATABASE": database}, folder) as server:
        site = ReportSite(server, database, key, "ann", "a long enough password")
        api = site.api("/campaigns/braze-camp").json()["esp_flags"]
        assert [row["type"] for row in api] == ["click"]
        page = _login(browser, site, "/dashboard/campaigns/braze-camp")
        shown = _values(page, "#esp-flags tr[data-type='click'] td[data-metric]")
        for metric in ("judged", "both", "esp_only", "clicksift_only", "neither"):
            assert _number(shown[metric]) == api[0][metric], metric
        assert api[0]["judged"] == 3 and api[0]["clicksift_only"] == 1
        page.close()
