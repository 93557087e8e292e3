#!/usr/bin/env python3
"""How fast protection decides and delivers.

1. The preference center: a real server (SQLite) with N prepared messages, each already
   scanned by a gateway at delivery (every link fetched); latency of a form POST that is
   judged with its message's context and then applied or held, beside the reference
   measured in the same run: a click redirect on the same server.
2. Outbound webhooks: M settled clicks judged in context, queued and delivered to a local
   receiver by the dispatcher; events delivered per second, beside the reference: the same
   number of plain signed POSTs to the same receiver.

    python benchmarks/protect.py [--messages 200] [--events 2000]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import clicksift_server, emit, machine
from clicksift.classify import Engine
from clicksift.events import event_from_dict, format_timestamp
from clicksift.links import TrackingUrls, load_signer
from clicksift.prepare import Preparer
from clicksift.protect import outbound
from clicksift.settings import Settings
from clicksift.simulate import world
from clicksift.storage import open_store

BASE = "https://t.example.net"
HTML = ('<html><body><p><a href="https://shop.example.com/a">A</a> '
        '<a href="https://shop.example.com/b">B</a> <a href="https://shop.example.com/c">C'
        '</a> <a href="https://shop.example.com/d">D</a></p>'
        '<p><a href="https://shop.example.com/unsubscribe">Unsubscribe</a></p></body></html>')


def _percentiles(values: list[float]) -> dict[str, float]:
    values = sorted(values)
    return {"p50_ms": round(statistics.median(values) * 1000, 2),
            "p99_ms": round(values[max(0, int(len(values) * 0.99) - 1)] * 1000, 2)}


def preference_center(messages: int, folder: Path) -> dict[str, Any]:
    database = str(folder / "prefs.db")
    store = open_store(Settings(database=database))
    delivered = time.time() - 3600
    try:
        preparer = Preparer(TrackingUrls(BASE, load_signer("", store)))
        prepared = [preparer.prepare(HTML, recipient=f"p{n}@example.com", campaign_id="bench")
                    for n in range(messages)]
        with store.transaction():
            store.add_events([event_from_dict(dict(m.delivered_event(),
                                                   timestamp=format_timestamp(delivered)))
                              for m in prepared])
    finally:
        store.close()
    env = {"CLICKSIFT_DATABASE": database, "CLICKSIFT_BASE_URL": BASE,
           "CLICKSIFT_TRUSTED_PROXIES": "127.0.0.1/32", "CLICKSIFT_ACCEPT_SIMULATED_TIME": "true",
           "CLICKSIFT_HOOK_POLL_SECONDS": "0", "CLICKSIFT_REPORT_REFRESH_SECONDS": "0"}
    with clicksift_server(env) as local:
        scanner = {"user-agent": world.chrome_ua(delivered, 14),
                   "x-forwarded-for": "40.107.145.184",
                   **world.scanner_headers(random.Random(1), language=False,
                                           fetch_metadata=False)}
        person = world.chrome_ua(delivered)
        posts, clicks, outcomes = [], [], {"held": 0, "applied": 0}
        with httpx.Client(timeout=30) as client:
            for number, message in enumerate(prepared):
                links = [u.replace(BASE, local) for u in message.tracking_urls]
                for url in links[:4]:                       # the gateway's scan
                    started = time.perf_counter()
                    client.get(url, headers={**scanner, "x-clicksift-simulated-time":
                                             format_timestamp(delivered + 2)})
                    clicks.append(time.perf_counter() - started)
                unsubscribe = message.headers["List-Unsubscribe"].split(",")[0].strip("<> ")
                unsubscribe = unsubscribe.replace(BASE, local)
                by_scanner = number % 2 == 0
                headers = ({**scanner, "x-clicksift-simulated-time":
                            format_timestamp(delivered + 4)} if by_scanner else
                           {"user-agent": person, "x-forwarded-for": "79.210.54.236",
                            "x-clicksift-simulated-time": format_timestamp(delivered + 9000),
                            **world.browser_headers(random.Random(2), person,
                                                    user_activated=True)})
                started = time.perf_counter()
                response = client.post(unsubscribe, data={"action": "unsubscribe_all"},
                                       headers=headers)
                posts.append(time.perf_counter() - started)
                outcomes["held" if "One more step" in response.text else "applied"] += 1
    result = {"posts": len(posts), "outcomes": outcomes, "form_post": _percentiles(posts),
              "reference_click_redirect": _percentiles(clicks)}
    print(f"  {len(posts)} preference-center POSTs judged in context ({outcomes['held']} held, "
          f"{outcomes['applied']} applied): p50 {result['form_post']['p50_ms']} ms, p99 "
          f"{result['form_post']['p99_ms']} ms; reference click redirect p50 "
          f"{result['reference_click_redirect']['p50_ms']} ms")
    return result


class _Sink(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", 0)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def outbox(events: int, folder: Path) -> dict[str, Any]:
    sink = ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
    threading.Thread(target=sink.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{sink.server_address[1]}/hook"
    database = str(folder / "outbox.db")
    settings = replace(Settings(database=database), hook_settle_seconds=0.0)
    store = open_store(settings)
    rng = random.Random(5)
    try:
        rows = []
        for n in range(events // 2):
            at = 1_790_000_000 + n
            rows.append({"type": "delivered", "id": f"d{n}", "message_id": f"m{n}",
                         "campaign_id": "bench", "recipient": f"r{n}@example.com",
                         "timestamp": at})
            for k in range(2):
                agent = world.chrome_ua(at)
                rows.append({"type": "click", "id": f"c{n}-{k}", "message_id": f"m{n}",
                             "url": f"https://shop.example.com/{k}", "link_kind": "content",
                             "ip": "79.210.54.236", "user_agent": agent, "method": "GET",
                             "headers": world.browser_headers(rng, agent, user_activated=True),
                             "timestamp": at + 3600 + k * 90})
        with store.transaction():
            store.add_events([event_from_dict(r) for r in rows])
        outbound.create_hook(store, url, ["click"], from_now=False)
    finally:
        store.close()
    dispatcher = outbound.Dispatcher(settings, lambda: open_store(settings), Engine())
    started = time.perf_counter()
    queued = delivered = 0
    while True:
        result = dispatcher.run_once()
        queued += result.get("queued", 0)
        delivered += result.get("delivered", 0)
        if not result.get("queued") and not result.get("delivered"):
            break
    elapsed = time.perf_counter() - started
    body = b'{"id": "x", "type": "click"}'
    started = time.perf_counter()
    with httpx.Client(timeout=10) as client:
        for _ in range(delivered):
            client.post(url, content=body, headers={
                outbound.SIGNATURE_HEADER: outbound.sign("s", body, int(time.time()))})
    reference = time.perf_counter() - started
    sink.shutdown()
    result = {"events": events, "queued": queued, "delivered": delivered,
              "events_per_second": round(delivered / elapsed),
              "reference_plain_posts_per_second": round(delivered / reference)}
    print(f"  outbound: {delivered:,} people's clicks judged in context, queued and delivered "
          f"at {delivered / elapsed:,.0f}/s; reference plain signed POSTs "
          f"{delivered / reference:,.0f}/s")
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--events", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        print("preference center:")
        prefs = preference_center(args.messages, Path(folder))
        print("outbound webhooks:")
        hooks = outbox(args.events, Path(folder))
    emit({"benchmark": "protect", "machine": machine(), "preference_center": prefs,
          "outbound": hooks})
    return 0


if __name__ == "__main__":
    sys.exit(main())
