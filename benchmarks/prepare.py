#!/usr/bin/env python3
"""Messages prepared per second for a 60 KB marketing email, on one core.

Prepares tests/fixtures/emails/retail-newsletter.html (60 KB, 107 links including VML
buttons in Outlook conditional comments) for distinct recipients: every link rewritten to a
signed tracking URL, the pixel and a honeypot added, headers built. In the same run it times
the standard library's html.parser merely reading the same document, as a reference for
what any parser-based approach costs before it has changed anything.

    python benchmarks/prepare.py [--seconds 5]
"""

from __future__ import annotations

import argparse
import html.parser
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import emit, machine
from clicksift.links import TrackingUrls
from clicksift.prepare import Preparer
from clicksift.tokens import Signer, SigningKey

EMAIL = Path(__file__).resolve().parent.parent / "tests/fixtures/emails/retail-newsletter.html"


def rate(work: object, seconds: float) -> float:
    count, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        work(count)  # type: ignore[operator]
        count += 1
    return count / elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core
    document = EMAIL.read_text()
    preparer = Preparer(TrackingUrls("https://t.example.com",
                                     Signer([SigningKey("k1", b"benchmark-secret-key")])))

    def prepare_one(i: int) -> None:
        preparer.prepare(document, recipient=f"person{i}@example.com", campaign_id="june")

    def parse_only(_: int) -> None:
        reader = html.parser.HTMLParser()
        reader.feed(document)
        reader.close()

    prepare_one(0)
    prepared = rate(prepare_one, args.seconds)
    reference = rate(parse_only, args.seconds)
    links = sum(1 for link in preparer.prepare(document, recipient="a@b.example",
                                               campaign_id="june").links)
    print(f"email: {EMAIL.name}, {len(document.encode()) / 1024:.1f} KB, {links} links")
    print(f"clicksift prepare:        {prepared:8.0f} messages/s  ({1000 / prepared:.2f} ms each)")
    print(f"reference html.parser:    {reference:8.0f} documents/s ({1000 / reference:.2f} ms "
          "each, parse only)")
    print(f"target 200 messages/s on one core: {'met' if prepared >= 200 else 'NOT met'}")
    emit({"benchmark": "prepare", "machine": machine(), "email_bytes": len(document.encode()),
          "links": links, "messages_per_second": round(prepared, 1),
          "reference_html_parser_per_second": round(reference, 1),
          "target_met": prepared >= 200})
    return 0


if __name__ == "__main__":
    sys.exit(main())
