"""ESP adapters: documented payloads, signatures made with our own keys, the webhook
endpoint over real HTTP, and `clicksift import`."""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from clicksift.events import event_from_dict
from clicksift.ingest import ADAPTERS, PayloadError, SignatureError, get_adapter, normalize
from clicksift.ingest.reading import split_bodies
from clicksift.ingest.samples import render
from clicksift.server.webhooks import startup_warnings
from clicksift.settings import Settings
from clicksift.simulate import SimulationConfig, events_and_truth, simulate
from tests.esp_keys import EspKeys
from tests.poison import POISON
from tests.support import FIXTURES, ROOT, ServerProcess, running_server

ESP_FIXTURES = FIXTURES / "esps"
WEBHOOK_ESPS = sorted(name for name, adapter in ADAPTERS.items() if adapter.webhook)
FILE_ESPS = sorted(name for name, adapter in ADAPTERS.items() if not adapter.webhook)
BASE_URL = "https://track.example.com"


def fixture_files(esp: str | None = None) -> list[Path]:
    files = sorted(ESP_FIXTURES.glob("*.json"))
    return [f for f in files if esp is None or f.name.startswith(esp + "-")]


def load_fixture(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def fixture_body(document: dict[str, Any]) -> bytes:
    if "body_text" in document:
        return str(document["body_text"]).encode()
    return json.dumps(document["body"]).encode()


# -- documented payloads -------------------------------------------------------------------------

@pytest.mark.parametrize("path", fixture_files(), ids=lambda p: p.stem)
def test_documented_payloads_normalize_as_the_esp_means_them(path: Path) -> None:
    document = load_fixture(path)
    assert document["source"].startswith("https://") and document["retrieved"]
    esp = path.stem.split("-")[0]
    events = get_adapter(esp).parse(fixture_body(document), {})
    assert len(events) == len(document["expect"])
    sent = get_adapter(esp).parse(fixture_body(document),
                                  {"content-type": document["content_type"]})
    assert [e.raw for e in sent] == [e.raw for e in events]   # files have no content type
    for event, expected in zip(events, document["expect"], strict=True):
        assert event.source == esp and event.raw["esp_payload"] is not None
        assert event.raw["esp_type"]
        event_from_dict(json.loads(json.dumps(event.raw)))   # keeps the contract
        for name, value in expected.items():
            if name == "timestamp":
                assert event.ts == pytest.approx(value, abs=1e-3), name
            elif name == "no":
                for absent in value:
                    assert event.raw.get(absent) is None, absent
            elif name == "esp_payload_id":
                assert str(event.raw["esp_payload"]["ID"]) == value
            else:
                assert event.raw.get(name) == value, (name, event.raw.get(name))


@pytest.mark.parametrize("path", fixture_files(), ids=lambda p: p.stem)
def test_each_stored_record_reads_again_as_the_same_event(path: Path) -> None:
    """What `ingest reparse` relies on: one stored record (an event's esp_payload), put in
    a body of its own, is read as the event it was (Mailchimp's activities need their
    report around them, and say so)."""
    document = load_fixture(path)
    adapter = get_adapter(path.stem.split("-")[0])
    events = adapter.parse(fixture_body(document), {"content-type": document["content_type"]})
    if adapter.reread is None:
        assert adapter.name == "mailchimp"
        return
    for event in events:
        again = adapter.parse(*adapter.reread(event.raw["esp_payload"]))
        assert len(again) == 1
        assert again[0].raw == {**event.raw, "id": again[0].id} and \
            again[0].id == event.id.split("~")[0]


def test_every_esp_has_documented_fixtures_and_a_guide() -> None:
    from clicksift.ingest.samples import RENDERERS

    assert set(RENDERERS) == set(ADAPTERS)
    for name, adapter in ADAPTERS.items():
        assert adapter.guide.setup and adapter.guide.docs, name
        assert fixture_files(name), f"no fixture for {name}"
        assert (ROOT / "docs" / "esps" / f"{name}.md").exists()


def test_allow_unsigned_webhooks_names_real_esps() -> None:
    from clicksift.configuration import load_settings
    from clicksift.errors import ConfigError
    from clicksift.ingest import check_settings
    from clicksift.server.app import create_app
    from clicksift.settings import Settings

    with pytest.raises(ConfigError, match="not an ESP"):        # checked when loaded
        load_settings(env={"CLICKSIFT_ALLOW_UNSIGNED_WEBHOOKS": "sendgird"})
    settings = Settings(allow_unsigned_webhooks=["sendgird"])
    with pytest.raises(ConfigError, match="not an ESP"):
        check_settings(settings)
    with pytest.raises(ConfigError, match="not an ESP"):        # the server checks them
        create_app(settings)
    check_settings(load_settings(env={"CLICKSIFT_ALLOW_UNSIGNED_WEBHOOKS": "sendgrid"})
                   .settings)


def test_parsing_twice_gives_the_same_ids() -> None:
    for path in fixture_files():
        esp = path.stem.split("-")[0]
        body = fixture_body(load_fixture(path))
        first = [e.id for e in get_adapter(esp).parse(body, {})]
        assert first == [e.id for e in get_adapter(esp).parse(body, {})]
        assert len(set(first)) == len(first)


def test_big_numeric_ids_keep_every_digit() -> None:
    body = fixture_body(load_fixture(ESP_FIXTURES / "mailjet-open.json"))
    event = get_adapter("mailjet").parse(body, {})[0]
    assert event.message_id == "19421777396190490"          # > 2^53: a float would round it
    assert int(event.message_id) == 19421777396190490
    assert event.raw["esp_payload"]["MessageID"] == 19421777396190490


@pytest.mark.parametrize("esp", sorted(ADAPTERS))
def test_malformed_bodies_name_what_is_wrong(esp: str) -> None:
    adapter = get_adapter(esp)
    for body in (b"", b"not json at all", b"[1, 2]", b'{"unexpected": true}'):
        with pytest.raises(PayloadError) as caught:
            adapter.parse(body, {})
        assert str(caught.value)


@pytest.mark.parametrize("esp", sorted(ADAPTERS))
def test_simulated_traffic_survives_each_esps_format(esp: str) -> None:
    raw, _ = events_and_truth(simulate(SimulationConfig(recipients=40, seed=8)))
    events = [event_from_dict(item) for item in raw]
    adapter = get_adapter(esp)
    parsed = [e for body in render(adapter.name, events) for e in adapter.parse(body, {})]

    def shape(event: Any) -> tuple[Any, ...]:
        detailed = event.type == "click" or esp != "resend"     # Resend opens carry neither
        return (event.type, int(event.ts), event.url if event.type == "click" else None,
                event.ip if "ip" in adapter.carries and detailed else None,
                event.user_agent if "user_agent" in adapter.carries and detailed else None)

    reported = Counter(shape(e) for e in events if e.type in {"open", "click"})
    got = Counter(shape(e) for e in parsed if e.type in {"open", "click"})
    assert got == reported
    # one message in, one message out: its events stay together
    engaged = {"open", "click"}
    assert len({e.message_id for e in parsed if e.type in engaged}) == len(
        {e.message_id for e in events if e.type in engaged})


# -- signatures ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> EspKeys:
    return EspKeys(tmp_path_factory.mktemp("keys"), BASE_URL)


def _secrets(keys: EspKeys, esp: str) -> dict[str, str]:
    from clicksift.configuration import load_settings
    from clicksift.server.webhooks import configured_secrets

    settings = load_settings(env={**keys.env(), "CLICKSIFT_BASE_URL": BASE_URL}).settings
    secrets = configured_secrets(settings, get_adapter(esp))
    assert secrets is not None
    return secrets


def sample_body(esp: str) -> bytes:
    return fixture_body(load_fixture(fixture_files(esp)[0]))


@pytest.mark.parametrize("esp", WEBHOOK_ESPS)
def test_verify_accepts_our_signature_and_refuses_a_wrong_key(esp: str, keys: EspKeys) -> None:
    adapter = get_adapter(esp)
    assert adapter.verify is not None
    body, headers = keys.sign(esp, sample_body(esp), time.time())
    adapter.verify(body, headers, _secrets(keys, esp))
    body, headers = keys.sign(esp, sample_body(esp), time.time(), wrong=True)
    with pytest.raises(SignatureError):
        adapter.verify(body, headers, _secrets(keys, esp))


# -- the endpoint over real HTTP -----------------------------------------------------------------

@dataclass
class Site:
    server: ServerProcess
    database: str
    keys: EspKeys

    def post(self, esp: str, body: bytes, headers: dict[str, str] | None = None,
             content_type: str | None = None) -> httpx.Response:
        kind = content_type or get_adapter(esp).content_types[0]
        return httpx.post(f"{self.server.base_url}/webhooks/{esp}", content=body,
                          headers={"content-type": kind, **(headers or {})}, timeout=30)

    def count(self, esp: str) -> int:
        with sqlite3.connect(self.database) as db:
            return int(db.execute("SELECT count(*) FROM events WHERE id LIKE ?",
                                  (esp + "-%",)).fetchone()[0])


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    folder = tmp_path_factory.mktemp("webhooks")
    keys = EspKeys(folder, BASE_URL)
    database = str(folder / "hooks.db")
    with running_server({"CLICKSIFT_DATABASE": database, "CLICKSIFT_BASE_URL": BASE_URL,
                         "CLICKSIFT_WEBHOOK_MAX_MB": "2", **keys.env()}, folder) as server:
        yield Site(server, database, keys)


@pytest.mark.parametrize("esp", WEBHOOK_ESPS)
def test_a_signed_webhook_is_stored_once(esp: str, site: Site) -> None:
    document = load_fixture(fixture_files(esp)[0])
    body, headers = site.keys.sign(esp, fixture_body(document), time.time())
    before = site.count(esp)
    first = site.post(esp, body, headers)
    assert first.status_code == 200, first.text
    assert first.json()["accepted"] == len(document["expect"])
    assert site.count(esp) - before == first.json()["new"] > 0
    again = site.post(esp, *site.keys.sign(esp, fixture_body(document), time.time()))
    assert again.status_code == 200 and again.json()["new"] == 0       # re-delivered: once
    assert site.count(esp) - before == first.json()["new"]


def _legacy_mailgun(key: str, stamp: int, *, multipart: bool = False, wrong: bool = False,
                    **fields: str) -> tuple[bytes, str]:
    """A legacy Mailgun webhook signed with KEY, as a form (or a multipart form)."""
    from urllib.parse import urlencode

    from clicksift.ingest.samples import mailgun
    token = os.urandom(25).hex()
    signed = mailgun.signature_block(key + ("x" if wrong else ""), stamp, token)
    pairs = [*fields.items(), *signed.items()]
    if not multipart:
        return urlencode(pairs).encode(), "application/x-www-form-urlencoded"
    boundary = "b" + os.urandom(8).hex()
    body = "".join(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
                   f"{value}\r\n" for name, value in pairs) + f"--{boundary}--\r\n"
    return body.encode(), f"multipart/form-data; boundary={boundary}"


@pytest.mark.parametrize("multipart", [False, True], ids=["urlencoded", "multipart"])
def test_legacy_mailgun_webhooks_are_verified_and_stored_once(multipart: bool,
                                                             site: Site) -> None:
    key, now = site.keys.good.mailgun_key, int(time.time())
    fields = {"event": "clicked", "recipient": f"r{int(multipart)}@example.com",
              "url": "https://example.com/a", "ip": "73.1.2.3", "user-agent": "Mozilla/5.0",
              "message-headers": json.dumps([["Message-Id", "<legacy-1@mg.example.com>"]])}
    before = site.count("mailgun")
    body, kind = _legacy_mailgun(key, now, multipart=multipart, **fields)
    first = site.post("mailgun", body, content_type=kind)
    assert first.status_code == 200 and first.json()["new"] == 1, first.text
    assert site.post("mailgun", body, content_type=kind).json()["new"] == 0   # a retry
    with sqlite3.connect(site.database) as db:
        stored = json.loads(db.execute("SELECT data FROM events WHERE id LIKE 'mailgun-%' "
                                       "ORDER BY seq DESC LIMIT 1").fetchone()[0])
    assert stored["type"] == "click" and stored["ip"] == "73.1.2.3"
    assert stored["message_id"] == f"legacy-1@mg.example.com/{fields['recipient']}"
    forged, kind = _legacy_mailgun(key, now, multipart=multipart, wrong=True, **fields)
    refused = site.post("mailgun", forged, content_type=kind)
    assert refused.status_code == 400 and "signature" in refused.text
    assert site.count("mailgun") - before == 1


def test_a_legacy_dropped_message_is_kept_as_unknown_and_a_bounce_is_a_bounce() -> None:
    from urllib.parse import urlencode
    adapter = get_adapter("mailgun")
    form = {"content-type": "application/x-www-form-urlencoded"}
    common = {"recipient": "a@example.com", "timestamp": "1461261330", "token": "t" * 50,
              "Message-Id": "<m@example.com>"}
    dropped = adapter.parse(urlencode({"event": "dropped", **common}).encode(), form)
    bounced = adapter.parse(urlencode({"event": "bounced", **common}).encode(), form)
    assert [e.type for e in dropped + bounced] == ["unknown", "bounce"]
    # a form that is no event at all (an inbound route's post) is refused with its reason
    with pytest.raises(PayloadError, match="event"):
        adapter.parse(urlencode({"sender": "x@example.org", "body-plain": "hi"}).encode(),
                      form)


BODY_SIGNED = {"sendgrid", "amazon_ses", "mandrill", "resend", "postal"}
TIMESTAMPED = {"sendgrid", "mailgun", "amazon_ses", "resend"}


@pytest.mark.parametrize("esp", WEBHOOK_ESPS)
@pytest.mark.parametrize("case", ["tampered body", "wrong key", "stale timestamp",
                                  "missing headers", "empty body", "not JSON",
                                  "wrong content type"])
def test_the_webhook_contract(esp: str, case: str, site: Site) -> None:
    keys, now = site.keys, time.time()
    body = sample_body(esp)
    content_type = None
    if case == "tampered body":
        if esp not in BODY_SIGNED:
            pytest.skip(f"{esp}'s scheme does not cover the body (credentials or a token)")
        body, headers = keys.sign(esp, body, now)
        body = body.replace(b"example", b"exbmple", 1)
        assert b"exbmple" in body
    elif case == "wrong key":
        body, headers = keys.sign(esp, body, now, wrong=True)
    elif case == "stale timestamp":
        if esp not in TIMESTAMPED:
            pytest.skip(f"{esp} signs no timestamp")
        body, headers = keys.sign(esp, body, now - 7200)
    elif case == "missing headers":
        body, headers = keys.sign(esp, body, now)
        headers = {}
        if esp in ("mailgun", "amazon_ses"):       # their signature travels in the body
            document = json.loads(body)
            document.pop("signature" if esp == "mailgun" else "Signature")
            body = json.dumps(document).encode()
    elif case == "empty body":
        body, headers = b"", keys.sign(esp, b"", now)[1] if esp not in (
            "mailgun", "amazon_ses") else {}
    elif case == "not JSON":
        raw = b"mandrill_events=%7Bnot+json" if esp == "mandrill" else b"{not json"
        if esp in ("mailgun", "amazon_ses"):
            body, headers = raw, {}
        else:
            body, headers = keys.sign(esp, raw, now)
    else:
        body, headers = keys.sign(esp, body, now)
        content_type = "text/html"
    before = site.count(esp)
    response = site.post(esp, body, headers, content_type)
    assert response.status_code == 400, (case, response.text)
    assert response.json()["error"]
    assert site.count(esp) == before


def test_unknown_esps_and_file_formats_have_no_webhook(site: Site) -> None:
    for name in ("nosuchesp", *FILE_ESPS):
        response = site.post(name, b"{}", content_type="application/json")
        assert response.status_code == 404
        assert "sendgrid" in response.json()["error"]


def test_mandrill_checks_the_url_with_head_and_it_answers(site: Site) -> None:
    response = httpx.head(f"{site.server.base_url}/webhooks/mandrill", timeout=10)
    assert response.status_code == 200
    assert httpx.get(f"{site.server.base_url}/webhooks/mandrill").json() == {
        "esp": "mandrill", "ready": True, "signed": True}


def test_a_body_over_the_limit_is_413(site: Site) -> None:
    body = b"[" + b",".join([b'{"event": "open"}'] * 200_000) + b"]"
    assert len(body) > 2 * 1024 * 1024
    response = site.post("postmark", body, site.keys.sign("postmark", body, time.time())[1])
    assert response.status_code == 413


def test_a_large_sendgrid_batch_is_one_fast_transaction(site: Site) -> None:
    raw, _ = events_and_truth(simulate(SimulationConfig(recipients=300, seed=4)))
    events = [event_from_dict(item) for item in raw]
    records = [r for body in render("sendgrid", events) for r in json.loads(body)]
    body = json.dumps(records[:1000]).encode()
    before = site.count("sendgrid")
    started = time.perf_counter()
    response = site.post("sendgrid", *site.keys.sign("sendgrid", body, time.time()))
    elapsed = time.perf_counter() - started
    assert response.status_code == 200 and response.json()["new"] == 1000
    assert site.count("sendgrid") - before == 1000
    print(f"1,000-event SendGrid batch stored in {elapsed * 1000:.0f} ms")


def test_ses_subscription_confirmation(site: Site) -> None:
    envelope = {"Type": "SubscriptionConfirmation", "MessageId": "165545c9-2a5c-472c",
                "Token": "2336412f37fb687f5d51e6e2425f004aed", "TopicArn": "x",
                "Message": "You have chosen to subscribe to the topic x.",
                "SubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action="
                                "ConfirmSubscription&Token=2336412f37",
                "Timestamp": "2012-04-26T20:45:04.751Z", "SignatureVersion": "2",
                "Signature": "", "SigningCertURL": ""}
    body, headers = site.keys.sign("amazon_ses", json.dumps(envelope).encode(), time.time())
    response = site.post("amazon_ses", body, headers)
    assert response.status_code == 200, response.text
    assert response.json()["confirmed"] is False
    assert response.json()["confirm_url"].startswith("https://sns.us-east-1.amazonaws.com/")
    assert "waits for confirmation" in site.server.log()


def test_the_ses_adapter_owns_its_handshake_and_its_certificate_fetch(tmp_path: Path) -> None:
    from clicksift.ingest import amazon_ses

    def body(**envelope: str) -> bytes:
        return json.dumps({"TopicArn": "arn:t", **envelope}).encode()

    confirmation = body(Type="SubscriptionConfirmation", SubscribeURL="https://sns.x/confirm")
    assert amazon_ses.subscription_confirmation(body(Type="Notification"), {}) is None
    unlisted = amazon_ses.subscription_confirmation(confirmation, {"topic_arns": "arn:u"})
    listed = amazon_ses.subscription_confirmation(confirmation, {"topic_arns": "arn:u,arn:t"})
    assert unlisted is not None and not unlisted.confirm and "ses_topic_arns" in unlisted.hint
    assert listed is not None and listed.confirm and listed.confirm_url == "https://sns.x/confirm"
    # The certificate is fetched only when allowed, into a folder, from an Amazon address:
    # each near miss below returns before any request (a request would fail: no network).
    notice = body(Type="Notification",
                  SigningCertURL="https://sns.us-east-1.amazonaws.com/cert-a.pem")
    outside = body(Type="Notification", SigningCertURL="https://example.com/cert-a.pem")
    folder = str(tmp_path)
    (tmp_path / "cert-a.pem").write_text("cached")
    for envelope, secrets in ((notice, {"certificates": folder}),
                              (notice, {"certificates": folder, "fetch_certificates": "false"}),
                              (outside, {"certificates": folder, "fetch_certificates": "true"}),
                              (notice, {"certificates": folder, "fetch_certificates": "true"})):
        amazon_ses.fetch_certificate(envelope, secrets)      # cached: nothing to fetch
    assert (tmp_path / "cert-a.pem").read_text() == "cached"
    assert amazon_ses.ADAPTER.fetch is amazon_ses.fetch_certificate
    assert amazon_ses.ADAPTER.secrets["fetch_certificates"] == "ses_fetch_certificates"


def test_without_a_secret_webhooks_are_refused_unless_allowed(tmp_path: Path) -> None:
    database = str(tmp_path / "plain.db")
    body = sample_body("postmark")
    with running_server({"CLICKSIFT_DATABASE": database}, tmp_path) as server:
        refused = httpx.post(f"{server.base_url}/webhooks/postmark", content=body,
                             headers={"content-type": "application/json"})
        assert refused.status_code == 403
        assert "postmark_basic_auth" in refused.json()["error"]
    with running_server({"CLICKSIFT_DATABASE": database,
                         "CLICKSIFT_ALLOW_UNSIGNED_WEBHOOKS": "postmark",
                         "CLICKSIFT_LOG_LEVEL": "warning"}, tmp_path) as server:
        accepted = httpx.post(f"{server.base_url}/webhooks/postmark", content=body,
                              headers={"content-type": "application/json"})
        assert accepted.status_code == 200
        assert "accepted UNSIGNED" in server.log()
    settings = Settings(allow_unsigned_webhooks=["all"])
    assert len(startup_warnings(settings)) == len(WEBHOOK_ESPS)


def test_a_storage_failure_is_500_so_the_esp_retries(tmp_path: Path) -> None:
    database = str(tmp_path / "busy.db")
    body, headers = (sample_body("postmark"),
                     {"authorization": "Bearer token-for-brevo"})
    with running_server({"CLICKSIFT_DATABASE": database, "CLICKSIFT_STORE_TIMEOUT_MS": "200",
                         "CLICKSIFT_BREVO_CREDENTIALS": "token-for-brevo"}, tmp_path) as server:
        body = sample_body("brevo")
        holder = sqlite3.connect(database)
        holder.execute("BEGIN EXCLUSIVE")
        try:
            response = httpx.post(f"{server.base_url}/webhooks/brevo", content=body,
                                  headers={"content-type": "application/json", **headers},
                                  timeout=30)
        finally:
            holder.rollback()
            holder.close()
        assert response.status_code == 500
        retried = httpx.post(f"{server.base_url}/webhooks/brevo", content=body,
                             headers={"content-type": "application/json", **headers})
        assert retried.status_code == 200 and retried.json()["new"] == 1


# -- clicksift import ----------------------------------------------------------------------------

@pytest.fixture
def cli() -> Any:
    from click.testing import CliRunner

    from clicksift.cli import main

    def run(*args: str) -> Any:
        return CliRunner().invoke(main, list(args), catch_exceptions=False)
    return run


def test_import_writes_the_events_parse_gives(tmp_path: Path, cli: Any) -> None:
    for path in fixture_files():
        esp = path.stem.split("-")[0]
        source = tmp_path / f"{path.stem}.body"
        source.write_bytes(fixture_body(load_fixture(path)))
        out = tmp_path / f"{path.stem}.jsonl"
        result = cli("import", "--esp", esp, str(source), "-o", str(out))
        assert result.exit_code == 0, result.output
        written = [json.loads(line) for line in out.read_text().splitlines()]
        expected = [e.raw for e in get_adapter(esp).parse(source.read_bytes(), {})]
        assert written == json.loads(json.dumps(expected))


def test_import_into_the_store_judges_and_says_what_was_missing(tmp_path: Path,
                                                                cli: Any) -> None:
    raw, _ = events_and_truth(simulate(SimulationConfig(recipients=50, seed=2)))
    events = [event_from_dict(item) for item in raw]
    source = tmp_path / "cc.jsonl"
    source.write_bytes(b"\n".join(render("constant_contact", events)) + b"\n")
    database = str(tmp_path / "import.db")
    result = cli("import", "--esp", "constant_contact", str(source), "--db", database)
    assert result.exit_code == 0, result.output
    again = cli("import", "--esp", "constant_contact", str(source), "--db", database)
    assert "stored 0 new" in again.output
    with sqlite3.connect(database) as db:
        rows = db.execute("SELECT reasons FROM verdicts").fetchall()
    assert rows
    missing = [r for (reasons,) in rows for r in json.loads(reasons)
               if r["rule"] == "evidence.missing"]
    assert len(missing) == len(rows)
    assert "user agent" in missing[0]["detail"] and "client address" in missing[0]["detail"]


def test_import_names_the_file_line_and_field(tmp_path: Path, cli: Any) -> None:
    source = tmp_path / "bad.jsonl"
    good = json.dumps(load_fixture(ESP_FIXTURES / "postmark-open.json")["body"])
    source.write_text(good + "\n" + '{"RecordType": "Open", "MessageID": "x"}' + "\n")
    result = cli("import", "--esp", "postmark", str(source), "-o", str(tmp_path / "o.jsonl"))
    assert result.exit_code == 2
    assert "bad.jsonl, line 2" in result.output and "ReceivedAt" in result.output
    skipped = cli("import", "--esp", "postmark", str(source), "-o", str(tmp_path / "o.jsonl"),
                  "--skip-invalid")
    assert skipped.exit_code == 0 and "skipped 1" in skipped.output


def test_import_files_hold_one_body_or_one_per_line() -> None:
    one = json.dumps([{"a": 1}, {"a": 2}], indent=2).encode()
    assert [b for _, b in split_bodies(one)] == [one.strip()]
    lines = b'{"a": 1}\n\n{"a": 2}\n'
    assert [(n, b) for n, b in split_bodies(lines)] == [(1, b'{"a": 1}'), (3, b'{"a": 2}')]


# -- storage and the SNS details -----------------------------------------------------------------

def test_esp_events_keep_big_ids_and_unknown_types_in_the_store(store: Any) -> None:
    body = fixture_body(load_fixture(ESP_FIXTURES / "mailjet-grouped.json"))
    events = get_adapter("mailjet").parse(body, {})
    with store.transaction():
        assert store.add_events(events) == len(events)
    with store.transaction():
        assert store.add_events(get_adapter("mailjet").parse(body, {})) == 0   # once
    stored = {s.raw["id"]: s.raw for s in store.iter_events()}
    assert len(stored) == len(events)
    first = stored[events[0].id]
    assert first["message_id"] == "19421777835146490"
    assert first["esp_payload"]["MessageID"] == 19421777835146490
    assert isinstance(first["esp_payload"]["MessageID"], int)
    assert sorted(e["type"] for e in stored.values()).count("unknown") == 2


def test_sns_signature_versions_and_certificate_addresses(keys: EspKeys) -> None:
    from clicksift.ingest import amazon_ses
    from clicksift.ingest.samples import amazon_ses as signed_as_sns

    secrets = _secrets(keys, "amazon_ses")
    body, _ = keys.sign("amazon_ses", sample_body("amazon_ses"), time.time())
    envelope = json.loads(body)
    version_one = signed_as_sns.sign_envelope(envelope, keys.good.rsa_key, version="1")
    amazon_ses.verify(json.dumps(version_one).encode(), {}, secrets)
    for url in ("https://evil.example/cert.pem", "http://sns.us-east-1.amazonaws.com/x.pem",
                "https://sns.us-east-1.amazonaws.com.evil.example/x.pem"):
        forged = signed_as_sns.sign_envelope(dict(envelope, SigningCertURL=url), keys.good.rsa_key)
        with pytest.raises(SignatureError, match="not an Amazon SNS address"):
            amazon_ses.verify(json.dumps(forged).encode(), {}, secrets)
    other_topic = dict(secrets, topic_arns="arn:aws:sns:us-east-1:123456789012:other")
    with pytest.raises(SignatureError, match="ses_topic_arns"):
        amazon_ses.verify(body, {}, other_topic)
    raw = json.dumps(json.loads(envelope["Message"])).encode()      # raw message delivery
    with pytest.raises(SignatureError, match="raw message delivery"):
        amazon_ses.verify(raw, {}, secrets)
    parsed = get_adapter("amazon_ses").parse(raw, {})[0]
    assert parsed.raw["esp_type"] == json.loads(envelope["Message"])["eventType"]


def test_esp_unsubscribes_made_by_scanners_are_held_and_peoples_mirrored(site: Site) -> None:
    from clicksift.protect import subscriptions as subs
    from clicksift.settings import Settings
    from clicksift.simulate import world
    from clicksift.storage import open_store

    now = int(time.time())
    delivered = now - 7200
    old_chrome = world.chrome_ua(delivered, 14)
    person = world.chrome_ua(delivered)

    def record(event: str, message: str, email: str, at: int, **more: Any) -> dict[str, Any]:
        return {"email": email, "timestamp": at, "event": event,
                "sg_event_id": f"{message}-{event}-{at}-{more.get('url', '')}",
                "sg_message_id": message, **more}
    scanned = [record("delivered", "sg-m1", "kim@contoso.example", delivered)]
    scanned += [record("click", "sg-m1", "kim@contoso.example", delivered + 2 + n,
                       url=f"https://shop.example.com/{n}", ip="40.107.145.184",
                       useragent=old_chrome) for n in range(5)]
    scanned.append(record("group_unsubscribe", "sg-m1", "kim@contoso.example", delivered + 4,
                          url="https://u.sendgrid.example/u", ip="40.107.145.184",
                          useragent=old_chrome, asm_group_id=10))
    people = [record("delivered", "sg-m2", "lou@example.org", delivered),
              record("group_unsubscribe", "sg-m2", "lou@example.org", now - 60,
                     url="https://u.sendgrid.example/u", ip="79.210.54.236",
                     useragent=person, asm_group_id=10)]
    body = json.dumps(scanned + people).encode()
    response = site.post("sendgrid", *site.keys.sign("sendgrid", body, time.time()))
    assert response.status_code == 200, response.text
    again = site.post("sendgrid", *site.keys.sign("sendgrid", body, time.time()))
    assert again.json()["new"] == 0
    store = open_store(Settings(database=site.database))
    try:
        held = [r for r in subs.reviews(store) if r.recipient == "kim@contoso.example"]
        assert len(held) == 1 and "already unsubscribed" in held[0].judgement["note"]
        assert subs.get_state(store, "kim@contoso.example").overall == "subscribed"
        assert subs.get_state(store, "lou@example.org").overall == "unsubscribed"
        assert [(e.outcome, e.actor) for e in subs.history(store, "lou@example.org")] == [
            ("applied", "esp:sendgrid")]
    finally:
        store.close()


@pytest.mark.parametrize("esp", WEBHOOK_ESPS)
def test_poisoned_signed_webhooks_are_stored_never_a_500(esp: str, site: Site) -> None:
    """Twenty poisoned bodies per ESP (tests/poison.py), signed: each is stored (200) or
    refused as not the ESP's (400), never a server error; a retry changes nothing."""
    import random

    from tests.poison import fixture_paths as poison_fixtures
    from tests.poison import load as load_poison
    from tests.poison import poisoned

    rng = random.Random(f"poison-{esp}")
    document, encode, content_type = load_poison(poison_fixtures(esp)[0])
    statuses = Counter()
    for _ in range(20):
        swaps = [(rng.randrange(1 << 20), rng.choice(POISON)) for _ in range(2)]
        body, headers = site.keys.sign(esp, encode(poisoned(document, swaps)), time.time())
        response = site.post(esp, body, headers, content_type)
        statuses[response.status_code] += 1
        assert response.status_code in (200, 400), response.text
    assert statuses[200] >= 10, statuses


def test_one_odd_record_keeps_the_batch_over_http_and_through_import(
        site: Site, tmp_path: Path, cli: Any) -> None:
    document = load_fixture(fixture_files("sendgrid")[0])["body"]
    odd = [{"event": 5}, {"event": "open", "timestamp": "yesterday", "email": 7}]
    batch = json.dumps(document + odd).encode()
    body, headers = site.keys.sign("sendgrid", batch, time.time())
    before = site.count("sendgrid")
    answer = site.post("sendgrid", body, headers)
    assert answer.status_code == 200, answer.text
    assert answer.json()["accepted"] == len(document) + len(odd)
    # The good records may be stored already (earlier tests post the same fixture).
    assert site.count("sendgrid") - before == answer.json()["new"] >= len(odd)
    source = tmp_path / "batch.json"
    source.write_bytes(batch)
    out = tmp_path / "events.jsonl"
    result = cli("import", "--esp", "sendgrid", str(source), "-o", str(out))
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(lines) == len(document) + len(odd)
    assert sum("parse_error" in line for line in lines) == len(odd)


def test_ingest_problems_counts_what_could_not_be_read_per_esp(tmp_path: Path,
                                                                cli: Any) -> None:
    """Unread records (kept whole as unknown events) and fields left out, per ESP and
    problem, with examples; an ESP without problems has none."""
    document = load_fixture(fixture_files("sendgrid")[0])["body"]
    document[0]["ip"] = "000.000.000.000"
    odd = [{"event": 5}, {"event": 6}, {"event": "open", "timestamp": "yesterday"}]
    source = tmp_path / "batch.json"
    source.write_text(json.dumps(document + odd))
    db = str(tmp_path / "problems.db")
    assert cli("import", "--esp", "sendgrid", str(source), "--db", db).exit_code == 0
    result = cli("ingest", "problems", "--db", db, "--format", "json")
    assert result.exit_code == 0, result.output
    found = {(p["esp"], p["kind"], p["what"]): p for p in json.loads(result.output)}
    assert found[("sendgrid", "unread record", "event: has the wrong type (int)")]["count"] == 2
    assert found[("sendgrid", "unread record", "timestamp: … is not Unix seconds")]["count"] \
        == 1
    left_out = found[("sendgrid", "field left out", "ip")]
    assert left_out["count"] == 1 and "000.000.000.000" in left_out["examples"][0]["note"]
    assert len(found) == 3
    quiet = cli("ingest", "problems", "--db", db, "--esp", "mailgun", "--format", "json")
    assert json.loads(quiet.output) == []
    table = cli("ingest", "problems", "--db", db)
    assert table.exit_code == 0 and "field left out" in table.output


def test_ingest_reparse_recovers_rewrites_and_changes_nothing_the_second_time(
        tmp_path: Path, cli: Any) -> None:
    """A store written by an older version: one Brevo record it could not read (kept whole
    as unknown) and one event it read without its address. Reading them again recovers
    the first, rewrites the second (judged again), and a second run changes nothing."""

    document = load_fixture(ESP_FIXTURES / "brevo-click.json")["body"]
    db = str(tmp_path / "old.db")
    source = tmp_path / "brevo.json"
    source.write_text(json.dumps(document))
    assert cli("import", "--esp", "brevo", str(source), "--db", db).exit_code == 0
    recovered = dict(document, email="later@example.com", id=99)
    unread = normalize.unreadable("brevo", 0, recovered, "is missing", "ts_event")
    with sqlite3.connect(db) as conn:
        (data,) = conn.execute("SELECT data FROM events WHERE source = 'brevo'").fetchone()
        old = json.loads(data)
        old.pop("campaign_id")                              # as an older adapter stored it
        conn.execute("UPDATE events SET data = ? WHERE id = ?", (json.dumps(old), old["id"]))
    assert cli("load", "--db", db, str(_jsonl(tmp_path, [unread.raw]))).exit_code == 0

    first = cli("ingest", "reparse", "--db", db, "--esp", "brevo", "--format", "json")
    assert first.exit_code == 0, first.output
    (summary,) = json.loads(first.stdout)
    assert summary | {"messages": 0} == {"esp": "brevo", "read": 2, "recovered": 1,
                                         "rewritten": 1, "unchanged": 0, "still_unread": 0,
                                         "kept": 0, "messages": 0}
    with sqlite3.connect(db) as conn:
        rows = {r[0]: json.loads(r[1]) for r in conn.execute(
            "SELECT id, data FROM events WHERE source = 'brevo'")}
        judged = {r[0] for r in conn.execute("SELECT event_id FROM verdicts")}
    assert unread.id not in rows
    assert rows[old["id"]]["campaign_id"] == "transactionalTag"   # Brevo's tag, read
    assert {e["recipient"] for e in rows.values()} == {document["email"], "later@example.com"}
    assert set(rows) <= judged                               # both judged (again)
    second = cli("ingest", "reparse", "--db", db, "--esp", "brevo", "--format", "json")
    (again,) = json.loads(second.stdout)
    assert (again["read"], again["unchanged"], again["recovered"], again["rewritten"]) \
        == (2, 2, 0, 0)


def _jsonl(folder: Path, records: list[dict[str, Any]]) -> Path:
    path = folder / "events.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


#: The Avro schema of Currents' email Click files: the fields of Braze's event glossary
#: (https://www.braze.com/docs/user_guide/data/distribution/braze_currents/event_glossary/
#: message_engagement_events, retrieved 2026-12-06), each nullable as Currents writes them.
BRAZE_CLICK_SCHEMA = {
    "type": "record", "name": "Click", "namespace": "com.braze.currents.users.messages.email",
    "fields": [{"name": name, "type": ["null", kind], "default": None} for name, kind in (
        ("id", "string"), ("user_id", "string"), ("external_user_id", "string"),
        ("time", "int"), ("timezone", "string"), ("campaign_id", "string"),
        ("dispatch_id", "string"), ("send_id", "string"), ("email_address", "string"),
        ("url", "string"), ("user_agent", "string"), ("ip_pool", "string"),
        ("link_id", "string"), ("link_alias", "string"), ("esp", "string"),
        ("from_domain", "string"), ("is_amp", "boolean"),
        ("is_suspected_bot_click", "boolean"))] + [
        {"name": "suspected_bot_click_reason",
         "type": ["null", {"type": "array", "items": "string"}], "default": None}]}


def test_braze_currents_avro_folders_import_with_their_event_type(tmp_path: Path,
                                                                  cli: Any) -> None:
    import fastavro

    folder = tmp_path / "currents" / "event_type=users.messages.email.Click" / \
        "date=2026-12-05"
    folder.mkdir(parents=True)
    records = [{"id": f"c{n}", "user_id": "u1", "time": 1733400000 + n,
                "campaign_id": "camp", "dispatch_id": "d1", "email_address": "jo@example.com",
                "url": f"https://example.com/{n}", "user_agent": "Mozilla/5.0 (compatible)",
                "ip_pool": "marketing", "is_suspected_bot_click": n == 0,
                "suspected_bot_click_reason": ["ip_address"] if n == 0 else None}
               for n in range(3)]
    with open(folder / "dataexport.avro", "wb") as out:
        fastavro.writer(out, fastavro.parse_schema(BRAZE_CLICK_SCHEMA), records)
    (folder / "broken.avro").write_bytes(b"Obj\x01" + b"\x00" * 20)
    written = tmp_path / "events.jsonl"
    failed = cli("import", "--esp", "braze", str(tmp_path / "currents"), "-o", str(written))
    assert failed.exit_code != 0 and "broken.avro" in failed.output
    assert "Traceback" not in failed.output
    (folder / "broken.avro").unlink()
    result = cli("import", "--esp", "braze", str(tmp_path / "currents"), "-o", str(written))
    assert result.exit_code == 0, result.output
    events = [json.loads(line) for line in written.read_text().splitlines()]
    assert [e["type"] for e in events] == ["click"] * 3
    assert events[0]["esp_type"] == "users.messages.email.Click"
    assert events[0]["esp_flags"] == {"is_suspected_bot_click": True,
                                      "suspected_bot_click_reason": ["ip_address"]}
    assert events[1]["esp_flags"] == {"is_suspected_bot_click": False}
    assert {e["message_id"] for e in events} == {"d1/jo@example.com"}
    # without its folder, a record that names no event type is named as unreadable
    loose = tmp_path / "loose.avro"
    loose.write_bytes((folder / "dataexport.avro").read_bytes())
    alone = cli("import", "--esp", "braze", str(loose), "-o", str(written))
    assert alone.exit_code != 0 and "event_type" in alone.output


def test_the_report_sets_the_esps_own_flags_beside_the_verdicts(tmp_path: Path,
                                                                  cli: Any) -> None:
    """Braze's suspected bot clicks beside clicksift's verdicts: a script both flag, a
    person Braze suspected, a headless browser only clicksift caught, a person neither
    did; and a Mail Privacy Protection open both count as a machine."""
    chrome = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like "
              "Gecko) Chrome/131.0.0.0 Safari/537.36")
    clicks = [("python-requests/2.32.3", True), (chrome, True),
              ("Mozilla/5.0 (X11; Linux x86_64) HeadlessChrome/120.0.0.0 Safari/537.36",
               False), (chrome, False)]
    records = [{"event_type": "users.messages.email.Click", "id": f"c{n}",
                "time": 1733400000 + 7200 + n, "campaign_id": "camp", "dispatch_id": f"d{n}",
                "email_address": f"p{n}@example.com", "url": "https://example.com/a",
                "user_agent": agent, "is_suspected_bot_click": flagged}
               for n, (agent, flagged) in enumerate(clicks)]
    records.append({"event_type": "users.messages.email.Open", "id": "o1",
                    "time": 1733400000, "campaign_id": "camp", "dispatch_id": "d0",
                    "email_address": "p0@example.com", "user_agent": "Mozilla/5.0",
                    "machine_open": "true"})
    source = tmp_path / "braze.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in records))
    db = str(tmp_path / "braze.db")
    assert cli("import", "--esp", "braze", str(source), "--db", db).exit_code == 0
    result = cli("report", "camp", "--db", db, "--section", "esp",
                 "--format", "json")
    assert result.exit_code == 0, result.output
    rows = {r["type"]: r for r in json.loads(result.stdout)["esp_flags"]}
    assert rows["click"] == {"type": "click", "judged": 4, "both": 1, "esp_only": 1,
                             "clicksift_only": 1, "neither": 1, "agreement": 0.5}
    assert rows["open"]["both"] == 1 and rows["open"]["judged"] == 1
    table = cli("report", "camp", "--db", db, "--section", "esp")
    assert "clicksift only" in table.output and "50" in table.output


def test_braze_unsubscribes_from_a_machines_click_are_held_and_peoples_mirrored(
        tmp_path: Path, cli: Any) -> None:
    """Braze processed two unsubscribes: one two seconds after a script's click (its
    suspected bot click, fifteen seconds after delivery), one after a person's click hours
    later. Imported, the first is held for review, the second mirrored."""
    chrome = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like "
              "Gecko) Chrome/131.0.0.0 Safari/537.36")
    sent = 1733400000
    records = []
    for n, (agent, after) in enumerate([("python-requests/2.32.3", 15), (chrome, 7200)]):
        common = {"campaign_id": "camp", "dispatch_id": f"d{n}",
                  "email_address": f"p{n}@example.com"}
        records += [
            {"event_type": "users.messages.email.Delivery", "id": f"dl{n}", "time": sent,
             **common},
            {"event_type": "users.messages.email.Click", "id": f"c{n}", "time": sent + after,
             "url": "https://example.com/offer", "user_agent": agent,
             "is_suspected_bot_click": n == 0, **common},
            {"event_type": "users.messages.email.Unsubscribe", "id": f"u{n}",
             "time": sent + after + 2, **common}]
    source = tmp_path / "braze.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in records))
    db = str(tmp_path / "braze.db")
    result = cli("import", "--esp", "braze", str(source), "--db", db)
    assert result.exit_code == 0, result.output
    assert "1 a person's (mirrored), 1 a machine's (held for review" in result.output
    held = json.loads(cli("reviews", "list", "--db", db, "--format", "json").stdout)
    assert [r["recipient"] for r in held] == ["p0@example.com"]
    with sqlite3.connect(db) as conn:
        reasons = json.loads(conn.execute(
            "SELECT reasons FROM verdicts WHERE event_id LIKE 'braze-%' AND event_id IN "
            "(SELECT id FROM events WHERE type = 'unsubscribe' AND recipient = ?)",
            ("p0@example.com",)).fetchone()[0])
    assert "context.unsubscribe-after-machine-click" in [r["rule"] for r in reasons]
    again = cli("import", "--esp", "braze", str(source), "--db", db)
    assert "held for review" not in again.output                 # considered once
