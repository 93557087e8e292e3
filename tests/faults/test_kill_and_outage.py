"""Nothing acknowledged is lost: kill -9 under load, and a store that fails for a while."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import signal
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from clicksift.links import TrackingUrls, load_signer
from clicksift.settings import Settings
from clicksift.storage import open_store
from tests.support import running_server, start_server

pytestmark = pytest.mark.slow


def _click_url(db: str) -> str:
    store = open_store(Settings(database=db))
    urls = TrackingUrls("http://127.0.0.1", load_signer("", store))
    store.close()
    return urls.click("m-load", 0, "content", "https://x.example/", int(time.time()))


def _stored_user_agents(db: str) -> set[str]:
    with sqlite3.connect(db) as connection:
        return {json.loads(row[0])["user_agent"]
                for row in connection.execute("SELECT data FROM events")}


async def _load(url: str, seconds: float, concurrency: int,
                kill: tuple[int, Callable[[], object]] | None = None) -> set[str]:
    """Send clicks with unique user agents until SECONDS pass; return those answered 302.
    KILL (count, action): run the action once that many clicks have been answered."""
    answered: set[str] = set()
    counter = itertools.count()
    deadline = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=5) as client:
        async def worker() -> None:
            while time.monotonic() < deadline:
                agent = f"load-{next(counter)}"
                try:
                    response = await client.get(url, headers={"user-agent": agent})
                except httpx.HTTPError:
                    continue  # the server is gone: this request got no answer
                if response.status_code == 302:
                    answered.add(agent)
                    if kill is not None and len(answered) == kill[0]:
                        kill[1]()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return answered


def test_kill_9_under_load_loses_no_answered_click(tmp_path: Path) -> None:
    db = str(tmp_path / "load.db")
    server = start_server({"CLICKSIFT_DATABASE": db}, tmp_path)
    url = server.url(_click_url(db))
    loop = asyncio.new_event_loop()
    try:   # killed in full flight, once enough clicks were answered to prove something
        answered = loop.run_until_complete(_load(
            url, 8.0, 48, kill=(300, lambda: server.kill(signal.SIGKILL))))
    finally:
        loop.close()
    assert len(answered) >= 300, "the load was too small to prove anything"
    assert server.process.poll() is not None, "the server should have been killed"
    stored = _stored_user_agents(db)
    missing = answered - stored
    assert not missing, f"{len(missing)} answered clicks were not stored: {sorted(missing)[:5]}"
    print(f"answered {len(answered)} clicks before kill -9, stored {len(stored)}")


def test_store_failure_still_redirects_then_spooled_events_are_stored(tmp_path: Path) -> None:
    db = str(tmp_path / "hiccup.db")
    env = {"CLICKSIFT_DATABASE": db, "CLICKSIFT_STORE_TIMEOUT_MS": "200"}
    url = _click_url(db)
    blocker = sqlite3.connect(db, isolation_level=None)
    with running_server(env, tmp_path) as server:
        blocker.execute("BEGIN EXCLUSIVE")  # the store is unavailable for writing
        responses = [httpx.get(server.url(url), headers={"user-agent": f"during-{i}"})
                     for i in range(5)]
        assert [r.status_code for r in responses] == [302] * 5
        health = httpx.get(f"{server.base_url}/healthz").json()
        assert health["status"] == "degraded" and health["spooled"] == 5
        assert list(Path(db + ".spool").glob("spool-*"))
        blocker.execute("ROLLBACK")  # the store recovers
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if {f"during-{i}" for i in range(5)} <= _stored_user_agents(db):
                break
            time.sleep(0.2)
        assert {f"during-{i}" for i in range(5)} <= _stored_user_agents(db)
        assert httpx.get(f"{server.base_url}/healthz").json()["status"] == "ok"
    assert not list(Path(db + ".spool").glob("spool-*"))


def test_spool_left_by_a_killed_server_is_stored_by_the_next_one(tmp_path: Path) -> None:
    db = str(tmp_path / "restart.db")
    env = {"CLICKSIFT_DATABASE": db, "CLICKSIFT_STORE_TIMEOUT_MS": "200"}
    url = _click_url(db)
    blocker = sqlite3.connect(db, isolation_level=None)
    server = start_server(env, tmp_path)
    blocker.execute("BEGIN EXCLUSIVE")
    assert httpx.get(server.url(url), headers={"user-agent": "spooled"}).status_code == 302
    server.kill(signal.SIGKILL)
    blocker.execute("ROLLBACK")
    assert "spooled" not in _stored_user_agents(db)
    with running_server(env, tmp_path):
        deadline = time.monotonic() + 15
        while "spooled" not in _stored_user_agents(db) and time.monotonic() < deadline:
            time.sleep(0.2)
    assert "spooled" in _stored_user_agents(db)


@pytest.mark.postgres
def test_postgres_outage_still_redirects_and_catches_up(tmp_path: Path) -> None:
    from tests.support import PostgresCluster

    if not PostgresCluster.available():
        pytest.skip("PostgreSQL binaries are not installed")
    cluster = PostgresCluster()
    cluster.start()
    try:
        database = cluster.fresh_database("outage")
        env = {"CLICKSIFT_DATABASE": database, "CLICKSIFT_STORE_TIMEOUT_MS": "500",
               "CLICKSIFT_SPOOL_DIR": str(tmp_path / "spool")}
        store = open_store(Settings(database=database))
        url = TrackingUrls("http://127.0.0.1", load_signer("", store)).click(
            "m-pg", 0, "content", "https://x.example/", int(time.time()))
        store.close()
        with running_server(env, tmp_path) as server:
            assert httpx.get(server.url(url), headers={"user-agent": "before"}).status_code == 302
            cluster._run("pg_ctl", "-D", str(cluster.folder / "data"), "-m", "fast", "stop")
            during = httpx.get(server.url(url), headers={"user-agent": "during"}, timeout=30)
            assert during.status_code == 302
            cluster._run("pg_ctl", "-D", str(cluster.folder / "data"), "-l",
                         str(cluster.folder / "log"), "-w", "-o",
                         f"-c listen_addresses=127.0.0.1 -p {cluster.port} "
                         f"-c unix_socket_directories={cluster.folder}", "start")
            deadline = time.monotonic() + 20
            agents: set[str] = set()
            while time.monotonic() < deadline:
                store = open_store(Settings(database=database))
                agents = {s.raw["user_agent"] for s in store.iter_events()}
                store.close()
                if {"before", "during"} <= agents:
                    break
                time.sleep(0.3)
            assert {"before", "during"} <= agents
    finally:
        cluster.stop()
        os.environ.pop("PGPASSWORD", None)
