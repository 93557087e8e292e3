#!/usr/bin/env python3
"""POST /api/v1/events: canonical events stored and judged per second, against storing the
same events straight into a store in this process (the floor: no HTTP, no judging).

Simulates a campaign, posts its events in batches of 1,000 (JSON arrays) to `clicksift
serve` on SQLite, and in the same run times `add_events` of the same batches into another
SQLite file. Two configurations: the default server (one worker) with one sender posting a
batch at a time, and a server with one worker per core (`workers` setting) with as many
senders posting at once, each over its own kept-alive connection. Each is run --repeat
times, alternating with the floor (the host's speed drifts); the medians are reported.
Target: at least 20,000 events per second through the API.

With --against DIR, each run of the server is followed by the same run of the release
installed in DIR (`pip install --no-deps --target DIR ...`), and each pair's ratio is
printed: on a host whose speed drifts, only runs made back to back compare.

    python benchmarks/events_api.py [--recipients 6000] [--batch 1000] [--repeat 3]
                                    [--against DIR]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import check_release, clicksift_server, emit, machine, release_env
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
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--against", metavar="DIR",
                        help="time each run against the release installed in DIR")
    args = parser.parse_args()
    if args.against:
        check_release(args.against)
    raw, _ = events_and_truth(simulate(SimulationConfig(recipients=args.recipients,
                                                        campaigns=1, seed=3)))
    batches = [raw[i:i + args.batch] for i in range(0, len(raw), args.batch)]
    bodies = [("[" + ",".join(dumps(e) for e in batch) + "]").encode() for batch in batches]
    cores = os.cpu_count() or 1
    configurations = [(1, 1), (cores, cores)] if cores > 1 else [(1, 1)]
    floors: list[float] = []
    rates: dict[tuple[int, int], list[float]] = {c: [] for c in configurations}
    cpu: dict[tuple[int, int], list[list[float]]] = {c: [] for c in configurations}
    reference: dict[tuple[int, int], list[float]] = {c: [] for c in configurations}
    judged = 0
    with tempfile.TemporaryDirectory(prefix="clicksift-events-api-") as tmp:
        for run in range(args.repeat):
            floors.append(_floor(Path(tmp) / f"floor-{run}.db", batches, len(raw)))
            for workers, senders in configurations:
                rate, judged, busy = _through_api(Path(tmp) / f"api-{workers}-{run}.db",
                                                  bodies, len(raw), workers, senders)
                rates[(workers, senders)].append(rate)
                cpu[(workers, senders)].append(busy)
                if args.against:
                    theirs, _, _ = _through_api(Path(tmp) / f"ref-{workers}-{run}.db", bodies,
                                                len(raw), workers, senders, args.against)
                    reference[(workers, senders)].append(theirs)
            print(f"  run {run + 1} of {args.repeat}, events/s: floor {floors[-1]:,.0f}",
                  file=sys.stderr)
            for (w, n), r in rates.items():
                print(f"    {w} worker{'s' if w > 1 else ''}, {n} sender{'s' if n > 1 else ''}: "
                      f"{r[-1]:,.0f} (CPU of a core: {_shares(cpu[(w, n)][-1])})"
                      + (f"; reference {reference[(w, n)][-1]:,.0f}" if args.against else ""),
                      file=sys.stderr, flush=True)
    floor = statistics.median(floors)
    medians = {c: statistics.median(r) for c, r in rates.items()}
    runs = f"medians of {args.repeat} runs" if args.repeat > 1 else "one run"
    print(f"{len(raw):,} events in {len(batches)} batches of {args.batch:,}; {runs}")
    print(f"  straight into the store (floor):      {floor:>10,.0f} events/s")
    for (workers, senders), rate in medians.items():
        plural = "s" if workers > 1 else ""
        label = f"POST, {workers} worker{plural}, {senders} sender{plural}:"
        print(f"  {label:<37}{rate:>10,.0f} events/s ({rate / floor:.0%} of the floor)")
    if args.against:
        print(f"against {args.against}, back to back (ratio above 1: this one is faster):")
        for (workers, senders), theirs in reference.items():
            ratios = [a / b for a, b in zip(rates[(workers, senders)], theirs, strict=True)]
            label = f"{workers} worker{'s' if workers > 1 else ''}, " \
                    f"{senders} sender{'s' if senders > 1 else ''}:"
            print(f"  {label:<22} reference {statistics.median(theirs):>7,.0f} events/s; "
                  f"ratio {statistics.median(ratios):.2f} "
                  f"({min(ratios):.2f}-{max(ratios):.2f})")
    best = max(medians.values())
    print(f"{judged:,} verdicts a run; target {TARGET:,} events/s: "
          f"{'met' if best >= TARGET else 'NOT met'}")
    emit({"benchmark": "events_api", "machine": machine(), "events": len(raw),
          "batch": args.batch, "repeat": args.repeat, "floor_events_per_second": round(floor),
          "api_events_per_second": {f"{w}_workers_{n}_senders": round(rate)
                                    for (w, n), rate in medians.items()},
          "worker_cpu_shares": {f"{w}_workers_{n}_senders": [[round(x, 2) for x in run]
                                                              for run in shares]
                                for (w, n), shares in cpu.items()},
          "runs": {"floor": [round(f) for f in floors],
                   **{f"{w}_workers_{n}_senders": [round(x) for x in r]
                      for (w, n), r in rates.items()}},
          "verdicts": judged, "target_met": best >= TARGET,
          **({"reference": args.against,
              "reference_runs": {f"{w}_workers_{n}_senders": [round(x) for x in r]
                                 for (w, n), r in reference.items()}}
             if args.against else {})})
    return 0


def _shares(busy: list[float]) -> str:
    return " / ".join(f"{share:.0%}" for share in busy) or "unknown"


def _floor(db: Path, batches: list[list[dict[str, Any]]], events: int) -> float:
    """Events per second stored straight into a store in this process."""
    store = open_store(Settings(database=str(db)))
    started = time.perf_counter()
    for batch in batches:
        with store.transaction():
            store.add_events([event_from_dict(e) for e in batch])
    rate = events / (time.perf_counter() - started)
    store.close()
    return rate


def _through_api(db: Path, bodies: list[bytes], events: int, workers: int,
                 senders: int, release: str | None = None) -> tuple[float, int, list[float]]:
    """Events per second through POST /api/v1/events (WORKERS server processes of this
    checkout, or of the release installed in RELEASE; SENDERS posting at once), the
    verdicts answered, and the share of a core that each of the WORKERS busiest server
    processes used (two workers, one of them idle: its connections all went to the
    other)."""
    store = open_store(Settings(database=str(db)))
    key = access.create_key(store, "bench").secret
    store.close()
    headers = {"authorization": f"Bearer {key}", "content-type": "application/json"}
    with clicksift_server({"CLICKSIFT_DATABASE": str(db), "CLICKSIFT_WORKERS": str(workers),
                           **(release_env(release) or {})}) as base, \
            httpx.Client(base_url=base, timeout=120, headers=headers,
                         limits=httpx.Limits(max_connections=senders)) as client:
        def post(body: bytes) -> int:
            answer = client.post("/api/v1/events", content=body)
            answer.raise_for_status()
            return len(answer.json()["verdicts"])

        before = _server_cpu(db)
        started = time.perf_counter()
        with ThreadPoolExecutor(senders) as pool:
            judged = sum(pool.map(post, bodies))
        elapsed = time.perf_counter() - started
        after = _server_cpu(db)
    busy = sorted((after[pid] - before.get(pid, 0.0)) / elapsed for pid in after)[-workers:]
    return events / elapsed, judged, busy


def _server_cpu(db: Path) -> dict[int, float]:
    """CPU seconds so far of each process of the server on DB (its workers, housekeeper
    and main process), read from /proc (Linux; nothing elsewhere)."""
    mark = f"CLICKSIFT_DATABASE={db}".encode()
    ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    found = {}
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            if mark not in (entry / "environ").read_bytes().split(b"\0"):
                continue
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        found[int(entry.name)] = (int(fields[11]) + int(fields[12])) / ticks
    return found


if __name__ == "__main__":
    sys.exit(main())
