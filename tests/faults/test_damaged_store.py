"""A damaged store and another writer's lock: one clear line, nothing half-written, and the
API says 503 (docs/operations.md, "A damaged store", "Another writer")."""

from __future__ import annotations

import fcntl
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from clicksift import access
from clicksift.settings import Settings
from clicksift.storage import open_store
from tests.support import running_server

CLI = [sys.executable, "-m", "clicksift"]


def _store_with_events(tmp_path: Path, recipients: int = 400) -> Path:
    events, db = tmp_path / "events.jsonl", tmp_path / "store.db"
    subprocess.run([*CLI, "simulate", "--recipients", str(recipients), "-o", str(events)],
                   check=True, capture_output=True)
    subprocess.run([*CLI, "load", str(events), "--db", str(db)], check=True,
                   capture_output=True)
    return db


#: The tables a report reads: its counts are kept as rollups (docs/architecture.md), so
#: damage elsewhere in the file does not reach it.
REPORT_TABLES = ("rollup_cells", "rollup_messages")


def _pages_of(db: Path, tables: tuple[str, ...]) -> list[int]:
    """The first leaf page of each of TABLES (0-based), from SQLite's own page map."""
    with sqlite3.connect(db) as reader:
        return [reader.execute("SELECT min(pageno) - 1 FROM dbstat WHERE name = ? AND "
                               "pagetype = 'leaf'", (table,)).fetchone()[0]
                for table in tables]


def _damage(db: Path, every: bool = False) -> None:
    """Overwrite three data pages in the middle of the file and one of each table a report
    reads, as a failing disk would (or EVERY page after the first, so that whatever is
    read next meets one)."""
    pages = os.path.getsize(db) // 4096
    chosen = range(1, pages) if every else \
        {pages // 3, pages // 2, pages * 3 // 4, *_pages_of(db, REPORT_TABLES)}
    with open(db, "r+b") as handle:
        for page in chosen:
            handle.seek(page * 4096)
            handle.write(b"\x5a" * 4096)


@pytest.fixture(scope="module")
def damaged(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = _store_with_events(tmp_path_factory.mktemp("damaged"))
    _damage(db)
    return db


@pytest.fixture(scope="module")
def ruined(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every page after the first overwritten: the store cannot even be opened."""
    db = _store_with_events(tmp_path_factory.mktemp("ruined"), recipients=50)
    _damage(db, every=True)
    return db


@pytest.mark.parametrize("which", ["damaged", "ruined"])
@pytest.mark.parametrize("command", [["events"], ["rescore"], ["report"]])
def test_commands_on_a_damaged_store_say_so_in_one_line(which: str, command: list[str],
                                                         request: pytest.FixtureRequest
                                                         ) -> None:
    damaged = request.getfixturevalue(which)
    done = subprocess.run([*CLI, *command, "--db", str(damaged)], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert "Traceback" not in done.stderr, done.stderr
    assert len(lines) <= 2 and f"the database {damaged} is damaged" in " ".join(lines), \
        done.stderr
    assert ".recover" in done.stderr


def test_a_failed_export_leaves_the_previous_file_as_it_was(damaged: Path,
                                                            tmp_path: Path) -> None:
    target = tmp_path / "out.jsonl"
    target.write_text("yesterday's export\n")
    done = subprocess.run([*CLI, "events", "--db", str(damaged), "-o", str(target)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode != 0 and "damaged" in done.stderr
    assert target.read_text() == "yesterday's export\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.jsonl"]


def test_the_api_answers_503_for_a_store_damaged_while_serving(tmp_path: Path) -> None:
    db = _store_with_events(tmp_path)
    store = open_store(Settings(database=str(db)))
    key = access.create_key(store, "tests").secret
    store.close()
    auth = {"authorization": f"Bearer {key}"}
    with running_server({"CLICKSIFT_DATABASE": str(db)}, tmp_path) as server:
        api = f"{server.base_url}/api/v1"
        campaign = httpx.get(f"{api}/campaigns", headers=auth).json()["campaigns"][0]["id"]
        _damage(db, every=True)
        answer = httpx.get(f"{api}/campaigns/{campaign}/events", headers=auth, timeout=30)
        assert answer.status_code == 503, answer.text[:300]
        assert answer.headers["retry-after"] and "damaged" in answer.text
        assert httpx.get(f"{server.base_url}/healthz").status_code in (200, 503)


def test_read_only_commands_do_not_wait_for_another_writer(tmp_path: Path) -> None:
    """Another process holds the write lock (clicksift's lock file and SQLite's): reading
    commands answer at once; a writing one says the store is busy, in one line."""
    db = _store_with_events(tmp_path, recipients=50)
    lock = os.open(f"{db}.lock", os.O_RDWR)
    fcntl.flock(lock, fcntl.LOCK_EX)
    writer = sqlite3.connect(db, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    try:
        for command in (["events"], ["report"], ["config"]):
            started = time.monotonic()
            done = subprocess.run([*CLI, *command, "--db", str(db)] if command != ["config"]
                                  else [*CLI, "config"], capture_output=True, text=True,
                                  timeout=60, cwd=tmp_path)
            assert done.returncode == 0, (command, done.stderr)
            assert time.monotonic() - started < 4.0, command
        busy = subprocess.run([*CLI, "load", str(tmp_path / "events.jsonl"), "--db", str(db)],
                              capture_output=True, text=True, timeout=60,
                              env={**os.environ, "CLICKSIFT_STORE_TIMEOUT_MS": "300"})
        assert busy.returncode != 0 and "busy" in busy.stderr
        assert "Traceback" not in busy.stderr
    finally:
        writer.execute("ROLLBACK")
        writer.close()
        os.close(lock)
