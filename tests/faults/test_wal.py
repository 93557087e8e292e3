"""The SQLite WAL stays bounded under writes that never pause: PASSIVE checkpoints alone
never find the moment to start it over (it grew to 500 MB in 12 s of benchmark load), so
the checkpointer catches up holding the write lock once it passes WAL_CUT_BYTES."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from clicksift.events import event_from_dict
from clicksift.storage import sqlite as sqlite_store
from clicksift.storage.sqlite import Checkpointer, SqliteStore


def _peak_wal_under_writes(db: Path, seconds: float) -> int:
    SqliteStore.open(str(db)).migrate()
    checkpointer = Checkpointer(str(db), interval=0.05)
    checkpointer.start()
    done, peak = threading.Event(), [0]

    def watch() -> None:
        while not done.wait(0.01):
            try:
                peak[0] = max(peak[0], Path(f"{db}-wal").stat().st_size)
            except OSError:
                pass

    watcher = threading.Thread(target=watch)
    watcher.start()
    store = SqliteStore.open(str(db), checkpoint=False)
    number = 0
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            batch = [event_from_dict({"type": "click", "id": f"e{number + n}",
                                      "message_id": f"m{(number + n) % 500}",
                                      "timestamp": 1_790_000_000.0 + number + n,
                                      "url": "https://shop.example/" + "x" * 400,
                                      "ip": "73.1.2.3", "user_agent": "test"})
                     for n in range(200)]
            number += len(batch)
            with store.transaction():
                store.add_events(batch)
    finally:
        store.close()
        done.set()
        watcher.join()
        checkpointer.stop()
    return peak[0]


@pytest.mark.slow
def test_the_wal_stays_bounded_under_writes_that_never_pause(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sqlite_store, "WAL_CUT_BYTES", 2 << 20)
    bounded = _peak_wal_under_writes(tmp_path / "cut.db", 4.0)
    monkeypatch.setattr(sqlite_store, "WAL_CUT_BYTES", 1 << 40)       # the near miss
    unbounded = _peak_wal_under_writes(tmp_path / "grown.db", 4.0)
    assert bounded < 32 << 20, bounded                 # cut at 2 MB: some tens at most
    assert unbounded > 4 * bounded, (bounded, unbounded)
