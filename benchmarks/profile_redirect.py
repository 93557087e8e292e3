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


def _short(frame: str) -> str:
    """'name (path/to/clicksift/module.py:12)' -> 'name (module.py)'."""
    name, _, where = frame.partition(" (")
    return f"{name} ({Path(where.split(':')[0]).name})" if where else name


def _role(frames: list[str], main_pid: int) -> str:
    """Which of the server's processes a stack was sampled in (py-spy names the processes
    from the root down: the last such frame is the one sampled)."""
    process = [frame for frame in frames if frame.startswith("process ")][-1]
    if "housekeeping" in process:
        return "housekeeper (rollups, outbound webhooks, settling)"
    if process.startswith(f"process {main_pid}:"):
        return "supervisor (granian's main process)"
    return "worker (granian's I/O in Rust, the app, the writer thread)"


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
        stacks = raw.read_text().splitlines()
    processes, leaves, inclusive = (collections.Counter[str](), collections.Counter[str](),
                                    collections.Counter[str]())
    total = 0
    for line in stacks:
        stack, _, count = line.rpartition(" ")
        frames = [frame.strip() for frame in stack.split(";")]
        samples = int(count)
        total += samples
        processes[_role(frames, server.pid)] += samples
        leaves[_short(frames[-1])] += samples
        for frame in {_short(f) for f in frames
                      if "clicksift" in f and not f.startswith("process ")}:
            inclusive[frame] += samples
    print(f"{load['requests_per_second']:,.0f} requests/s while sampled (py-spy slows the "
          f"server); flame graph: {args.output}")
    print("where the busy samples are, by process:")
    for role, n in processes.most_common():
        print(f"  {n / total:6.1%}  {role}")
    print("clicksift functions on the stack (inclusive):")
    for name, n in inclusive.most_common(15):
        print(f"  {n / total:6.1%}  {name[:68]}")
    print("innermost frames (self time):")
    for name, n in leaves.most_common(12):
        print(f"  {n / total:6.1%}  {name[:68]}")
    emit({"benchmark": "profile_redirect", "machine": machine(), "samples": total,
          "requests_per_second": load["requests_per_second"], "svg": args.output,
          "processes": {r: round(n / total, 4) for r, n in processes.items()},
          "inclusive": {f: round(n / total, 4) for f, n in inclusive.most_common(15)},
          "self": {f: round(n / total, 4) for f, n in leaves.most_common(12)}})
    return 0


if __name__ == "__main__":
    sys.exit(main())
