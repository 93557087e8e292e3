#!/usr/bin/env python3
"""How fast ESP events come in: parsing per ESP, and signed webhooks over HTTP.

1. Parsing: simulated traffic rendered as each ESP posts it (batches where the ESP batches,
   one event per body where it does not), parsed by the adapter; events per second beside
   the reference measured in the same run, the JSON decoding of the same bodies alone.
2. HTTP: a real server (SQLite, online verdicts) takes signed SendGrid batches of 500
   events from several concurrent senders; events stored per second and the latency of a
   batch (verify, parse, store in one transaction, provisional verdicts, answer).

    python benchmarks/ingest.py [--recipients 3000] [--batches 60] [--senders 4]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import clicksift_server, emit, machine
from clicksift.events import event_from_dict, loads
from clicksift.ingest import ADAPTERS
from clicksift.ingest.samples import render, sendgrid
from clicksift.simulate import SimulationConfig, events_and_truth, simulate


def parse_rates(recipients: int) -> dict[str, Any]:
    raw, _ = events_and_truth(simulate(SimulationConfig(recipients=recipients, seed=21)))
    events = [event_from_dict(item) for item in raw]
    out: dict[str, Any] = {}
    for name, adapter in ADAPTERS.items():
        bodies = render(adapter.name, events)
        started = time.perf_counter()
        for body in bodies:
            if name == "mandrill":                 # a form whose field holds the JSON
                body = parse_qs(body.decode())["mandrill_events"][0].encode()
            loads(body)
        decode = time.perf_counter() - started
        started = time.perf_counter()
        count = sum(len(adapter.parse(body, {})) for body in bodies)
        parse = time.perf_counter() - started
        out[name] = {"events": count, "bodies": len(bodies),
                     "events_per_second": round(count / parse),
                     "json_decode_only_events_per_second": round(count / decode),
                     "cost_over_decoding": round(parse / decode, 1)}
        print(f"  {name:<17}{count:>8,} events in {len(bodies):>6,} bodies: "
              f"{count / parse:>10,.0f} events/s (JSON decoding alone {count / decode:>10,.0f})")
    return out


async def _post_all(url: str, bodies: list[bytes], key: ec.EllipticCurvePrivateKey,
                    senders: int) -> list[float]:
    latencies: list[float] = []
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)

    async def sender(client: httpx.AsyncClient) -> None:
        while not queue.empty():
            body = queue.get_nowait()
            headers = {"content-type": "application/json",
                       **sendgrid.sign(body, key, int(time.time()))}
            started = time.perf_counter()
            response = await client.post(url, content=body, headers=headers)
            latencies.append(time.perf_counter() - started)
            if response.status_code != 200:
                raise SystemExit(f"webhook answered {response.status_code}: {response.text}")

    async with httpx.AsyncClient(timeout=60) as client:
        await asyncio.gather(*(sender(client) for _ in range(senders)))
    return latencies


def http_rate(batches: int, senders: int) -> dict[str, Any]:
    raw, _ = events_and_truth(simulate(SimulationConfig(recipients=batches * 70, seed=22)))
    events = [event_from_dict(item) for item in raw]
    records = [r for body in render("sendgrid", events) for r in json.loads(body)]
    bodies = [json.dumps(records[i:i + 500]).encode()
              for i in range(0, min(len(records), batches * 500), 500)]
    key = ec.generate_private_key(ec.SECP256R1())
    public = base64.b64encode(key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)).decode()
    with tempfile.TemporaryDirectory() as folder:
        database = str(Path(folder) / "ingest.db")
        env = {"CLICKSIFT_DATABASE": database, "CLICKSIFT_SENDGRID_PUBLIC_KEY": public,
               "CLICKSIFT_REPORT_REFRESH_SECONDS": "0"}
        with clicksift_server(env) as base:
            started = time.perf_counter()
            latencies = asyncio.run(_post_all(base + "/webhooks/sendgrid", bodies, key,
                                              senders))
            elapsed = time.perf_counter() - started
        with sqlite3.connect(database) as db:
            stored = db.execute("SELECT COUNT(*) FROM events").fetchone()[0]
            judged = db.execute("SELECT COUNT(*) FROM verdicts").fetchone()[0]
    sent = sum(len(json.loads(b)) for b in bodies)
    latencies.sort()
    result = {"batches": len(bodies), "events_sent": sent, "events_stored": stored,
              "verdicts_stored": judged, "senders": senders,
              "events_per_second": round(stored / elapsed),
              "batch_latency_ms": {"p50": round(statistics.median(latencies) * 1000, 1),
                                   "p99": round(latencies[int(len(latencies) * 0.99) - 1]
                                                * 1000, 1),
                                   "max": round(latencies[-1] * 1000, 1)}}
    print(f"  {len(bodies)} signed SendGrid batches of 500 from {senders} senders: "
          f"{stored:,} events stored ({judged:,} verdicts) at {stored / elapsed:,.0f} events/s; "
          f"batch p50 {result['batch_latency_ms']['p50']} ms, "
          f"p99 {result['batch_latency_ms']['p99']} ms")
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--recipients", type=int, default=3000)
    parser.add_argument("--batches", type=int, default=60)
    parser.add_argument("--senders", type=int, default=4)
    args = parser.parse_args()
    print("parsing, per ESP:")
    parsing = parse_rates(args.recipients)
    print("webhooks over HTTP:")
    http = http_rate(args.batches, args.senders)
    emit({"benchmark": "ingest", "machine": machine(), "parsing": parsing, "http": http})
    return 0


if __name__ == "__main__":
    sys.exit(main())
