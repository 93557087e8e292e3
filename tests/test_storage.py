"""The same storage tests on SQLite and on a real PostgreSQL server."""

from __future__ import annotations

import time

from clicksift.events import Link, event_from_dict
from clicksift.links import load_signer
from clicksift.settings import Settings
from clicksift.storage import SqlStore, open_store
from clicksift.storage.records import MessageRecord
from clicksift.storage.schema import LATEST


def ev(**fields: object):
    base = {"type": "open", "id": "e1", "message_id": "m1", "timestamp": 1_750_000_000}
    return event_from_dict({**base, **fields})


DELIVERED = dict(type="delivered", id="m1:delivered", campaign_id="june",
                 recipient="Ann@Example.COM",
                 links=[{"url": "https://x.example/", "kind": "content"}])


def test_migrations_are_applied_once(database: str, store: SqlStore) -> None:
    assert store.schema_version() == LATEST
    assert store.migrate() == []
    again = open_store(Settings(database=database))
    assert again.migrate() == [] and again.schema_version() == LATEST
    again.close()


def test_events_are_stored_once_and_raw(store: SqlStore) -> None:
    events = [ev(id="e1", extra={"kept": [1, 2]}), ev(id="e2", type="click", url="https://x/")]
    with store.transaction():
        assert store.add_events(events) == 2
    with store.transaction():
        assert store.add_events([ev(id="e1"), ev(id="e3")]) == 1
    stored = list(store.iter_events())
    assert [s.raw["id"] for s in stored] == ["e1", "e2", "e3"]
    assert stored[0].raw["extra"] == {"kept": [1, 2]}
    assert store.event_counts() == {"click": 1, "open": 2}


def test_delivered_event_records_the_message_and_fills_earlier_events(store: SqlStore) -> None:
    with store.transaction():
        store.add_events([ev(id="early")])  # arrives before its delivered event
    with store.transaction():
        store.add_events([ev(**DELIVERED), ev(id="late")])
    message = store.get_message("m1")
    assert message == MessageRecord("m1", "june", "Ann@Example.COM", 1_750_000_000.0,
                                    (Link("https://x.example/", "content"),), None)
    assert message.recipient_domain == "example.com"
    by_id = {s.raw["id"]: s for s in store.iter_events()}
    assert by_id["early"].campaign_id == "june" and by_id["late"].campaign_id == "june"
    assert by_id["early"].recipient == "Ann@Example.COM"
    assert "campaign_id" not in by_id["early"].raw  # raw stays as it arrived


def test_filters_and_paging(store: SqlStore) -> None:
    with store.transaction():
        store.add_events([ev(**DELIVERED)])
        store.add_events([ev(id=f"o{i}", timestamp=1_750_000_000 + i) for i in range(25)])
        store.add_events([ev(id="c1", type="click", url="https://x/", timestamp=1_750_000_010)])
    assert len(list(store.iter_events(page_size=7))) == 27
    assert [s.raw["id"] for s in store.iter_events(types=["click"])] == ["c1"]
    window = list(store.iter_events(types=["open"], since=1_750_000_005, until=1_750_000_008))
    assert [s.raw["id"] for s in window] == ["o5", "o6", "o7"]
    assert len(list(store.iter_events(campaign_id="june"))) == 27
    assert list(store.iter_events(campaign_id="other")) == []


def test_failed_transaction_leaves_nothing(store: SqlStore) -> None:
    try:
        with store.transaction():
            store.add_events([ev(id="x1")])
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert list(store.iter_events()) == []


def test_signing_key_is_made_once_and_shared(database: str, store: SqlStore) -> None:
    first = load_signer("", store)
    other = open_store(Settings(database=database))
    assert load_signer("", other).key_ids == first.key_ids
    other.close()
    configured = load_signer("mine:0123456789abcdef0123", store)
    assert configured.key_ids == ["mine"]


def _one_source_on_six_messages() -> list:
    """Six recipients' messages, each clicked once a minute after delivery by one address
    of a company's range with a current browser: provisional verdicts see one message at
    a time; judged together, the source's reach shows."""
    chrome = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like "
              "Gecko) Chrome/143.0.0.0 Safari/537.36")
    events = []
    for n in range(6):
        at = 1_767_225_600 + n * 20
        events += [event_from_dict({
            "type": "delivered", "id": f"d{n}", "message_id": f"m{n}", "campaign_id": "c",
            "recipient": f"p{n}@co{n % 3}.example", "timestamp": at,
            "links": [{"url": "https://shop.example/a", "kind": "content"}]}),
            event_from_dict({
                "type": "click", "id": f"k{n}", "message_id": f"m{n}", "timestamp": at + 60,
                "url": "https://shop.example/a", "link_index": 0, "ip": "68.232.130.9",
                "user_agent": chrome, "method": "GET",
                "headers": {"accept": "text/html", "accept-language": "en"}})]
    return events


def test_settling_makes_due_provisional_verdicts_final_with_shared_context(
        store: SqlStore) -> None:
    from clicksift.classify import Engine
    from clicksift.server.settle import settle_due

    engine = Engine()
    events = _one_source_on_six_messages()
    with store.transaction():
        store.add_events(events)
        store.save_verdicts([engine.provisional(e) for e in events if e.type == "click"],
                            engine.version)
    clicks = [e.id for e in events if e.type == "click"]
    before = store.verdict_rows(clicks)
    assert not any(v["final"] for v in before.values())
    assert not any(r["rule"] == "crossmsg.source-many-domains"
                   for v in before.values() for r in v["reasons"])
    # not due yet: settled 60 s after their verdicts were computed
    assert settle_due(store, engine, 60.0) == 0
    assert settle_due(store, engine, 60.0, now=time.time() + 61) == 6
    after = store.verdict_rows(clicks)
    assert all(v["final"] for v in after.values())
    assert all(any(r["rule"] == "crossmsg.source-many-domains" for r in v["reasons"])
               for v in after.values())
    assert settle_due(store, engine, 60.0, now=time.time() + 61) == 0     # nothing left


def test_a_store_is_a_context_manager_that_closes(database: str) -> None:
    import pytest

    from clicksift.errors import StorageError

    with open_store(Settings(database=database)) as store:
        assert store.schema_version() == LATEST
    with pytest.raises(StorageError):
        store.schema_version()                 # closed on leaving the block


def _seq(store: SqlStore, event_id: str) -> int:
    return int(store.execute("SELECT seq FROM events WHERE id = ?", (event_id,)).fetchone()[0])


def test_a_deleted_highest_number_is_never_handed_out_again(store: SqlStore) -> None:
    with store.transaction():
        store.add_events([ev(id="e1"), ev(id="e2")])
    top = _seq(store, "e2")
    with store.transaction():
        store.remove_event("e2")                   # archived, erased, reparsed away
        store.add_events([ev(id="e3")])
    assert _seq(store, "e3") > top


def test_the_upgrade_to_autoincrement_keeps_numbers_counted_or_delivered(tmp_path) -> None:
    import sqlite3

    from clicksift.storage import schema
    from clicksift.storage.sqlite import SqliteStore

    path = str(tmp_path / "old.db")
    old = sqlite3.connect(path, isolation_level=None)
    old.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, "
                "applied_at REAL NOT NULL)")
    for version in range(1, 7):                    # a store as the version before made it
        for statement in schema.statements("sqlite", SqliteStore.dialect_words, version):
            old.execute(statement)
        old.execute("INSERT INTO schema_migrations VALUES (?, 0)", (version,))
    for n in range(1, 11):
        old.execute("INSERT INTO events (id, type, message_id, ts, received_at, data) "
                    "VALUES (?, 'open', 'm1', 0, 0, '{}')", (f"e{n}",))
    old.execute("DELETE FROM events WHERE seq > 5")         # erased before the upgrade
    old.execute("INSERT INTO meta VALUES ('rollup.seq', '8')")
    old.execute("INSERT INTO hooks VALUES ('h', 'u', 's', '[]', 0, 0, 10, 1)")
    old.close()
    with open_store(Settings(database=path)) as store:
        assert store.schema_version() == LATEST
        assert [row[0] for row in store.execute("SELECT id FROM events ORDER BY seq")
                .fetchall()] == [f"e{n}" for n in range(1, 6)]   # kept, numbers and all
        assert _seq(store, "e5") == 5
        with store.transaction():
            store.add_events([ev(id="new")])
        assert _seq(store, "new") == 11           # past the hook's cursor (10), rollups (8)
