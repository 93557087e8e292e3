"""How fast a campaign report renders from the rollups, on SQLite.

Builds a store with one campaign of N delivered messages (default 1,000,000, about 5
million events: gateway scans of every link, Apple MPP opens, people's opens and clicks,
each with a verdict), counts it into the rollups once (timed: the first computation), then
times, warm:

- ``campaign_report()`` in the process (the computation the CLI, API and dashboard share);
- ``GET /api/v1/campaigns/ID`` and ``GET /dashboard/campaigns/ID`` on a real server;
- keeping in step: 10,000 new events plus a re-score of 10,000 messages, then a refresh;

and, as the reference measured in the same run, the same totals counted straight from the
events table (what a report without rollups must scan).

    python benchmarks/report.py [--messages N] [--keep DB]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import clicksift_server, emit, machine
from clicksift import access, reports
from clicksift.settings import Settings
from clicksift.storage import open_store

CAMPAIGN = "big-sale"
START = 1_790_000_000.0
GATEWAYS = ["microsoft_defender", "proofpoint", "mimecast", "barracuda"]
LINKS = 8
ENGINE = "bench-engine"


def _domains(rng: random.Random) -> list[str]:
    big = ["gmail.com", "outlook.com", "yahoo.com", "icloud.com", "gmx.net"]
    return big + [f"company{n}.example" for n in range(5000)]


def _message_events(rng: random.Random, number: int, domains: list[str]
                    ) -> Iterator[tuple[Any, ...]]:
    """(event row, verdict row or None) for one message."""
    message = f"m{number:09d}"
    domain = domains[min(int(rng.paretovariate(1.1)) - 1, len(domains) - 1)] \
        if rng.random() < 0.5 else rng.choice(domains)
    recipient = f"p{number}@{domain}"
    sent = START + number / 200
    yield ("delivered", message, recipient, sent, None, None, None)
    if domain.startswith("company") and rng.random() < 0.8:
        vendor = GATEWAYS[int(domain[7:].split(".")[0]) % len(GATEWAYS)]
        at = sent + rng.uniform(3, 90)
        for link in range(LINKS + 1):
            kind = "honeypot" if link == LINKS else "content"
            yield ("click", message, recipient, at + link * 0.3, link, kind,
                   ("nhi", 0.99, "security_scanner", vendor))
    if domain == "icloud.com" or rng.random() < 0.15:
        yield ("open", message, recipient, sent + rng.uniform(60, 3600), None, None,
               ("nhi", 0.95, "privacy_prefetch", "apple_mpp"))
    if rng.random() < 0.22:
        at = sent + rng.lognormvariate(9, 1.5)
        yield ("open", message, recipient, at, None, None, ("human", 0.1, None, None))
        if rng.random() < 0.15:
            yield ("click", message, recipient, at + 20, rng.randrange(LINKS), "content",
                   ("human", 0.05, None, None))


def build(path: str, messages: int) -> int:
    """Write the campaign straight into a fresh store; return the number of events."""
    store = open_store(Settings(database=path))
    rng = random.Random(5)
    domains = _domains(rng)
    data = ('{"ip":"203.0.113.9","user_agent":"Mozilla/5.0 (Windows NT 10.0; Win64; x64) '
            'AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",'
            '"method":"GET","prepared_at":"2026-09-21T12:00:00Z","source":"tracker"}')
    reasons = '[{"rule":"ua.known-scanner","weight":4.0,"detail":"benchmark"}]'
    count = seq = 0
    events: list[tuple[Any, ...]] = []
    verdicts: list[tuple[Any, ...]] = []
    message_rows: list[tuple[Any, ...]] = []

    def flush() -> None:
        with store.transaction():
            store.connection.executemany(
                "INSERT INTO events (id, type, message_id, campaign_id, recipient, ts, "
                "received_at, link_index, link_kind, source, data) VALUES "
                "(?, ?, ?, ?, ?, ?, ?, ?, ?, 'tracker', ?)", events)
            store.connection.executemany(
                "INSERT INTO verdicts (event_id, verdict, score, kind, vendor, reasons, "
                "engine_version, final, computed_at) VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?)",
                verdicts)
            store.connection.executemany(
                "INSERT INTO messages (id, campaign_id, recipient, recipient_domain, sent_at)"
                " VALUES (?, ?, ?, ?, ?)", message_rows)
        events.clear()
        verdicts.clear()
        message_rows.clear()

    with store.transaction():
        store.execute("INSERT INTO campaigns (id, name, created_at) VALUES (?, ?, ?)",
                      (CAMPAIGN, "Big sale", START))
    for number in range(messages):
        for type_, message, recipient, ts, link, kind, verdict in _message_events(
                rng, number, domains):
            seq += 1
            event_id = f"e{seq:010d}"
            events.append((event_id, type_, message, CAMPAIGN, recipient, ts, ts, link, kind,
                           data))
            if type_ == "delivered":
                message_rows.append((message, CAMPAIGN, recipient,
                                     recipient.split("@")[1], ts))
            if verdict is not None:
                verdicts.append((event_id, *verdict, reasons, ENGINE, ts))
        if len(events) >= 200_000:
            count += len(events)
            flush()
            print(f"\r  built {number + 1:,} messages, {count:,} events", end="", flush=True)
    count += len(events)
    flush()
    print(f"\r  built {messages:,} messages, {count:,} events")
    store.close()
    return count


def _timed(func: Any, repeat: int = 7) -> dict[str, float]:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        func()
        times.append(time.perf_counter() - started)
    return {"median_s": round(statistics.median(times), 4), "max_s": round(max(times), 4)}


def _direct_totals(path: str) -> None:
    """The reference: totals straight from events and verdicts, no rollups."""
    store = open_store(Settings(database=path))
    try:
        store.execute(
            "SELECT e.type, v.verdict, COUNT(*), COUNT(DISTINCT e.message_id) FROM events e "
            "LEFT JOIN verdicts v ON v.event_id = e.id WHERE e.campaign_id = ? "
            "GROUP BY e.type, v.verdict", (CAMPAIGN,)).fetchall()
    finally:
        store.close()


def _keep_in_step(path: str, messages: int) -> dict[str, float]:
    """10,000 new events (people's opens) and a re-score of 10,000 messages, then refresh."""
    store = open_store(Settings(database=path))
    try:
        rng = random.Random(9)
        chosen = [f"m{rng.randrange(messages):09d}" for _ in range(10_000)]
        with store.transaction():
            store.connection.executemany(
                "INSERT INTO events (id, type, message_id, campaign_id, recipient, ts, "
                "received_at, link_index, link_kind, source, data) VALUES "
                "(?, 'open', ?, ?, NULL, ?, ?, NULL, NULL, 'tracker', '{}')",
                [(f"new{n}", m, CAMPAIGN, START + 86400, START + 86400)
                 for n, m in enumerate(chosen)])
            store.connection.executemany(
                "UPDATE verdicts SET verdict = 'human', kind = NULL, vendor = NULL "
                "WHERE event_id IN (SELECT id FROM events WHERE message_id = ? AND "
                "type = 'open')", [(m,) for m in chosen])
            reports.mark_dirty(store, set(chosen))
        started = time.perf_counter()
        stats = reports.refresh(store)
        return {"refresh_s": round(time.perf_counter() - started, 3),
                "messages_recounted": stats.messages}
    finally:
        store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--keep", metavar="DB", help="Keep the store at this path.")
    args = parser.parse_args()
    folder = tempfile.mkdtemp(prefix="clicksift-report-")
    path = args.keep or str(Path(folder) / "report.db")
    print(f"building a campaign of {args.messages:,} delivered messages in {path}")
    started = time.perf_counter()
    events = build(path, args.messages)
    build_s = time.perf_counter() - started

    store = open_store(Settings(database=path))
    started = time.perf_counter()
    last = [0.0]

    def progress(done: int, high: int) -> None:
        if time.perf_counter() - last[0] > 2:
            last[0] = time.perf_counter()
            print(f"\r  counting into rollups: {done:,}/{high:,} events", end="", flush=True)

    stats = reports.refresh(store, progress=progress)
    first_s = time.perf_counter() - started
    print(f"\r  first computation: {stats.messages:,} messages in {first_s:.1f} s"
          + " " * 20)
    report = reports.campaign_report(store, CAMPAIGN)
    assert report.totals.delivered == args.messages
    warm = _timed(lambda: reports.campaign_report(store, CAMPAIGN))
    domains = _timed(lambda: reports.domain_report(store, CAMPAIGN))
    overview = _timed(lambda: reports.overview(store))
    key = access.create_key(store, "bench").secret
    access.set_password(store, "bench", "bench-password-1")
    store.close()
    reference = _timed(lambda: _direct_totals(path), repeat=3)
    with clicksift_server({"CLICKSIFT_DATABASE": path,
                           "CLICKSIFT_REPORT_REFRESH_SECONDS": "0"}) as base:
        headers = {"authorization": f"Bearer {key}"}
        api = _timed(lambda: httpx.get(f"{base}/api/v1/campaigns/{CAMPAIGN}", headers=headers,
                                       timeout=60).raise_for_status())
        with httpx.Client(base_url=base, timeout=60) as client:
            page = client.get("/dashboard/login").text
            token = page.split('name="csrf_token" value="')[1].split('"')[0]
            client.post("/dashboard/login", data={"name": "bench",
                                                  "password": "bench-password-1",
                                                  "csrf_token": token})
            dashboard = _timed(lambda: client.get(
                f"/dashboard/campaigns/{CAMPAIGN}").raise_for_status())
    step = _keep_in_step(path, args.messages)
    size_mb = round(os.path.getsize(path) / 1e6)
    print(f"\nstore: {args.messages:,} messages, {events:,} events, {size_mb:,} MB "
          f"(built in {build_s:.0f} s)")
    print(f"first computation of the rollups     {first_s:8.1f} s")
    print(f"campaign_report(), warm              {warm['median_s'] * 1000:8.1f} ms (median)")
    print(f"GET /api/v1/campaigns/{CAMPAIGN}      {api['median_s'] * 1000:8.1f} ms")
    print(f"GET /dashboard/campaigns/{CAMPAIGN}   {dashboard['median_s'] * 1000:8.1f} ms")
    print(f"domain report ({report.domain_count:,} domains)     "
          f"{domains['median_s'] * 1000:8.1f} ms")
    print(f"overview                             {overview['median_s'] * 1000:8.1f} ms")
    print(f"keep in step: 10,000 new events + 10,000 re-scored messages: "
          f"{step['refresh_s']:.2f} s")
    print(f"reference: totals counted from the events table  {reference['median_s']:.2f} s")
    target_met = max(warm["median_s"], api["median_s"], dashboard["median_s"]) < 1.0
    print(f"target (< 1 s after the first computation): {'met' if target_met else 'NOT met'}")
    emit({"benchmark": "report", "messages": args.messages, "events": events,
          "store_mb": size_mb, "first_computation_s": round(first_s, 1),
          "campaign_report": warm, "api": api, "dashboard": dashboard, "domains": domains,
          "overview": overview, "keep_in_step": step, "reference_direct_scan": reference,
          "target_met": target_met, "machine": machine()})


if __name__ == "__main__":
    main()
