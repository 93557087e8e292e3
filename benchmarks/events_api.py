#!/usr/bin/env python3
"""POST /api/v1/events: canonical events stored and judged per second, against storing the
same events straight into a store in this process (the floor: no HTTP, no judging).

Simulates a campaign, posts its events in batches of 1,000 (JSON arrays, one connection)
to `clicksift serve` on SQLite, and in the same run times `add_events` of the same batches
into another SQLite file. Target: at least 20,000 events per second through the API.

    python benchmarks/events_api.py [--recipients 6000] [--batch 1000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import clicksift_server, emit, machine
from clicksift import access
from clicksift.events import dumps, event_from_dict
from clicksift.settings import Settings
from clicksift.simulate import SimulationConfig, events_and_truth, simulate
from clicksift.storage import open_store

TARGET = 20_000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--recipients", type=int, default=6000)
    parser.add_argument("--batch", type=int, default=1000)
    args = parser.parse_args()
    raw, _ = events_and_truth(simulate(SimulationConfig(recipients=args.recipients,
                                                        campaigns=1, seed=3)))
    batches = [raw[i:i + args.batch] for i in range(0, len(raw), args.batch)]
    bodies = [("[" + ",".join(dumps(e) for e in batch) + "]").encode() for batch in batches]
    with tempfile.TemporaryDirectory(prefix="clicksift-events-api-") as tmp:
        floor_db = str(Path(tmp) / "floor.db")
        store = open_store(Settings(database=floor_db))
        started = time.perf_counter()
        for batch in batches:
            with store.transaction():
                store.add_events([event_from_dict(e) for e in batch])
        floor = len(raw) / (time.perf_counter() - started)
        store.close()
        db = str(Path(tmp) / "api.db")
        store = open_store(Settings(database=db))
        key = access.create_key(store, "bench").secret
        store.close()
        with clicksift_server({"CLICKSIFT_DATABASE": db}) as base, \
                httpx.Client(base_url=base, timeout=120, headers={
                    "authorization": f"Bearer {key}",
                    "content-type": "application/json"}) as client:
            started = time.perf_counter()
            judged = 0
            for body in bodies:
                answer = client.post("/api/v1/events", content=body)
                answer.raise_for_status()
                judged += len(answer.json()["verdicts"])
            through_api = len(raw) / (time.perf_counter() - started)
    print(f"{len(raw):,} events in {len(batches)} batches of {args.batch:,}")
    print(f"  straight into the store (floor):  {floor:>10,.0f} events/s")
    print(f"  POST /api/v1/events, judged:      {through_api:>10,.0f} events/s "
          f"({through_api / floor:.0%} of the floor; {judged:,} verdicts)")
    print(f"target {TARGET:,} events/s: {'met' if through_api >= TARGET else 'NOT met'}")
    emit({"benchmark": "events_api", "machine": machine(), "events": len(raw),
          "batch": args.batch, "floor_events_per_second": round(floor),
          "api_events_per_second": round(through_api), "verdicts": judged,
          "target_met": through_api >= TARGET})
    return 0


if __name__ == "__main__":
    sys.exit(main())
