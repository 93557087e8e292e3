"""How fast the archive moves, recounts and erases, on SQLite (docs/archive.md).

Builds the store of benchmarks/report.py (one campaign of N messages, about 5 events each,
every engagement event judged), counts its rollups, then times:

- ``clicksift archive``: every message moved into the Parquet archive (events a second),
  beside the reference measured in the same run: reading the same rows out of the store
  (what any export costs before a byte is written);
- the campaign report from the rollups after archiving (it must equal the one before);
- ``report --archive``: the report recounted from the archive's files, beside the
  reference of counting the store's rollups from scratch before archiving;
- ``clicksift erase`` of one person whose events are in the archive (every file read,
  the ones naming them rewritten);

and the archive's size beside the store's file.

    python benchmarks/archive.py [--messages N]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import emit, machine
from clicksift import reports
from clicksift.archive import Archive, archive_before
from clicksift.protect import erasure
from clicksift.reports.model import to_json
from clicksift.reports.recounted import recount_into
from clicksift.reports.rollup import recount_uncounted
from clicksift.settings import Settings
from clicksift.storage import open_store
from report import CAMPAIGN, build


def _report(store: object) -> dict[str, object]:
    document = to_json(reports.campaign_report(store, CAMPAIGN))  # type: ignore[arg-type]
    document.pop("freshness", None)
    return document


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=200_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="clicksift-archive-bench-") as folder:
        path = os.path.join(folder, "bench.db")
        print(f"building a store of {args.messages:,} messages")
        events = build(path, args.messages)
        store = open_store(Settings(database=path))
        started = time.perf_counter()
        reports.refresh(store)
        rollups_seconds = time.perf_counter() - started
        before = _report(store)
        store_bytes = os.path.getsize(path)

        ids = store.message_ids()
        started = time.perf_counter()
        read = sum(len(store.archive_rows(ids[i:i + 2000])) for i in range(0, len(ids), 2000))
        read_seconds = time.perf_counter() - started
        assert read == events

        archive = Archive(os.path.join(folder, "bench.archive"))
        started = time.perf_counter()
        run = archive_before(store, archive, 4e9, lambda ids: recount_uncounted(store, ids))
        archive_seconds = time.perf_counter() - started
        assert run.events == events and store.event_counts() == {}, (run, store.event_counts())
        files, archive_bytes = archive.size()
        same = _report(store) == before

        scratch = open_store(Settings(database=os.path.join(folder, "scratch.db")))
        started = time.perf_counter()
        recount_into(scratch, archive, store)
        recount_seconds = time.perf_counter() - started
        recount_same = _report(scratch) == before
        scratch.close()

        started = time.perf_counter()
        removed = erasure.erase(store, ["p7@gmail.com"])["p7@gmail.com"]
        erase_seconds = time.perf_counter() - started
        store.close()

    moved_rate = events / archive_seconds
    read_rate = events / read_seconds
    print(f"\n{events:,} events of {args.messages:,} messages, one campaign "
          f"({machine()['cpus']} cpus)")
    print(f"  {'':34} {'seconds':>9} {'events/s':>11}")
    print(f"  {'reference: read rows from store':34} {read_seconds:9.2f} {read_rate:11,.0f}")
    print(f"  {'archive (write, sync, delete)':34} {archive_seconds:9.2f} {moved_rate:11,.0f}")
    print(f"  {'reference: rollups from scratch':34} {rollups_seconds:9.2f} "
          f"{events / rollups_seconds:11,.0f}")
    print(f"  {'report --archive recount':34} {recount_seconds:9.2f} "
          f"{events / recount_seconds:11,.0f}")
    print(f"  {'erase one person (all files)':34} {erase_seconds:9.2f} "
          f"{'':>11}")
    print(f"  store file {store_bytes / 1e6:,.1f} MB; archive {archive_bytes / 1e6:,.1f} MB "
          f"in {files} files ({archive_bytes / store_bytes:.0%})")
    print(f"  report after archiving equals before: {same}; recount equals: {recount_same}")
    emit({"benchmark": "archive", "events": events, "messages": args.messages,
          "archive_events_per_s": round(moved_rate), "read_events_per_s": round(read_rate),
          "recount_events_per_s": round(events / recount_seconds),
          "rollups_events_per_s": round(events / rollups_seconds),
          "erase_seconds": round(erase_seconds, 3), "erased_rows": sum(removed.values()),
          "store_bytes": store_bytes, "archive_bytes": archive_bytes, "files": files,
          "report_unchanged": same, "recount_equal": recount_same, **machine()})


if __name__ == "__main__":
    main()
