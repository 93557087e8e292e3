#!/usr/bin/env python3
"""A flame graph of the click hot path: py-spy samples `clicksift serve` (default set-up,
granian, one worker, SQLite) while wrk sends signed clicks, as in redirect.py.

Writes an SVG flame graph (default docs/img/redirect-flame.svg) and prints the functions
with the most samples, so where a click's time goes can be read without opening it. py-spy
is a sampling profiler (a separate process reading the server's memory): the server runs
at full speed while it is sampled. Needs wrk (scripts/system-deps --bench) and py-spy
(`pip install py-spy`), and root or ptrace permission.

    python benchmarks/profile_redirect.py [--seconds 10] [--output SVG]
"""

from __future__ import annotations

import argparse
import collections
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import emit, free_port, machine, need, wait_for
from clicksift.links import TrackingUrls, load_signer
from clicksift.settings import Settings
from clicksift.storage import open_store
from redirect import lua_script, run_wrk

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--output", default=str(ROOT / "docs/img/redirect-flame.svg"))
    args = parser.parse_args()
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(spy).exists():
        sys.exit("py-spy is not installed: pip install py-spy")
    need("wrk", "wrk")
    with tempfile.TemporaryDirectory(prefix="clicksift-profile-") as tmp:
        folder = Path(tmp)
        db = folder / "profile.db"
        with open_store(Settings(database=str(db))) as store:
            urls = TrackingUrls("http://127.0.0.1", load_signer("", store))
        now = int(time.time())
        paths = ["/c/" + urls.click(f"m{i:05d}", i % 7, "content",
                                    f"https://shop.example.com/p/{i}", now).rsplit("/c/", 1)[1]
                 for i in range(1000)]
        script = lua_script(paths, folder)
        port = free_port()
        env = {**os.environ, "CLICKSIFT_DATABASE": str(db), "CLICKSIFT_PORT": str(port),
               "CLICKSIFT_LOG_LEVEL": "warning"}
        server = subprocess.Popen([sys.executable, "-m", "clicksift", "serve"], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                  start_new_session=True)
        base = f"http://127.0.0.1:{port}"
        raw = folder / "profile.txt"
        try:
            wait_for(base + "/healthz")
            run_wrk(base + paths[0], 2, args.connections, script)       # warm-up
            Path(args.output).parent.mkdir(parents=True, exist_ok=True)
            record = [spy, "record", "--pid", str(server.pid), "--subprocesses",
                      "--duration", str(args.seconds), "--rate", "200", "--nonblocking"]
            svg = subprocess.Popen([*record, "--output", args.output],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            folded = subprocess.Popen([*record, "--format", "raw", "--output", str(raw)],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            time.sleep(1)
            load = run_wrk(base + paths[0], args.seconds, args.connections, script)
            svg.wait()
            folded.wait()
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait()
        own, total = collections.Counter[str](), 0
        for line in raw.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            frames = stack.split(";")
            total += int(count)
            for frame in set(frames):
                own[frame.split(" (")[0].strip()] += int(count)
    print(f"{load['requests_per_second']:,.0f} requests/s while sampled; flame graph: "
          f"{args.output}")
    print("functions on the most sampled stacks (share of all samples):")
    top = [(name, n / total) for name, n in own.most_common(40)
           if not name.startswith(("<module>", "process ", "thread "))][:20]
    for name, share in top:
        print(f"  {share:6.1%}  {name[:68]}")
    emit({"benchmark": "profile_redirect", "machine": machine(), "samples": total,
          "requests_per_second": load["requests_per_second"], "svg": args.output,
          "top": [{"function": n, "share": round(s, 4)} for n, s in top]})
    return 0


if __name__ == "__main__":
    sys.exit(main())
