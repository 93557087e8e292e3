"""No ESP body shape makes a record lose its batch, or the server answer 500: every adapter
reads every poisoned record it can, keeps what it cannot as an ``unknown`` event with its
reason, and what it returns can always be stored (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clicksift.events import Event, dumps
from clicksift.ingest import ADAPTERS, PayloadError, get_adapter
from clicksift.settings import Settings
from clicksift.storage import SqlStore, open_store
from tests.poison import POISON, esp_of, fixture_paths, load, poisoned

FIXTURES = fixture_paths()
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                max_size=3),
    max_leaves=6)
SWAPS = st.lists(st.tuples(st.integers(0, 1 << 20), st.sampled_from(POISON) | JSON_VALUES),
                 min_size=1, max_size=3)


@pytest.fixture(scope="module")
def sqlite_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SqlStore]:
    store = open_store(Settings(database=str(tmp_path_factory.mktemp("poison") / "p.db")))
    yield store
    store.close()


def _readable_or_refused(esp: str, body: bytes) -> list[Event]:
    try:
        return get_adapter(esp).parse(body, {})
    except PayloadError as exc:
        refusal = str(exc)                    # a refusal says why
    assert refusal
    return []


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.stem)
@settings(max_examples=int(os.environ.get("POISON_EXAMPLES", "40")), deadline=None,
          derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(swaps=SWAPS)
def test_poisoned_records_are_read_kept_or_refused_never_an_error(
        path: Any, swaps: list[tuple[int, Any]], sqlite_store: SqlStore) -> None:
    document, encode, _ = load(path)
    events = _readable_or_refused(esp_of(path), encode(poisoned(document, swaps)))
    for event in events:
        dumps(event.raw)                      # writable again: no lone surrogate
        assert "\x00" not in "".join(str(v) for v in (event.message_id, event.recipient,
                                                      event.campaign_id, event.url))
    with sqlite_store.transaction():
        sqlite_store.add_events(events)


def test_every_adapter_is_fuzzed() -> None:
    assert {esp_of(p) for p in FIXTURES} == set(ADAPTERS)


# -- the poison the issue names, on both stores ------------------------------------------------

def _body(esp: str, swaps: dict[tuple[Any, ...], Any], fixture: int = 0) -> bytes:
    document, encode, _ = load(fixture_paths(esp)[fixture])
    for path, value in swaps.items():
        target = document
        for step in path[:-1]:
            target = target[step]
        target[path[-1]] = value
    return encode(document)


RECIPIENT = {"mailgun": ("event-data", "recipient"), "postmark": ("Recipient",),
             "brevo": ("email",)}


@pytest.mark.parametrize("esp", sorted(RECIPIENT))
@pytest.mark.parametrize("value", [12345, True, 1.5, {"a": 1}])
def test_a_recipient_that_is_not_text_is_left_out_with_a_note(esp: str, value: Any,
                                                              store: SqlStore) -> None:
    fixture = next(i for i, p in enumerate(fixture_paths(esp))
                   if "bounce" not in p.name and "soft" not in p.name)
    events = get_adapter(esp).parse(_body(esp, {RECIPIENT[esp]: value}, fixture), {})
    assert len(events) == 1 and events[0].type != "unknown"
    assert events[0].recipient is None
    assert any(note.startswith("recipient:") for note in events[0].raw["parse_notes"])
    with store.transaction():
        assert store.add_events(events) == 1


def test_a_lone_surrogate_or_nul_is_stored(store: SqlStore) -> None:
    agent = ("event-data", "client-info", "user-agent")
    body = _body("mailgun", {agent: "Mozilla\ud800", ("event-data", "url"): "https://x\x00/"})
    events = get_adapter("mailgun").parse(body, {})
    assert events[0].user_agent == "Mozilla\ufffd"
    assert events[0].url == "https://x/"
    with store.transaction():
        assert store.add_events(events) == 1


@pytest.mark.parametrize("address", ["000.000.000.000", "888.222.444.111", "", "unknown"])
def test_an_unreadable_address_is_left_out_with_a_note(address: str) -> None:
    body = _body("sendgrid", {(0, "ip"): address})
    events = get_adapter("sendgrid").parse(body, {})
    assert events[0].ip is None and events[0].type != "unknown"
    notes = events[0].raw.get("parse_notes", [])
    assert bool(notes) == (address != "")     # an empty field is no address, said nothing
    assert len(events) == len(json.loads(body))


def test_one_odd_record_keeps_the_batch(store: SqlStore) -> None:
    document, encode, _ = load(fixture_paths("sendgrid")[0])
    good = len(document)
    odd = [{"event": 5}, "not an object", {"event": "open", "timestamp": "yesterday"}]
    events = get_adapter("sendgrid").parse(encode(document + odd), {})
    assert len(events) == good + len(odd)
    unknown = [e for e in events if "parse_error" in e.raw]
    assert [e.raw["parse_error"]["record"] for e in unknown] == [good, good + 1, good + 2]
    assert all(e.type == "unknown" and e.raw["esp_payload"] in odd for e in unknown)
    assert unknown[0].raw["parse_notes"][0].startswith(f"record {good}: event:")
    # Stored once, even when the ESP posts the batch again.
    again = get_adapter("sendgrid").parse(encode(document + odd), {})
    with store.transaction():
        assert store.add_events(events) == len(events)
        assert store.add_events(again) == 0


def test_a_body_with_no_readable_record_is_refused() -> None:
    """The near miss: nothing of it is SendGrid's, so it is refused, naming the record."""
    with pytest.raises(PayloadError, match="record 0"):
        get_adapter("sendgrid").parse(b'[{"event": 5}, {"nothing": true}]', {})


def test_a_ses_notification_that_is_not_an_event_is_kept() -> None:
    document, _encode, _ = load(fixture_paths("amazon_ses")[0])
    body = json.dumps({**document, "Message": "Your mailbox is full"}).encode()
    events = get_adapter("amazon_ses").parse(body, {})
    assert [e.type for e in events] == ["unknown"]
    assert "not a JSON SES event" in events[0].raw["parse_notes"][0]


def test_the_webhook_fuzzer_finds_no_server_error() -> None:
    """scripts/fuzz_webhooks.py against a real server: no 5xx over 300 poisoned bodies."""
    import subprocess
    import sys

    from tests.support import ROOT

    run = subprocess.run([sys.executable, str(ROOT / "scripts" / "fuzz_webhooks.py"),
                          "--bodies", "300", "--seed", "7"], capture_output=True, text=True,
                         timeout=300, check=False)
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert run.returncode == 0, run.stderr
    assert result["bodies"] == 300 and result["server_errors"] == 0
    assert set(result["statuses"]) <= {"200", "400"}


def test_an_esp_id_with_nul_gives_an_id_the_store_holds(store: SqlStore) -> None:
    """Found by the property test (SparkPost's event_id '\\x00'): PostgreSQL holds no NUL."""
    events = get_adapter("sendgrid").parse(_body("sendgrid", {(0, "sg_event_id"): "a\x00"}),
                                           {})
    assert "\x00" not in events[0].id and events[0].id.startswith("sendgrid-")
    with store.transaction():
        assert store.add_events(events[:1]) == 1
