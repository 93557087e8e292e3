"""A stalled disk: the store's filesystem is frozen (fsfreeze on a loop-mounted ext4) for
a few seconds while clicks arrive. Commits wait in the writer thread; the health check and
the OpenAPI document keep answering at once, and every click waiting for the disk is
answered and stored once it thaws (docs/operations.md, "A stalled disk"). With
`commit_on_loop`, the same freeze stalls the health check: the near miss."""

from __future__ import annotations

import re
import sqlite3
import statistics
import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.faults.disks import loop_disk, tool
from tests.support import delivered_message, running_server

KEYS = "k1:0123456789abcdef-k1"
FREEZE = 4.0


def _freeze_while_clicking(tmp_path: Path, commit_on_loop: bool
                           ) -> tuple[list[float], list[int], int]:
    """Health-check latencies during a FREEZE-second freeze, the clicks' statuses, and how
    many of those clicks the store holds afterwards."""
    with loop_disk(tmp_path) as disk:
        db = disk / "store.db"
        prepared = delivered_message(str(db), KEYS)
        link = re.findall(r'href="(https://t\.example\.net/c/[^"]+)"', prepared.html)[0]
        env = {"CLICKSIFT_DATABASE": str(db), "CLICKSIFT_SIGNING_KEYS": KEYS,
               "CLICKSIFT_COMMIT_ON_LOOP": "true" if commit_on_loop else "false",
               "CLICKSIFT_STORE_TIMEOUT_MS": "30000", "CLICKSIFT_SPOOL_DIR":
               str(tmp_path / "spool")}
        with running_server(env, tmp_path) as server:
            url = server.url(link)
            assert httpx.get(url, headers={"user-agent": "warm-up"}).status_code == 302
            statuses: list[int] = []

            def click(number: int) -> None:
                answer = httpx.get(url, headers={"user-agent": f"frozen/{number}"},
                                   timeout=60)
                statuses.append(answer.status_code)

            fsfreeze = tool("fsfreeze")
            subprocess.run([fsfreeze, "-f", str(disk)], check=True)
            thaw = threading.Timer(FREEZE, subprocess.run, args=([fsfreeze, "-u", str(disk)],))
            thaw.start()               # on its own clock: a stalled server cannot delay it
            clickers = [threading.Thread(target=click, args=(n,)) for n in range(20)]
            waits: list[float] = []
            for clicker in clickers:
                clicker.start()
            deadline = time.monotonic() + FREEZE - 0.5
            with httpx.Client(timeout=30) as client:
                while time.monotonic() < deadline:
                    for path in ("/healthz", "/api/v1/openapi.json"):
                        started = time.monotonic()
                        client.get(server.base_url + path)
                        waits.append(time.monotonic() - started)
                    time.sleep(0.05)
            thaw.join()
            for clicker in clickers:
                clicker.join(60)
        with sqlite3.connect(db) as connection:
            kept = connection.execute("SELECT count(*) FROM events WHERE data LIKE "
                                      "'%frozen/%'").fetchone()[0]
    return waits, statuses, kept


@pytest.mark.slow
def test_a_stalled_disk_stalls_only_the_requests_that_need_it(tmp_path: Path) -> None:
    waits, statuses, kept = _freeze_while_clicking(tmp_path, commit_on_loop=False)
    assert len(waits) > 20
    assert max(waits) < 0.5 and statistics.median(waits) < 0.1, sorted(waits)[-5:]
    assert statuses == [302] * 20 and kept == 20


@pytest.mark.slow
def test_committing_on_the_loop_lets_a_stalled_disk_stall_the_health_check(
        tmp_path: Path) -> None:
    waits, statuses, kept = _freeze_while_clicking(tmp_path, commit_on_loop=True)
    assert max(waits) > 1.5, sorted(waits)[-5:]          # the trade-off the setting names
    assert statuses == [302] * 20 and kept == 20
