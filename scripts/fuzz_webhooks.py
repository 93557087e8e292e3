#!/usr/bin/env python3
"""Post poisoned ESP webhook bodies to a real tracking server and count its answers.

Starts `clicksift serve` on loopback with a fresh SQLite store (unsigned webhooks allowed,
so the bodies reach the parsers), posts BODIES bodies made from the documented fixtures
with values swapped for poison (tests/poison.py), and checks that none is answered with a
server error. Ends with one JSON line; exits 1 when any answer was a 5xx.

    scripts/fuzz_webhooks.py [--bodies 2000] [--seed 1]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.poison import random_bodies  # noqa: E402 (the repository's own test data)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start(folder: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    env = {**os.environ, "CLICKSIFT_DATABASE": str(folder / "fuzz.db"),
           "CLICKSIFT_PORT": str(port), "CLICKSIFT_HOST": "127.0.0.1",
           "CLICKSIFT_ALLOW_UNSIGNED_WEBHOOKS": "all", "CLICKSIFT_LOG_LEVEL": "error"}
    log = open(folder / "server.log", "wb")   # noqa: SIM115 (open while the server runs)
    server = subprocess.Popen([sys.executable, "-m", "clicksift", "serve"], env=env,
                              stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return server, base
        except httpx.HTTPError:
            time.sleep(0.1)
    server.kill()
    raise SystemExit(f"the server did not start; see {folder / 'server.log'}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bodies", type=int, default=2000, help="bodies to post")
    parser.add_argument("--seed", type=int, default=1, help="random seed")
    args = parser.parse_args()
    from clicksift.ingest import ADAPTERS

    webhooks = {name for name, adapter in ADAPTERS.items() if adapter.webhook}
    bodies = [b for b in random_bodies(random.Random(args.seed), args.bodies * 2)
              if b[0] in webhooks][:args.bodies]
    statuses: Counter[int] = Counter()
    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="clicksift-fuzz-") as tmp:
        server, base = _start(Path(tmp))
        try:
            with httpx.Client(timeout=30) as client:
                for number, (esp, body, content_type) in enumerate(bodies, 1):
                    answer = client.post(f"{base}/webhooks/{esp}", content=body,
                                         headers={"content-type": content_type})
                    statuses[answer.status_code] += 1
                    if answer.status_code >= 500 and len(failures) < 5:
                        failures.append(f"{esp}: {answer.status_code} {answer.text[:120]}")
                    if number % 250 == 0 or number == len(bodies):
                        print(f"  {number:,}/{len(bodies):,} bodies posted", file=sys.stderr)
        finally:
            server.terminate()
            server.wait(timeout=30)
    errors = sum(n for status, n in statuses.items() if status >= 500)
    for failure in failures:
        print(f"server error: {failure}", file=sys.stderr)
    print(json.dumps({"bodies": len(bodies), "server_errors": errors,
                      "statuses": {str(k): v for k, v in sorted(statuses.items())}}))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
