"""A full disk: the store and the spool share a small tmpfs that fills up. While the spool's
reserve lasts, every answered click is kept (spooled, then stored once there is room) and
health says `degraded`; without a reserve, clicks are lost and health says `failing` with
503 (docs/operations.md, "A full disk")."""

from __future__ import annotations

import contextlib
import errno
import re
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.faults.disks import small_disk
from tests.support import ServerProcess, delivered_message, running_server

KEYS = "k1:0123456789abcdef-k1"


@contextlib.contextmanager
def tracking_on_small_disk(tmp_path: Path, megabytes: int, reserve_mb: int
                           ) -> Iterator[tuple[ServerProcess, str, Path, Path]]:
    """A tracking server whose store and spool are on a MEGABYTES tmpfs, a message
    delivered, and the URL of one of its links."""
    with small_disk(tmp_path / "disk", megabytes) as disk:
        db = disk / "store.db"
        prepared = delivered_message(str(db), KEYS)
        link = re.findall(r'href="(https://t\.example\.net/c/[^"]+)"', prepared.html)[0]
        env = {"CLICKSIFT_DATABASE": str(db), "CLICKSIFT_SIGNING_KEYS": KEYS,
               "CLICKSIFT_SPOOL_RESERVE_MB": str(reserve_mb),
               "CLICKSIFT_STORE_TIMEOUT_MS": "200"}
        with running_server(env, tmp_path) as server:
            yield server, server.url(link), disk, db


def fill(disk: Path) -> Path:
    """Write a filler file until the disk has no room left."""
    filler = disk / "filler"
    chunk = b"\0" * 65536
    with open(filler, "wb", buffering=0) as handle:
        while True:
            try:
                handle.write(chunk)
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
                break
    return filler


def clicks(url: str, count: int, marker: str) -> int:
    """COUNT clicks on URL, each with its own user agent; how many were answered 302."""
    answered = 0
    with httpx.Client(timeout=30) as client:
        for number in range(count):
            response = client.get(url, headers={"user-agent": f"{marker}/{number}"})
            answered += response.status_code == 302
    return answered


def stored(db: Path, marker: str) -> int:
    with sqlite3.connect(db) as connection:
        return connection.execute("SELECT count(*) FROM events WHERE type = 'click' AND "
                                  "data LIKE ?", (f"%{marker}/%",)).fetchone()[0]


def health(base_url: str) -> tuple[int, dict]:
    answer = httpx.get(f"{base_url}/healthz", timeout=10)
    return answer.status_code, answer.json()


def until(check, seconds: float = 30.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.2)
    return False


@pytest.mark.slow
def test_a_full_disk_loses_no_answered_click_while_the_reserve_lasts(tmp_path: Path) -> None:
    with tracking_on_small_disk(tmp_path, 24, reserve_mb=2) as (server, url, disk, db):
        status, body = health(server.base_url)
        assert (status, body["status"]) == (200, "ok")
        assert body["spool_reserve_left"] == body["spool_reserve_bytes"] == 2 << 20
        filler = fill(disk)
        answered = clicks(url, 300, "fulldisk")
        status, body = health(server.base_url)
        assert answered == 300 and body["failures"] > 0, body
        assert (status, body["status"]) == (200, "degraded"), body
        assert body["lost"] == 0 and body["spool_reserve_left"] < 2 << 20
        filler.unlink()                                  # room again
        assert until(lambda: health(server.base_url)[1]["status"] == "ok"), \
            health(server.base_url)
        assert stored(db, "fulldisk") == answered         # every answered click kept
        assert health(server.base_url)[1]["spool_reserve_left"] == 2 << 20
        assert "written into the spool's reserve" in server.log()


@pytest.mark.slow
def test_without_a_reserve_a_full_disk_is_reported_failing(tmp_path: Path) -> None:
    with tracking_on_small_disk(tmp_path, 16, reserve_mb=0) as (server, url, disk, _db):
        filler = fill(disk)
        answered = clicks(url, 200, "noreserve")
        status, body = health(server.base_url)
        assert answered == 200          # people still reach their destination
        assert (status, body["status"]) == (503, "failing") and body["lost"] > 0, body
        filler.unlink()
        time.sleep(3)
        assert health(server.base_url)[1]["status"] == "failing"   # it stays said
        assert "they are lost" in server.log()
