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
