"""Connections handed over from a busy worker (web/handover.py), for the ESP webhooks: the
API's case is in test_api.py. In process, with the real receiver, store and engine."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
from starlette.applications import Starlette
from starlette.routing import Route

from clicksift.classify.engine import engine_from_settings
from clicksift.events import event_from_dict
from clicksift.ingest.samples import render
from clicksift.server.webhooks import WebhookReceiver
from clicksift.settings import Settings
from clicksift.storage import open_store
from clicksift.storage.pool import StorePool
from clicksift.web.handover import Handover
from tests.support import TwoBatchesAtOnce

T0 = 1_790_000_000.0


def _bodies(count: int) -> list[bytes]:
    out = []
    for batch in range(count):
        events = [event_from_dict({
            "type": "click", "id": f"b{batch}-{n}", "message_id": f"m{batch}-{n}",
            "timestamp": T0 + n, "recipient": f"r{n}@contoso.example",
            "url": "https://shop.example/", "ip": "198.51.100.7",
            "user_agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64)"}) for n in range(20)]
        out += render("sendgrid", events)
    return out


def _answers(tmp_path: Path, *, enabled: bool, bodies: int) -> list[httpx.Response]:
    tmp_path.mkdir()
    settings = Settings(database=str(tmp_path / "hooks.db"), allow_unsigned_webhooks=["sendgrid"])
    open_store(settings).close()
    pool = StorePool(settings)
    receiver = WebhookReceiver(settings, pool.store, Handover(enabled=enabled))
    engine = engine_from_settings(settings)
    receiver.start(TwoBatchesAtOnce(engine) if bodies > 1 else engine)
    app = Starlette(routes=[Route("/webhooks/{esp}", receiver.handle, methods=["POST"])])
    posted = _bodies(bodies)
    assert len(posted) == bodies

    async def post_all() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hooks.test") as client:
            return list(await asyncio.gather(*(
                client.post("/webhooks/sendgrid", content=body,
                            headers={"content-type": "application/json"})
                for body in posted)))
    try:
        return asyncio.run(post_all())
    finally:
        pool.close()


def test_a_busy_worker_of_several_hands_a_webhook_senders_connection_over(
        tmp_path: Path) -> None:
    """Two ESP bodies in one worker at once: the answer to the first it finishes closes
    its connection; a lone body, and a server of one worker, close nothing."""
    both = _answers(tmp_path / "two", enabled=True, bodies=2)
    assert [a.json()["accepted"] for a in both] == [20, 20]
    assert sorted(a.headers.get("connection", "") for a in both) == ["", "close"]
    assert all(a.headers["cache-control"] == "no-store" for a in both)

    alone = _answers(tmp_path / "alone", enabled=True, bodies=1)
    assert alone[0].status_code == 200 and "connection" not in alone[0].headers

    one_worker = _answers(tmp_path / "one", enabled=False, bodies=2)
    assert [a.status_code for a in one_worker] == [200, 200]
    assert not any("connection" in a.headers for a in one_worker)
