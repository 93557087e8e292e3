#!/usr/bin/env python3
"""Batch classification speed and memory on a large event stream, one core.

Writes N events (default 10 million) by replaying a simulated campaign many times over
(message, event ids and times shifted per copy), then runs the same code as
`clicksift classify` over the file, streaming, and reports events per minute and the peak
memory of the process. In the same run it times a plain pass that only reads and checks the
same file (the floor any classifier pays), and the online path: a provisional verdict per
request as the tracking server computes it.

    python benchmarks/classify.py [--events 10000000] [--keep FILE | --reuse FILE]

With --engine spark (clicksift[spark] and Java), the same stream (default a million events)
is judged on Spark in local mode on one core and on two, beside the single-machine engine on
one process and on two in the same run; the verdict lines of every run are compared. Each
run is a process of its own pinned to as many cores as it is given (the JVM, its threads
and Spark's Python workers inherit the pinning), so "one core" means one core for
everything the run does, not one task thread beside a JVM using the other core.

With --against DIR, this checkout is timed against another release installed in DIR (for
instance `pip install --no-deps --target DIR git+https://...@COMMIT`): PAIRS runs of each,
alternating, each a process of its own pinned to one core, on the same stream. On a host
whose speed drifts between runs, only runs made back to back compare; the medians and the
ratio of each pair are printed.
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import check_release, emit, machine, release_env
from clicksift.classify import COMPILED, BatchClassifier, Engine
from clicksift.events import (
    ReadStats,
    dumps,
    event_from_dict,
    format_timestamp,
    parse_timestamp,
    read_events,
)
from clicksift.simulate import SimulationConfig, events_and_truth, simulate

DAY = 86400.0


def write_stream(path: Path, total: int) -> int:
    base, _ = events_and_truth(simulate(SimulationConfig(recipients=8000, campaigns=2,
                                                         seed=77)))
    base.sort(key=lambda e: e["timestamp"])
    for event in base:
        event["_ts"] = parse_timestamp(event["timestamp"])
    written = 0
    copy = 0
    with open(path, "w", encoding="utf-8") as out:
        while written < total:
            shift = copy * 14 * DAY
            for event in base:
                if written >= total:
                    break
                line = dict(event)
                line["id"] = f"{event['id']}~{copy}"
                line["message_id"] = f"{event['message_id']}~{copy}"
                line["timestamp"] = format_timestamp(event["_ts"] + shift)
                del line["_ts"]
                out.write(dumps(line) + "\n")
                written += 1
            copy += 1
            print(f"\r  writing events: {written:,}", end="", flush=True)
    print()
    return written


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def fingerprint(lines: Iterable[str]) -> tuple[int, str]:
    """How many lines, and a digest of them that does not depend on their order."""
    total, count = 0, 0
    for line in lines:
        total = (total + int.from_bytes(hashlib.blake2b(line.encode(), digest_size=16)
                                        .digest(), "big")) % (1 << 128)
        count += 1
    return count, f"{total:032x}"


def local_run(path: Path, workers: int) -> tuple[float, tuple[int, str]]:
    start = time.perf_counter()
    lines = list(BatchClassifier(workers=workers).render_files([str(path)]))
    seconds = time.perf_counter() - start
    return seconds, fingerprint(lines)


def spark_run(path: Path, cores: int, out: Path) -> tuple[float, float, tuple[int, str]]:
    """Seconds to start Spark, seconds to judge, and the verdict lines' fingerprint."""
    from clicksift.spark import EngineSpec, judge_on_spark, spark_session

    start = time.perf_counter()
    spark = spark_session(f"local[{cores}]")
    spark.range(1).count()                     # the JVM and its first job are up
    startup = time.perf_counter() - start
    start = time.perf_counter()
    judge_on_spark(spark, [str(path)], str(out), EngineSpec(), partitions=cores * 4)
    seconds = time.perf_counter() - start
    spark.stop()

    def lines() -> Iterator[str]:
        for part in sorted(glob.glob(str(out / "part-*"))):
            with open(part, encoding="utf-8") as handle:
                yield from handle
    return startup, seconds, fingerprint(lines())


def _pinned(kind: str, cores: int, path: Path, out: Path, release: str | None = None
            ) -> tuple[float, float, tuple[int, str]]:
    """Run one measurement in a process of its own, pinned to CORES cores (with the
    clicksift installed in RELEASE, when given): seconds to judge, seconds to start, the
    verdict lines' fingerprint."""
    command = [sys.executable, __file__, "--child", kind, str(cores), str(path), str(out)]
    done = subprocess.run(command, check=True, capture_output=True, text=True,
                          env=release_env(release))
    result = json.loads(done.stdout.strip().splitlines()[-1])
    count, digest = result["fingerprint"]
    return float(result["seconds"]), float(result["startup"]), (int(count), str(digest))


def _child(kind: str, cores: int, path: Path, out: Path) -> None:
    available = sorted(os.sched_getaffinity(0))
    if len(available) < cores:
        sys.exit(f"this machine has {len(available)} cores; the run needs {cores}")
    os.sched_setaffinity(0, set(available[:cores]))
    if kind == "local":
        seconds, print_ = local_run(path, cores)
        startup = 0.0
    else:
        startup, seconds, print_ = spark_run(path, cores, out)
    print(json.dumps({"seconds": seconds, "startup": startup, "fingerprint": list(print_)}))


def compare_releases(path: Path, count: int, release: str, pairs: int, tmp: str) -> int:
    """This checkout against the release installed in RELEASE (checked by the caller),
    PAIRS alternating runs."""
    mine: list[float] = []
    theirs: list[float] = []
    for pair in range(1, pairs + 1):
        mine.append(_pinned("local", 1, path, Path(tmp))[0])
        theirs.append(_pinned("local", 1, path, Path(tmp), release)[0])
        print(f"  pair {pair}: {mine[-1]:6.1f} s against {theirs[-1]:6.1f} s "
              f"({mine[-1] / theirs[-1]:.2f})")
    ratios = [a / b for a, b in zip(mine, theirs, strict=True)]
    median_mine, median_theirs = statistics.median(mine), statistics.median(theirs)
    print(f"{count:,} events, one core, {pairs} pairs run back to back:\n"
          f"  a pair's ratio: median {statistics.median(ratios):.2f}, "
          f"{min(ratios):.2f}-{max(ratios):.2f} (below 1: this checkout is faster)\n"
          f"  medians, which drift with the host: {count / median_mine * 60:,.0f} events/min "
          f"against {count / median_theirs * 60:,.0f}")
    emit({"benchmark": "classify_against", "machine": machine(), "events": count,
          "reference": release,
          "pairs": pairs, "seconds": [round(s, 2) for s in mine],
          "reference_seconds": [round(s, 2) for s in theirs],
          "events_per_minute": round(count / median_mine * 60),
          "reference_events_per_minute": round(count / median_theirs * 60),
          "median_ratio": round(statistics.median(ratios), 3)})
    return 0


def compare_spark(path: Path, count: int, tmp: str) -> int:
    rows = []
    reference = None
    for kind, cores in (("local", 1), ("local", 2), ("spark", 1), ("spark", 2)):
        seconds, startup, print_ = _pinned(kind, cores, path, Path(tmp) / f"{kind}-{cores}")
        reference = reference or print_
        name = "single machine" if kind == "local" else "spark local"
        rows.append((name, cores, startup, seconds, print_ == reference))
        print(f"  {name}, {cores} core(s): {count / seconds * 60:,.0f} events/min"
              + (f" (start-up {startup:.0f} s apart)" if kind == "spark" else ""))
    print(f"\n{'engine':<16}{'cores':>6}{'events/min':>13}{'per core':>12}"
          f"{'start s':>9}  same verdicts")
    for name, cores, startup, seconds, same in rows:
        rate = count / seconds * 60
        print(f"{name:<16}{cores:>6}{rate:>13,.0f}{rate / cores:>12,.0f}{startup:>9.0f}  "
              f"{'yes' if same else 'NO'}")
    rate = {(name, cores): count / seconds * 60 for name, cores, _, seconds, _ in rows}
    per_core = rate["spark local", 1] / rate["single machine", 1]
    scaling = rate["spark local", 2] / rate["spark local", 1]
    print(f"\nSpark per core / single machine per core: {per_core:.2f} (target 0.5); "
          f"Spark 2 cores / 1 core: {scaling:.2f}x (target 1.6x)")
    emit({"benchmark": "classify_spark", "machine": machine(), "events": count,
          "runs": [{"engine": name, "cores": cores, "startup_seconds": round(startup, 1),
                    "seconds": round(seconds, 1),
                    "events_per_minute": round(count / seconds * 60),
                    "same_verdicts": same} for name, cores, startup, seconds, same in rows],
          "spark_per_core_ratio": round(per_core, 3), "spark_scaling": round(scaling, 3),
          "all_same": all(row[4] for row in rows)})
    return 0 if all(row[4] for row in rows) else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int)
    parser.add_argument("--engine", choices=("local", "spark"), default="local",
                        help="spark: Spark in local mode beside the single machine")
    parser.add_argument("--keep", help="write the event stream here and keep it")
    parser.add_argument("--reuse", help="classify this stream (kept by an earlier --keep run)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help="processes, as clicksift classify uses (default: CPU cores)")
    parser.add_argument("--against", metavar="DIR",
                        help="time this checkout against the release installed in DIR")
    parser.add_argument("--pairs", type=int, default=5,
                        help="alternating runs of each with --against (default 5)")
    parser.add_argument("--child", nargs=4, metavar=("KIND", "CORES", "PATH", "OUT"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, cores, path, out = args.child
        _child(kind, int(cores), Path(path), Path(out))
        return 0
    args.events = args.events or (200_000 if args.against else 1_000_000
                                  if args.engine == "spark" else 10_000_000)
    if args.engine == "spark":
        with tempfile.TemporaryDirectory(prefix="clicksift-bench-") as tmp:
            path = Path(args.reuse or Path(tmp) / "events.jsonl")
            if args.reuse:
                with open(path, "rb") as stream:
                    count = sum(1 for _ in stream)
            else:
                count = write_stream(path, args.events)
            return compare_spark(path, count, tmp)
    if args.against:
        check_release(args.against)
        with tempfile.TemporaryDirectory(prefix="clicksift-bench-") as tmp:
            path = Path(args.reuse or args.keep or Path(tmp) / "events.jsonl")
            if args.reuse:
                with open(path, "rb") as stream:
                    count = sum(1 for _ in stream)
            else:
                count = write_stream(path, args.events)
            return compare_releases(path, count, args.against, args.pairs, tmp)
    if args.workers == 1 and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one process: one core
    with tempfile.TemporaryDirectory(prefix="clicksift-bench-") as tmp:
        path = Path(args.reuse or args.keep or Path(tmp) / "events.jsonl")
        if args.reuse:
            with open(path, "rb") as stream:
                count = sum(1 for _ in stream)
            print(f"reusing {count:,} events in {path}")
        else:
            print(f"writing {args.events:,} events to {path} ...")
            count = write_stream(path, args.events)
        size_gb = path.stat().st_size / 1e9

        start = time.perf_counter()
        stats = ReadStats()
        for _ in read_events([str(path)], stats=stats):
            pass
        read_seconds = time.perf_counter() - start
        print(f"reference, read and check only: {count / read_seconds * 60:,.0f} events/min")

        rss_before = peak_rss_mb()
        start = time.perf_counter()
        verdicts = 0
        batch = BatchClassifier(workers=args.workers, progress=lambda stage, n: print(
            f"\r  {stage}: {n:,}", end="", flush=True))
        with open(os.devnull, "w") as sink:   # verdict lines, as `clicksift classify` writes
            for line in batch.render_files([str(path)]):
                sink.write(line)
                verdicts += 1
        seconds = time.perf_counter() - start
        print()
        rate = count / seconds * 60
        peak = peak_rss_mb()
        print(f"clicksift classify: {count:,} events ({size_gb:.1f} GB), {verdicts:,} verdicts "
              f"in {seconds:,.0f} s = {rate:,.0f} events/min with {args.workers} process(es); "
              f"peak memory {peak:,.0f} MB (before: {rss_before:,.0f} MB); "
              f"{batch.stats.buckets} buckets; classifier "
              f"{'compiled (mypyc)' if COMPILED else 'plain Python'}")
        one_core = args.workers == 1 and rate >= 1_000_000
        print(f"target 1,000,000 events/min on one core: {'met' if one_core else 'NOT met'}"
              + ("" if args.workers == 1 else f" (this run used {args.workers} processes: "
                 "measure one core with --workers 1)"))

    engine = Engine()
    sample = [event_from_dict(e) for e in events_and_truth(simulate(SimulationConfig(
        recipients=400, seed=78)))[0] if e["type"] in {"click", "open"}][:5000]
    for event in sample[:200]:
        engine.provisional(event)  # warm the caches the server would have warm
    start = time.perf_counter()
    for event in sample:
        engine.provisional(event)
    online_us = (time.perf_counter() - start) / len(sample) * 1e6
    print(f"online provisional verdict: {online_us:.0f} us per request (target under 1 ms)")
    emit({"benchmark": "classify", "machine": machine(), "events": count,
          "file_gb": round(size_gb, 2), "seconds": round(seconds, 1),
          "events_per_minute": round(rate), "read_only_events_per_minute":
          round(count / read_seconds * 60), "peak_rss_mb": round(peak),
          "buckets": batch.stats.buckets, "workers": args.workers, "compiled": COMPILED,
          "online_verdict_us": round(online_us, 1),
          "target_met": one_core and online_us < 1000})
    return 0


if __name__ == "__main__":
    sys.exit(main())
