#!/usr/bin/env python3
"""Recipient domains' gateways from the MX cache: 10,000 domains in well under a second.

Fills a SQLite store's MX cache with 10,000 domains (MX hosts of every vendor in the
gateway table, and unknown ones), then times `GatewayLookup.lookup(..., offline=True)`
(read the cache, match each domain's hosts to a vendor) and `mx_priors` (what the
classifier reads). In the same run it times a bare sqlite3 SELECT of the same rows, the
floor any cache read stands on. Target: under one second for 10,000 domains.

    python benchmarks/gateways.py [--domains 10000] [--runs 5]
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import emit, machine
from clicksift.classify.gateways import load_gateways, mx_priors
from clicksift.lookup.mx import GatewayLookup
from clicksift.settings import Settings
from clicksift.storage import open_store
from clicksift.storage.records import MxRecord


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--domains", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    hosts = [entry.suffixes[0] for entry in load_gateways().entries] + ["mail.example.net"]
    domains = [f"company{n}.example" for n in range(args.domains)]
    now = time.time()
    with tempfile.TemporaryDirectory() as folder:
        database = str(Path(folder) / "mx.db")
        with open_store(Settings(database=database)) as store:
            store.save_mx_records(
                MxRecord(d, (f"mx1.{hosts[n % len(hosts)]}", f"mx2.{hosts[n % len(hosts)]}"),
                         "ok", now, now + 86400) for n, d in enumerate(domains))
            lookup = GatewayLookup(store, None)
            ours, priors, floor = [], [], []
            for _ in range(args.runs):
                started = time.perf_counter()
                found = lookup.lookup(domains, offline=True)
                ours.append(time.perf_counter() - started)
                started = time.perf_counter()
                known = mx_priors(store.mx_records().values())
                priors.append(time.perf_counter() - started)
                connection = sqlite3.connect(database)
                started = time.perf_counter()
                rows = connection.execute("SELECT domain, hosts FROM mx_records").fetchall()
                floor.append(time.perf_counter() - started)
                connection.close()
    assert len(found) == len(rows) == args.domains
    behind = sum(g.entry is not None for g in found.values())
    result = {"domains": args.domains, "runs": args.runs,
              "lookup_offline_seconds": round(statistics.median(ours), 4),
              "classifier_priors_seconds": round(statistics.median(priors), 4),
              "bare_select_seconds": round(statistics.median(floor), 4),
              "attributed": behind, "scanning_gateways": len(known),
              "target_seconds": 1.0,
              "met": statistics.median(ours) < 1.0}
    print(f"{args.domains:,} domains from the MX cache, median of {args.runs} runs:")
    print(f"  clicksift gateways --offline   {result['lookup_offline_seconds']:.3f} s "
          f"({behind:,} attributed to a vendor)")
    print(f"  classifier's MX priors         {result['classifier_priors_seconds']:.3f} s "
          f"({len(known):,} behind scanning gateways)")
    print(f"  reference: bare sqlite3 SELECT {result['bare_select_seconds']:.3f} s")
    print(f"  target: under 1 s: {'met' if result['met'] else 'NOT met'}")
    emit({"benchmark": "gateways", "machine": machine(), **result})
    return 0


if __name__ == "__main__":
    sys.exit(main())
