"""The archive (docs/archive.md): old messages move out of the store into Parquet files
partitioned by campaign and month; the reports keep their counts (through late events,
recounts and rebuilds), a crash at any step loses and doubles nothing, erasure reaches the
files; on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from click.testing import CliRunner

from clicksift import reports
from clicksift.archive import Archive, archive_before, escape_value, open_archive, recover
from clicksift.archive.files import STALE_SECONDS
from clicksift.archive.move import LOCATION_KEY, PENDING_KEY
from clicksift.classify import Engine
from clicksift.classify.rescore import rescore
from clicksift.cli import main
from clicksift.events import event_from_dict
from clicksift.protect import erasure
from clicksift.reports.model import to_json
from clicksift.reports.recounted import recount_into
from clicksift.reports.rollup import ROLLUP_VERSION, VERSION_KEY, recount_uncounted
from clicksift.server.retention import archive_old
from clicksift.settings import Settings
from clicksift.simulate import SimulationConfig, events_and_truth, simulate
from clicksift.storage import SqlStore, open_store


def _load(store: SqlStore, seed: int = 3, recipients: int = 60, campaigns: int = 2
          ) -> list[dict[str, Any]]:
    """A judged simulated send in STORE, its rollups counted; returns its events."""
    raw, _ = events_and_truth(simulate(SimulationConfig(recipients=recipients,
                                                        campaigns=campaigns, seed=seed)))
    events = [event_from_dict(item) for item in raw]
    with store.transaction():
        store.add_events(events)
    rescore(store, Engine(), sorted({e.message_id for e in events}))
    reports.refresh(store)
    return raw


def _recount(store: SqlStore) -> None:
    """Count every message again (after a test changed stored rows behind the rollups)."""
    with store.transaction():
        reports.mark_dirty(store, store.message_ids())
    reports.refresh(store)


def _counted(store: SqlStore) -> Any:
    """What archive_before calls to have the rollups count messages again."""
    return lambda ids: recount_uncounted(store, ids)


def _reports(store: SqlStore) -> dict[str, Any]:
    """Every campaign's report (without the moment it was made)."""
    reports.refresh(store)
    out = {}
    for summary in reports.overview(store).campaigns:
        document = to_json(reports.campaign_report(store, summary.id))
        document.pop("freshness", None)
        out[summary.id] = document
    return out


def _after(raw: list[dict[str, Any]]) -> float:
    from clicksift.events import parse_timestamp
    return max(parse_timestamp(e["timestamp"]) for e in raw) + 1


def _folder(store: SqlStore, tmp_path: Path) -> Archive:
    return Archive(tmp_path / "archive")


def test_archived_messages_leave_the_store_and_the_reports_keep_their_counts(
        store: SqlStore, tmp_path: Path) -> None:
    raw = _load(store)
    before = _reports(store)
    stored = {row.id: row for row in store.archive_rows(store.message_ids())}
    archive = _folder(store, tmp_path)

    run = archive_before(store, archive, _after(raw), _counted(store))

    assert run.events == len(stored) and run.messages == len({e["message_id"] for e in raw})
    assert store.event_counts() == {}                          # the store is empty
    assert store.verdict_rows(list(stored)) == {}
    assert _reports(store) == before                            # counts unchanged
    kept = {row.id: row for row in archive.read()}
    assert kept == stored                                       # every column, every row
    campaigns = {row.campaign_id for row in stored.values()}
    folders = {p.parent.relative_to(archive.root).as_posix() for p in archive.files()}
    assert {f.split("/")[0] for f in folders} == {f"campaign={escape_value(c)}"
                                                  for c in campaigns}
    assert all(f.split("/")[1].startswith("month=20") for f in folders)
    assert store.get_meta(LOCATION_KEY) == str(archive.root.absolute())
    assert store.archive_totals() == (run.messages, run.events)
    # Nothing is left to move: a second run moves nothing and writes no file.
    files = archive.files()
    assert archive_before(store, archive, _after(raw), _counted(store)).messages == 0
    assert archive.files() == files


def test_only_what_is_old_final_and_not_held_moves(store: SqlStore, tmp_path: Path) -> None:
    raw = _load(store, seed=4)
    ids = sorted({e["message_id"] for e in raw})
    judged = [e for e in raw if e["type"] in ("open", "click")]
    provisional, late, held, dirty = (judged[0]["message_id"], judged[-1]["message_id"],
                                      ids[1], ids[2])
    assert len({provisional, late, held, dirty}) == 4
    cutoff = _after(raw)
    with store.transaction():
        store.execute("UPDATE verdicts SET final = 0 WHERE event_id = ?", (judged[0]["id"],))
        store.execute("UPDATE events SET ts = ? WHERE id = ?", (cutoff + 5, judged[-1]["id"]))
        store.execute("INSERT INTO unsubscribe_reviews (event_id, recipient, message_id, "
                      "request, judgement, created_at, status) VALUES ('u1', 'x@example.com',"
                      " ?, '{}', '{}', 0, 'held')", (held,))
    _recount(store)
    before = _reports(store)
    with store.transaction():                  # a re-score is under way: its recount waits
        reports.mark_dirty(store, [dirty])

    archive_before(store, _folder(store, tmp_path), cutoff, _counted(store))

    left = set(store.message_ids())
    assert {provisional, late, held, dirty} <= left
    moved = set(store.archived_message_ids())
    assert moved and not moved & {provisional, late, held, dirty}
    assert _reports(store) == before
    # Near misses: with the verdict final, the event old, the review decided and the
    # recount done, each of them moves too.
    with store.transaction():
        store.execute("UPDATE verdicts SET final = 1")
        store.execute("UPDATE events SET ts = ? WHERE id = ?", (cutoff - 5, judged[-1]["id"]))
        store.execute("UPDATE unsubscribe_reviews SET status = 'applied'")
    _recount(store)
    before = _reports(store)
    archive_before(store, _folder(store, tmp_path), cutoff, _counted(store))
    assert not set(store.message_ids())
    assert _reports(store) == before


def test_events_not_counted_yet_are_counted_before_they_move(store: SqlStore,
                                                            tmp_path: Path) -> None:
    raw = _load(store, seed=14, campaigns=1)
    extra = [dict(e, id=e["id"] + "-again") for e in raw if e["type"] == "click"][:5]
    with store.transaction():                       # stored after the last refresh
        store.add_events([event_from_dict(e) for e in extra])
    with store.transaction():
        store.save_verdicts([Engine().provisional(event_from_dict(e)) for e in extra], "t")
        store.execute("UPDATE verdicts SET final = 1")
    with open_store(Settings(database=str(tmp_path / "whole.db"))) as whole:
        recount_into(whole, None, store)             # every event counted, nothing archived
        expected = _reports(whole)
    # Archived before any refresh counted the new events: the recount before the rows
    # leave the store counts them (without it, they would be lost to the reports).
    archive_before(store, _folder(store, tmp_path), _after(raw), _counted(store))
    assert store.event_counts() == {}
    assert _reports(store) == expected


def test_a_late_event_and_a_rebuild_count_the_archived_events_too(store: SqlStore,
                                                                   tmp_path: Path,
                                                                   database: str) -> None:
    raw = _load(store, seed=5)
    archive = _folder(store, tmp_path)
    archive_before(store, archive, _after(raw), _counted(store))
    # A person clicks a months-old message: the store holds only that click.
    click = next(e for e in raw if e["type"] == "click")
    late = dict(click, id="late-click", timestamp="2031-01-01T10:00:00Z")
    with store.transaction():
        store.add_events([event_from_dict(late)])
    rescore(store, Engine(), [late["message_id"]])
    after_late = _reports(store)
    # The same events in a store that never archived count the same.
    with open_store(Settings(database=str(tmp_path / "whole.db"))) as whole:
        events = [event_from_dict(e) for e in raw]
        with whole.transaction():
            whole.add_events(events)
            whole.restore_archived(list(archive.read()))   # the archived verdicts
            whole.add_events([event_from_dict(late)])
        rows = store.archive_rows([late["message_id"]])
        with whole.transaction():
            whole.restore_archived(rows)                 # the late click's verdict
        assert _reports(whole) == after_late
    # A rebuild of the rollups (their meaning changed) reads the archive back.
    with store.transaction():
        store.set_meta(VERSION_KEY, "old")
    assert reports.refresh(store).rebuilt
    assert store.get_meta(VERSION_KEY) == ROLLUP_VERSION
    assert _reports(store) == after_late
    # The late click moves later, beside its message's earlier events.
    archive_before(store, archive, time.time() * 10, _counted(store))
    assert store.event_counts() == {}
    assert _reports(store) == after_late
    assert store.archived_messages([late["message_id"]])[late["message_id"]].events == \
        sum(e["message_id"] == late["message_id"] for e in raw) + 1


def test_an_unreadable_archive_leaves_the_counts_alone(store: SqlStore, tmp_path: Path) -> None:
    raw = _load(store, seed=6, campaigns=1)
    archive = _folder(store, tmp_path)
    archive_before(store, archive, _after(raw), _counted(store))
    before = _reports(store)
    for path in archive.files():
        path.write_bytes(b"not parquet")
    with store.transaction():
        reports.mark_dirty(store, store.archived_message_ids())
    assert _reports(store) == before


def test_a_crash_before_the_store_forgets_leaves_the_rows_in_the_store(
        store: SqlStore, tmp_path: Path) -> None:
    raw = _load(store, seed=7, campaigns=1)
    archive = _folder(store, tmp_path)
    rows = store.archive_rows(store.message_ids())
    staged = archive.stage(rows, "20260101T000000-dead00")       # then the process dies
    assert staged and all(p.name.startswith(".") for p in staged)
    assert archive.files() == [] and list(archive.read()) == []   # nobody reads them
    assert archive.discard_stale() == 0                            # young: maybe running
    old = time.time() - STALE_SECONDS - 10
    for path in staged:
        os.utime(path, (old, old))
    assert archive.discard_stale() == len(staged)
    assert not list(archive.root.rglob(".*.parquet"))
    assert sum(store.event_counts().values()) == len(raw)


def test_a_crash_after_the_store_forgot_publishes_on_the_next_open(store: SqlStore,
                                                                    tmp_path: Path) -> None:
    raw = _load(store, seed=8, campaigns=1)
    archive = _folder(store, tmp_path)
    before = _reports(store)
    rows = store.archive_rows(store.message_ids())
    batch = "20260101T000000-beef00"
    archive.stage(rows, batch)
    with store.transaction():                     # what archive_before commits, then dies
        store.set_meta(LOCATION_KEY, str(archive.root.absolute()))
        store.forget_archived(rows, batch, {r.message_id: () for r in rows}, time.time())
        store.set_meta(PENDING_KEY, batch)
    assert archive.files() == []
    reopened = open_archive(store)                 # any reader recovers first
    assert reopened is not None and len(list(reopened.read())) == len(raw)
    assert store.get_meta(PENDING_KEY) is None
    recover(store, archive)                        # twice is harmless
    assert _reports(store) == before


def test_erasure_reaches_every_archive_file(store: SqlStore, tmp_path: Path) -> None:
    raw = _load(store, seed=9)
    clicked = {e["message_id"] for e in raw if e["type"] == "click"}
    person = next(e["recipient"] for e in raw
                  if e["type"] == "delivered" and e["message_id"] in clicked)
    other = next(e["recipient"] for e in raw if e.get("recipient") not in (None, person))
    archive = _folder(store, tmp_path)
    # Half the person's history is archived, half still in the store.
    archive_before(store, archive, _after(raw), _counted(store), limit=20)
    archive_before(store, archive, _after(raw), _counted(store))
    before = _reports(store)
    assert _archive_naming(archive, person) and _archive_naming(archive, other)
    others = _archive_naming(archive, other)

    removed = erasure.erase(store, [person.upper()])[person.lower()]

    assert removed[erasure.ARCHIVE_LABEL] > 0
    assert removed["archived message records"] >= 1
    assert _archive_naming(archive, person) == 0
    assert _archive_naming(archive, other) == others
    assert not [p for p in archive.root.rglob("*") if p.is_file()
                and person.lower().encode() in p.read_bytes().lower()]
    if store.dialect == "sqlite":
        tables = [row[0] for row in store.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()]
    else:
        tables = [row[0] for row in store.execute(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = current_schema()").fetchall()]
    assert {"events", "messages", "archived_messages", "subscriptions"} <= set(tables)
    for table in tables:                   # every table, every column
        rows = store.execute(f"SELECT * FROM {table}").fetchall()
        assert person.lower() not in json.dumps(rows, default=str).lower(), table
    if store.dialect == "sqlite":          # nor in the database's own files, freed pages too
        files = [Path(store.location + suffix) for suffix in ("", "-wal")]
        assert not [f for f in files if f.exists()
                    and person.lower().encode() in f.read_bytes().lower()]
    totals = _reports(store)
    assert {c: r["totals"] for c, r in totals.items()} == \
        {c: r["totals"] for c, r in before.items()}


def _archive_naming(archive: Archive, address: str) -> int:
    """Rows of the archive's files whose text (any column) holds ADDRESS."""
    hits = 0
    for path in archive.files():
        for row in pq.read_table(path).to_pylist():
            hits += address.lower() in json.dumps(row, default=str).lower()
    return hits


def test_the_recount_from_events_and_files_equals_the_kept_counts(store: SqlStore,
                                                                  tmp_path: Path) -> None:
    raw = _load(store, seed=10)
    archive = _folder(store, tmp_path)
    archive_before(store, archive, _after(raw), _counted(store), limit=30)   # some of it
    kept = _reports(store)
    with open_store(Settings(database=str(tmp_path / "scratch.db"))) as scratch:
        read = recount_into(scratch, archive, store)
        assert read == len(raw)
        assert _reports(scratch) == kept
    campaign = sorted(kept)[0]
    with open_store(Settings(database=str(tmp_path / "one.db"))) as scratch:
        recount_into(scratch, archive, store, campaign_id=campaign)
        assert _reports(scratch) == {campaign: kept[campaign]}


def test_keep_events_days_archives_what_is_older(store: SqlStore, tmp_path: Path,
                                                 database: str) -> None:
    raw = _load(store, seed=12, campaigns=1)
    folder = str(tmp_path / "kept")
    settings = Settings(database=database, keep_events_days=30, archive_dir=folder)
    from clicksift.events import parse_timestamp

    last: dict[str, float] = {}
    for e in raw:
        last[e["message_id"]] = max(last.get(e["message_id"], 0), parse_timestamp(e["timestamp"]))
    now = max(last.values()) + 30 * 86_400 - 3600     # the newest message is 30 days less 1h old
    old = {m for m, ts in last.items() if ts < now - 30 * 86_400}
    assert old and len(old) < len(last)
    run = archive_old(store, settings, now=now)
    assert run is not None and set(store.archived_message_ids()) == old
    run = archive_old(store, settings, now=now + 7200)
    assert run is not None and store.event_counts() == {}
    assert Archive(folder).files()
    assert archive_old(store, Settings(database=database), now=now) is None   # 0: keep all


def test_the_archive_command(tmp_path: Path) -> None:
    database = str(tmp_path / "cli.db")
    with open_store(Settings(database=database)) as store:
        raw = _load(store, seed=13, campaigns=1)
    env = {"CLICKSIFT_DATABASE": database, "COLUMNS": "80"}
    runner = CliRunner()
    cutoff = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(_after(raw)))
    dry = runner.invoke(main, ["archive", "--before", cutoff, "--dry-run"], env=env)
    assert dry.exit_code == 0, dry.output
    assert f"would move {len(raw):,} events" in " ".join(dry.output.split())
    report = runner.invoke(main, ["report", "--format", "json"], env=env)
    moved = runner.invoke(main, ["archive", "--before", cutoff], env=env)
    assert moved.exit_code == 0, moved.output
    text = " ".join(moved.output.split())
    assert f"moved {len(raw):,} events" in text and "the store keeps 0 events" in text
    assert str(tmp_path / "cli.archive") in text.replace(" ", "")   # the default folder
    assert all(len(line) <= 80 for line in moved.output.splitlines())
    status = runner.invoke(main, ["archive", "--format", "json"], env=env)
    assert json.loads(status.output)["events"] == len(raw)
    again = runner.invoke(main, ["report", "--format", "json"], env=env)
    recount = runner.invoke(main, ["report", "--archive", "--format", "json"], env=env)
    assert recount.exit_code == 0, recount.output
    assert _without_time(again.output) == _without_time(report.output) == \
        _without_time(recount.output)
    bad = runner.invoke(main, ["archive", "--before", "last tuesday"], env=env)
    assert bad.exit_code == 2 and "neither a date" in bad.output
    assert "Traceback" not in bad.output


def _without_time(text: str) -> Any:
    document = json.loads(text)
    document.pop("freshness", None)
    return document


def test_a_message_shows_its_archived_events(store: SqlStore, tmp_path: Path) -> None:
    raw = _load(store, seed=15, campaigns=1)
    message = next(e["message_id"] for e in raw if e["type"] == "click")
    shown = reports.message_events(store, message)
    archive_before(store, _folder(store, tmp_path), _after(raw), _counted(store))
    late = dict(next(e for e in raw if e["message_id"] == message and e["type"] == "click"),
                id="late", timestamp="2031-01-01T00:00:00Z")
    with store.transaction():
        store.add_events([event_from_dict(late)])
    after = reports.message_events(store, message)
    assert [r.id for r in after] == [r.id for r in shown] + ["late"]
    assert [(r.verdict, r.reasons, r.ip) for r in after[:-1]] == \
        [(r.verdict, r.reasons, r.ip) for r in shown]
    assert all(r.seq == 0 for r in after[:-1]) and after[-1].seq > 0
