"""`clicksift erase`: a person out of everything stored, a hash kept suppressed, the
campaign counts unchanged; on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from clicksift import reports
from clicksift.classify import BatchClassifier, Engine
from clicksift.cli import main
from clicksift.events import event_from_dict
from clicksift.protect import erasure
from clicksift.protect import subscriptions as subs
from clicksift.simulate import SimulationConfig, events_and_truth, simulate
from clicksift.storage import SqlStore

TABLES = ("messages", "events", "verdicts", "subscriptions", "subscription_log",
          "unsubscribe_reviews", "suppressions", "outbox", "rollup_messages")


def _load(store: SqlStore) -> tuple[str, str, str]:
    raw, _ = events_and_truth(simulate(SimulationConfig(recipients=40, campaigns=1, seed=3)))
    events = [event_from_dict(item) for item in raw]
    verdicts = list(BatchClassifier(Engine()).classify(events))
    with store.transaction():
        store.add_events(events)
        store.save_verdicts(verdicts, "test")
    reports.refresh(store)
    clicked = {e.message_id for e in events if e.type == "click"}
    message = next(e for e in events if e.type == "delivered" and e.message_id in clicked)
    other = next(e for e in events if e.type == "delivered" and e.recipient != message.recipient)
    assert message.recipient and other.recipient and message.campaign_id
    return message.recipient, other.recipient, message.campaign_id


def _naming(store: SqlStore, address: str) -> dict[str, int]:
    """Rows of each table whose text mentions ADDRESS anywhere (any column)."""
    found = {}
    for table in TABLES:
        rows = store.execute(f"SELECT * FROM {table}").fetchall()
        hits = sum(address.lower() in " ".join(str(v).lower() for v in row) for row in rows)
        if hits:
            found[table] = hits
    return found


def test_erase_leaves_nothing_that_names_the_person(store: SqlStore) -> None:
    person, other, campaign = _load(store)
    with store.transaction():
        subs.apply(store, person, subs.Change(unsubscribe_all=True),
                   subs.Attempt("person", event_id="e-unsub"))
        subs.suppress(store, [other], "sunset", "test")
    before = reports.campaign_report(store, campaign).totals
    other_rows = _naming(store, other)
    assert _naming(store, person).keys() >= {"messages", "events", "subscriptions"}

    removed = erasure.erase(store, [person.upper()])[person.lower()]

    assert removed["events"] > 0 and removed["messages"] >= 1 and removed["verdicts"] > 0
    assert removed["subscription log entries"] >= 1
    assert _naming(store, person) == {}
    assert _naming(store, other) == other_rows              # nobody else touched
    state = subs.get_state(store, person)
    assert state.suppressed == "erased"                      # not mailed again
    assert erasure.erased_key(person) in {s.recipient for s in subs.suppression_list(store)}
    reports.refresh(store)
    after = reports.campaign_report(store, campaign).totals
    assert after.delivered == before.delivered and after.clicks == before.clicks
    # Erasing again finds nothing more and keeps the one hash.
    assert erasure.erase(store, [person])[person.lower()] == {}
    hashes = store.execute("SELECT COUNT(*) FROM suppressions WHERE recipient = ?",
                           (erasure.erased_key(person),)).fetchone()[0]
    assert hashes == 1


def test_a_person_who_subscribes_again_is_mailed_again(store: SqlStore) -> None:
    erasure.erase(store, ["ann@example.com"])
    assert subs.get_state(store, "Ann@Example.com").suppressed == "erased"
    with store.transaction():
        subs.apply(store, "ann@example.com", subs.Change(resubscribe=True),
                   subs.Attempt("person"))
    assert subs.get_state(store, "ann@example.com").suppressed is None


def test_erase_command(tmp_path: Path) -> None:
    env = {"CLICKSIFT_DATABASE": str(tmp_path / "store.db"), "COLUMNS": "80"}
    result = CliRunner().invoke(main, ["erase", "bob@example.com"], env=env)
    assert result.exit_code == 2 and "--yes" in result.output        # no terminal: confirm
    result = CliRunner().invoke(main, ["erase", "bob@example.com", "--yes"], env=env)
    assert result.exit_code == 0, result.output
    assert "bob@example.com: removed nothing stored; a hash stays suppressed" in \
        " ".join(result.output.split())
    result = CliRunner().invoke(main, ["erase", "not-an-address", "--yes"], env=env)
    assert result.exit_code == 2 and "is not an email address" in result.output


@pytest.mark.parametrize("address", ["", "@example.com", "plain"])
def test_bad_addresses_are_refused(address: str, store: Any) -> None:
    with pytest.raises(Exception, match="not an email address"):
        erasure.erase(store, [address])


@pytest.mark.parametrize("mode", ["truncate", "hash"])
def test_addresses_are_truncated_or_hashed_once_verdicts_are_final(store: SqlStore,
                                                                  mode: str) -> None:
    import ipaddress

    from clicksift.classify.rescore import rescore

    raw, _ = events_and_truth(simulate(SimulationConfig(recipients=30, campaigns=1, seed=5)))
    raw[5].setdefault("headers", {})["X-Forwarded-For"] = "198.51.100.7"
    events = [event_from_dict(item) for item in raw]
    with store.transaction():
        store.add_events(events)
    original = {e.id: e.ip for e in events if e.ip}
    engine = Engine()
    engine.ip_retention = mode
    messages = sorted({e.message_id for e in events})
    rescore(store, engine, messages)
    stored = {s.raw["id"]: s.raw for s in store.events_of_messages(messages)}
    assert original and all(stored[i].get("headers", {}).get("X-Forwarded-For") is None
                            for i in stored)
    hashes: dict[str, str] = {}
    for event_id, ip in original.items():
        now = stored[event_id]
        if mode == "truncate":
            address = ipaddress.ip_address(now["ip"])
            prefix = 24 if address.version == 4 else 48
            assert now["ip"] == str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False)
                                    .network_address)
        else:
            assert "ip" not in now and now["ip_hash"].startswith("hmac-sha256:")
            assert hashes.setdefault(ip, now["ip_hash"]) == now["ip_hash"]   # stable
            assert ip not in now["ip_hash"]
    if mode == "hash":
        assert len(set(hashes.values())) == len(hashes)
    # The events stay valid events: judging them again works, and nothing changes twice.
    verdicts = rescore(store, engine, messages)
    assert verdicts.stats.classified > 0
    assert store.redact_addresses(messages, mode) == 0


def test_keep_leaves_addresses_alone(store: SqlStore) -> None:
    raw, _ = events_and_truth(simulate(SimulationConfig(recipients=10, campaigns=1, seed=6)))
    events = [event_from_dict(item) for item in raw]
    with store.transaction():
        store.add_events(events)
    messages = sorted({e.message_id for e in events})
    assert store.redact_addresses(messages, "keep") == 0
    stored = {s.raw["id"]: s.raw.get("ip") for s in store.events_of_messages(messages)}
    assert stored == {e.id: e.ip for e in events if e.ip} | {
        e.id: None for e in events if not e.ip}


@pytest.mark.parametrize(("ip", "mode", "expected"), [
    ("203.0.113.77", "truncate", "203.0.113.0"),
    ("203.0.113.0", "truncate", "203.0.113.0"),            # already a /24: unchanged
    ("2001:db8:1234:5678::9", "truncate", "2001:db8:1234::"),
    ("not an address", "truncate", None),                  # nothing worth keeping
    ("203.0.113.77", "keep", "203.0.113.77"),
])
def test_one_address_under_each_mode(ip: str, mode: str, expected: str | None) -> None:
    from clicksift.events import redacted_address

    raw = {"ip": ip, "headers": {"X-Real-IP": ip, "User-Agent": "x"}}
    changed = redacted_address(raw, mode, b"key")
    assert raw.get("ip") == expected
    assert raw["headers"] == ({"User-Agent": "x"} if mode != "keep" else
                              {"X-Real-IP": ip, "User-Agent": "x"})
    assert changed == (mode != "keep")


@pytest.mark.parametrize("mode", ["hash", "truncate"])
def test_hashed_events_keep_their_verdicts_when_judged_again(store: SqlStore,
                                                             mode: str) -> None:
    from clicksift.classify.rescore import rescore

    raw, _ = events_and_truth(simulate(SimulationConfig(recipients=30, campaigns=1, seed=8)))
    for item in [e for e in raw if e["type"] == "click"][:3]:   # an ESP's, say: no address
        item.pop("ip", None)
        item.get("headers", {}).pop("X-Forwarded-For", None)
    events = [event_from_dict(item) for item in raw]
    with store.transaction():
        store.add_events(events)
    engine = Engine()
    engine.ip_retention = mode
    messages = sorted({e.message_id for e in events})
    rescore(store, engine, messages)               # final, then the addresses redacted
    with store.transaction():
        store.execute("UPDATE verdicts SET engine_version = 'made with the address'")
    rescore(store, engine, messages)               # a knowledge update, a late event
    versions = {row[0]: row[1] for row in store.execute(
        "SELECT event_id, engine_version FROM verdicts").fetchall()}
    with_address = {e.id for e in events if e.ip}
    assert with_address and versions.keys() > with_address
    kept = {i for i, v in versions.items() if v == "made with the address"}
    # hash: every event that had an address keeps its verdict; the others (no address to
    # lose) are judged again. truncate keeps a network to judge by: all are judged again.
    assert kept == (with_address if mode == "hash" else set())
