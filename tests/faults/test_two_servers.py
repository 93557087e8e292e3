"""Two tracking servers on one PostgreSQL: one of them is killed with kill -9 in full flight.

Every answered request is stored once, the background work (rollups, settling) moves to the
survivor within seconds, and the rollups count what one count of everything gives."""

from __future__ import annotations

import asyncio
import itertools
import os
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from clicksift import reports
from clicksift.links import TrackingUrls, load_signer
from clicksift.settings import Settings
from clicksift.storage import open_store
from clicksift.storage.lease import lease_holder
from tests.support import ServerProcess, delivered_message, start_server

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

KEYS = "k1:two-servers-share-this-signing-secret"
MESSAGES = 30


def _database(cluster: Any) -> str:
    from tests.conftest import _database_url
    return _database_url(cluster, "two_servers")


def _holder(database: str) -> str | None:
    store = open_store(Settings(database=database), migrate=False)
    try:
        return lease_holder(store)
    finally:
        store.close()


def _server_of(holder: str | None, servers: list[ServerProcess]) -> ServerProcess | None:
    """The server whose process group the lease holder (a housekeeper) belongs to."""
    if holder is None:
        return None
    pid = int(holder.rsplit(":", 1)[1])
    try:
        group = os.getpgid(pid)
    except ProcessLookupError:
        return None
    return next((s for s in servers if s.process.pid == group), None)


def _wait(condition: Callable[[], Any], seconds: float, what: str) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(f"not within {seconds:.0f} s: {what}")


async def _load(urls: list[str], seconds: float, kill: tuple[int, Callable[[], object]]
                ) -> set[str]:
    """Requests with unique user agents, spread over URLS (both servers, clicks and opens),
    until SECONDS pass; the user agents answered 302 or 200. KILL (count, action) runs once
    that many were answered."""
    answered: set[str] = set()
    counter = itertools.count()
    deadline = time.monotonic() + seconds
    async with httpx.AsyncClient(timeout=5) as client:
        async def worker() -> None:
            while time.monotonic() < deadline:
                n = next(counter)
                agent = f"Mozilla/5.0 (X11; Linux x86_64) load/{n}"
                try:
                    response = await client.get(urls[n % len(urls)],
                                                headers={"user-agent": agent})
                except httpx.HTTPError:
                    await asyncio.sleep(0.01)
                    continue   # a killed server: no answer, nothing promised
                if response.status_code in (200, 302):
                    answered.add(agent)
                    if len(answered) == kill[0]:
                        kill[1]()
        await asyncio.gather(*(worker() for _ in range(16)))
    return answered


def test_kill_9_of_one_of_two_servers(tmp_path: Path, postgres_cluster: Any) -> None:
    database = _database(postgres_cluster)
    prepared = [delivered_message(database, KEYS, recipient=f"p{n}@co{n % 3}.example")
                for n in range(MESSAGES)]
    store = open_store(Settings(database=database, signing_keys=KEYS))
    links = TrackingUrls("https://t.example.net", load_signer(KEYS, store))
    store.close()
    now = int(time.time())
    tracking = [links.click(p.message_id, 0, "content", "https://shop.example/", now)
                for p in prepared] + [links.open(p.message_id, now) for p in prepared]
    env = {"CLICKSIFT_DATABASE": database, "CLICKSIFT_SIGNING_KEYS": KEYS,
           "CLICKSIFT_BASE_URL": "https://t.example.net", "CLICKSIFT_SETTLE_AFTER_SECONDS": "1",
           "CLICKSIFT_REPORT_REFRESH_SECONDS": "1", "CLICKSIFT_LOG_LEVEL": "info"}
    servers = [start_server({**env, "CLICKSIFT_SPOOL_DIR": str(tmp_path / f"spool-{n}")},
                            tmp_path) for n in range(2)]
    try:
        holder = _wait(lambda: _server_of(_holder(database), servers), 15,
                       "one server's housekeeper holds the background lease")
        survivor = next(s for s in servers if s is not holder)
        urls = [s.url(u) for u in tracking for s in servers]
        killed: list[float] = []

        def kill_holder() -> None:
            holder.kill()
            killed.append(time.monotonic())
            _wait(lambda: _server_of(_holder(database), servers) is survivor, 15,
                  "the survivor takes the background lease over")
            killed.append(time.monotonic())

        loop = asyncio.new_event_loop()
        try:
            answered = loop.run_until_complete(_load(urls, 6.0, (400, kill_holder)))
        finally:
            loop.close()
        assert len(answered) >= 400, "the load was too small to prove anything"
        assert holder.process.poll() is not None, "the lease holder should have been killed"
        assert _server_of(_holder(database), servers) is survivor
        print(f"answered {len(answered)}; the lease moved {killed[1] - killed[0]:.1f} s after "
              "the kill")

        store = open_store(Settings(database=database), migrate=False)
        try:
            agents = Counter(s.raw.get("user_agent") for s in store.iter_events()
                             if s.raw["type"] in ("click", "open"))
            missing = answered - set(agents)
            assert not missing, f"{len(missing)} answered requests were not stored"
            assert all(agents[a] == 1 for a in answered), "an answered request stored twice"
            engagement = [s.raw["id"] for s in store.iter_events()
                          if s.raw["type"] in ("click", "open")]

            def all_final() -> bool:   # the survivor settles the killed server's verdicts too
                rows = store.verdict_rows(engagement)
                return len(rows) == len(engagement) and all(r["final"] for r in rows.values())
            _wait(all_final, 30, "every stored click and open has a final verdict")

            def caught_up() -> Any:
                """The rollups' totals once they have counted everything, twice the same."""
                totals = []
                for _ in range(2):
                    behind = reports.rollup.events_behind(store)
                    dirty = store.execute("SELECT COUNT(*) FROM rollup_dirty").fetchone()[0]
                    if behind or dirty:
                        return None
                    totals.append(reports.campaign_report(store, "june").totals)
                    time.sleep(1.5)
                return totals[0] if totals[0] == totals[1] else None
            live = _wait(caught_up, 40, "the rollups count every stored click and open")
            assert live.clicks.raw + live.opens.raw == len(engagement)
            # The rollups the two servers kept equal one count of everything from scratch.
            from clicksift.reports.rollup import VERSION_KEY

            with store.transaction():   # an old rollup version: the next refresh recounts
                store.execute("UPDATE meta SET value = 'recount' WHERE key = ?",
                              (VERSION_KEY,))
            assert reports.refresh(store).rebuilt
            assert reports.campaign_report(store, "june").totals == live
        finally:
            store.close()
    finally:
        for server in servers:
            if server.process.poll() is None:
                server.kill()
