#!/usr/bin/env python3
"""Click redirects per second and latency, each click durably recorded, against nginx.

Runs, on this machine and in this run:
  * nginx answering a static 302 (the reference: what the hardware and the load client allow),
  * granian serving a bare ASGI app that answers a static 302 (the floor of any Python app
    under the same server: no token, no event, no storage),
  * the clicksift tracking server (granian and uvicorn), every click written to SQLite with
    group commit before its 302 is sent,
with Debian's wrk at 64 connections over loopback, rotating through 1,000 distinct signed
click tokens. After each clicksift run it checks that the store holds at least as many
click events as wrk received responses.

With --pin, wrk runs on core 0 and every server under test (nginx with one worker, the bare
granian app, clicksift with its workers and housekeeper) on core 1 (taskset), so each figure
is what one core of server does; --runs repeats each measurement and prints the minimum,
median and maximum.

A last row runs the default clicksift on PostgreSQL (--postgres URL, or a throwaway cluster
started here with Debian's initdb and pg_ctl when they are installed; --no-postgres skips
it). Under --pin the PostgreSQL server shares the server core.

    python benchmarks/redirect.py [--seconds 10] [--connections 64] [--servers granian,uvicorn]
                                  [--pin] [--runs 3] [--postgres URL | --no-postgres]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import clicksift_server, emit, free_port, machine, need, wait_for
from clicksift.links import TrackingUrls, load_signer
from clicksift.settings import Settings
from clicksift.storage import open_store

#: Settings every clicksift run gets (--setting), as CLICKSIFT_* variables.
EXTRA_SETTINGS: dict[str, str] = {}

NGINX_CONF = """
worker_processes 1;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/nginx-error.log warn;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  client_body_temp_path {dir}/body;
  proxy_temp_path {dir}/proxy;
  fastcgi_temp_path {dir}/fastcgi;
  uwsgi_temp_path {dir}/uwsgi;
  scgi_temp_path {dir}/scgi;
  server {{
    listen 127.0.0.1:{port};
    location /c/ {{ add_header Cache-Control no-store; return 302 https://shop.example.com/p/1; }}
  }}
}}
"""


def lua_script(paths: list[str], folder: Path) -> Path:
    body = ",\n".join(f'"{p}"' for p in paths)
    script = folder / "rotate.lua"
    script.write_text(
        f"paths = {{\n{body}\n}}\ncounter = 0\n"
        "request = function()\n  counter = counter + 1\n"
        "  return wrk.format('GET', paths[(counter % #paths) + 1], "
        "{['User-Agent'] = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
        "(KHTML, like Gecko) Chrome/124.0 Safari/537.36', ['Accept'] = 'text/html', "
        "['Accept-Language'] = 'en-GB,en;q=0.9'})\nend\n")
    return script


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}
#: Command prefixes that pin the load generator and the servers (--pin), else empty.
PIN: dict[str, list[str]] = {"client": [], "server": []}


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(number) * _UNITS[unit]


def run_wrk(url: str, seconds: int, connections: int, script: Path | None) -> dict[str, Any]:
    wrk = need("wrk", "wrk")
    args = [*PIN["client"], wrk, "-t1", f"-c{connections}", f"-d{seconds}s", "--latency"]
    if script is not None:
        args += ["-s", str(script)]
    output = subprocess.run([*args, url], capture_output=True, text=True, check=True).stdout
    latency = dict(re.findall(r"^\s+(50|75|90|99)%\s+(\S+)\s*$", output, re.MULTILINE))
    if "99" not in latency:
        sys.exit(f"wrk printed no latency distribution for {url}:\n{output}")
    requests = int(re.search(r"(\d+) requests in", output).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = re.search(r"Socket errors: (.*)", output)
    return {"requests_per_second": float(re.search(r"Requests/sec:\s+([\d.]+)",
                                                     output).group(1)),  # type: ignore[union-attr]
            "p50_ms": _ms(latency["50"]), "p99_ms": _ms(latency["99"]), "requests": requests,
            "bad_responses": int(errors.group(1)) if errors else 0,
            "socket_errors": socket_errors.group(1) if socket_errors else None}


def bench_static(command: list[str], port: int, seconds: int,
                 connections: int) -> dict[str, Any]:
    """Start COMMAND (a server answering a static 302 on PORT), measure it, stop it."""
    process = subprocess.Popen([*PIN["server"], *command], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        url = f"http://127.0.0.1:{port}/c/x"
        wait_for(url)
        run_wrk(url, 2, connections, None)  # warm-up
        return run_wrk(url, seconds, connections, None)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait()


def bench_nginx(folder: Path, seconds: int, connections: int) -> dict[str, Any]:
    nginx = need("nginx", "nginx-light")
    port = free_port()
    conf = folder / "nginx.conf"
    conf.write_text(NGINX_CONF.format(dir=folder, port=port))
    return bench_static([nginx, "-c", str(conf), "-p", str(folder)], port, seconds,
                        connections)


def bench_floor(seconds: int, connections: int) -> dict[str, Any]:
    """granian serving a bare ASGI app that answers a static 302: the Python server's floor."""
    port = free_port()
    return bench_static(
        [sys.executable, "-m", "granian", "--interface", "asgi", "--loop", "uvloop",
         "--host", "127.0.0.1", "--port", str(port), "--workers", "1", "--no-log",
         "--working-dir", str(Path(__file__).resolve().parent), "_static302:app"],
        port, seconds, connections)


@contextlib.contextmanager
def wal_watch(wal: Path) -> Iterator[dict[str, int]]:
    """The largest size the WAL file reaches while the block runs (polled every 50 ms)."""
    seen = {"peak": 0}
    done = threading.Event()

    def poll() -> None:
        while not done.wait(0.05):
            with contextlib.suppress(OSError):
                seen["peak"] = max(seen["peak"], wal.stat().st_size)

    watcher = threading.Thread(target=poll, daemon=True)
    watcher.start()
    try:
        yield seen
    finally:
        done.set()
        watcher.join()


def _stored_events(database: str) -> int:
    store = open_store(Settings(database=database), migrate=False)
    try:
        return int(store.execute("SELECT COUNT(*) FROM events").fetchone()[0])
    finally:
        store.close()


@contextlib.contextmanager
def postgres_database(url: str | None, folder: Path) -> Iterator[str | None]:
    """A database URL on PostgreSQL: URL, a throwaway cluster, or None without one."""
    if url:
        yield url
        return
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from tests.support import PostgresCluster

    if not PostgresCluster.available():
        print("PostgreSQL is not installed (initdb, pg_ctl): no PostgreSQL row")
        yield None
        return
    import psycopg

    cluster = PostgresCluster()
    cluster.start()
    try:
        database = cluster.fresh_database("redirect_bench")
        with psycopg.connect(database, autocommit=True) as connection:
            # the test cluster starts without fsync; a benchmark of durable clicks needs it
            connection.execute("ALTER SYSTEM SET fsync = on")
            connection.execute("SELECT pg_reload_conf()")
        yield database
    finally:
        cluster.stop()


def bench_clicksift(folder: Path, server: str, seconds: int, connections: int,
                    workers: int, synchronous: str, online_verdicts: bool,
                    database: str | None = None) -> dict[str, Any]:
    db = folder / f"{server}-{workers}-{synchronous}-{online_verdicts}.db"
    database = database or str(db)
    store = open_store(Settings(database=database))
    urls = TrackingUrls("http://127.0.0.1", load_signer("", store))
    store.close()
    now = int(time.time())
    paths = ["/c/" + urls.click(f"m{i:05d}", i % 7, "content",
                                f"https://shop.example.com/p/{i}?utm_source=email", now)
             .rsplit("/c/", 1)[1] for i in range(1000)]
    script = lua_script(paths, folder)
    env = {"CLICKSIFT_DATABASE": database, "CLICKSIFT_SERVER": server,
           "CLICKSIFT_WORKERS": str(workers), "CLICKSIFT_SQLITE_SYNCHRONOUS": synchronous,
           "CLICKSIFT_ONLINE_VERDICTS": "true" if online_verdicts else "false",
           **EXTRA_SETTINGS}
    with clicksift_server(env, PIN["server"]) as base:
        run_wrk(base + paths[0], 2, connections, script)  # warm-up
        before = _stored_events(database)
        with wal_watch(Path(f"{db}-wal")) as wal:
            result = run_wrk(base + paths[0], seconds, connections, script)
        result["wal_peak_mb"] = round(wal["peak"] / 2**20, 1)
    stored = _stored_events(database) - before
    result["events_stored"] = stored
    result["every_answer_stored"] = stored >= result["requests"] - result["bad_responses"]
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--servers", default="granian,uvicorn")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--pin", action="store_true",
                        help="wrk on core 0, the servers on core 1 (taskset)")
    parser.add_argument("--runs", type=int, default=1, help="repeat each measurement")
    parser.add_argument("--postgres", metavar="URL",
                        help="the PostgreSQL database of the PostgreSQL row (default: a "
                        "throwaway cluster)")
    parser.add_argument("--no-postgres", action="store_true", help="no PostgreSQL row")
    parser.add_argument("--setting", action="append", default=[], metavar="NAME=VALUE",
                        help="a clicksift setting for every clicksift run (repeat), e.g. "
                        "report_refresh_seconds=0")
    args = parser.parse_args()
    for item in args.setting:
        name, sep, value = item.partition("=")
        if not sep:
            sys.exit(f"--setting {item!r}: use NAME=VALUE")
        EXTRA_SETTINGS[f"CLICKSIFT_{name.upper()}"] = value
    if args.pin:
        if (os.cpu_count() or 1) < 2:
            sys.exit("--pin needs two cores: one for wrk, one for the server")
        taskset = need("taskset", "util-linux")
        PIN.update(client=[taskset, "-c", "0"], server=[taskset, "-c", "1"])
    servers = args.servers.split(",")
    # (name, server, SQLite synchronous, online verdicts); the first is the default set-up.
    runs = [(f"clicksift_{servers[0]}", servers[0], "normal", True),
            (f"clicksift_{servers[0]}_no_online_verdicts", servers[0], "normal", False),
            (f"clicksift_{servers[0]}_synchronous_full", servers[0], "full", True)]
    runs += [(f"clicksift_{name}", name, "normal", True) for name in servers[1:]]
    results: dict[str, Any] = {"machine": machine(), "connections": args.connections,
                               "seconds": args.seconds, "pinned": args.pin, "runs": args.runs,
                               "settings": args.setting}
    samples: dict[str, list[dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory(prefix="clicksift-bench-") as tmp, \
            (contextlib.nullcontext(None) if args.no_postgres
             else postgres_database(args.postgres, Path(tmp))) as postgres:
        folder = Path(tmp)
        if postgres:
            runs.append((f"clicksift_{servers[0]}_postgres", servers[0], "normal", True))
        for number in range(args.runs):
            print(f"run {number + 1} of {args.runs}: nginx static 302 (reference), "
                  f"{args.connections} connections ...", flush=True)
            samples.setdefault("nginx", []).append(
                bench_nginx(folder, args.seconds, args.connections))
            print("granian with a bare ASGI app answering a static 302 (floor) ...", flush=True)
            samples.setdefault("granian_static_302", []).append(
                bench_floor(args.seconds, args.connections))
            run_folder = folder / f"run{number}"        # a fresh store for each run
            run_folder.mkdir()
            for name, server, level, verdicts in runs:
                on_postgres = name.endswith("_postgres")
                print(f"{name}: {server}, {args.workers} worker(s), "
                      f"{'PostgreSQL' if on_postgres else f'SQLite synchronous={level}'}, "
                      f"online verdicts {'on' if verdicts else 'off'} ...", flush=True)
                samples.setdefault(name, []).append(bench_clicksift(
                    run_folder, server, args.seconds, args.connections, args.workers, level,
                    verdicts, postgres if on_postgres else None))
    for name, rows in samples.items():
        results[name] = _median_row(rows)
    reference = results["nginx"]["requests_per_second"]
    floor = results["granian_static_302"]["requests_per_second"]
    names = [name for name, *_ in runs]
    print(f"\n{'pinned: one core of server' if args.pin else 'unpinned'}, median of "
          f"{args.runs} run(s){' (min-max req/s)' if args.runs > 1 else ''}")
    print(f"{'server':<38}{'req/s':>10}{'% nginx':>9}{'% floor':>9}{'p50 ms':>8}"
          f"{'p99 ms':>8}  stored")
    for name in ["nginx", "granian_static_302", *names]:
        row = results[name]
        share = 100 * row["requests_per_second"] / reference
        row["share_of_nginx"] = round(share / 100, 4)
        row["share_of_floor"] = round(row["requests_per_second"] / floor, 4)
        stored = "-" if "events_stored" not in row else (
            f"{row['events_stored']:,} ({'all' if row['every_answer_stored'] else 'MISSING'})")
        print(f"{name:<38}{row['requests_per_second']:>10,.0f}{share:>8.1f}%"
              f"{100 * row['share_of_floor']:>8.1f}%{row['p50_ms']:>8.2f}"
              f"{row['p99_ms']:>8.2f}  {stored}")
        if args.runs > 1:
            print(f"{'':<38}({row['min_requests_per_second']:,.0f}-"
                  f"{row['max_requests_per_second']:,.0f})")
    for name in names:
        if not name.endswith("_postgres"):
            print(f"{name}: the SQLite WAL peaked at {results[name]['wal_peak_mb']:,.1f} MB")
    default = results[names[0]]  # the default server at the default durability
    results["default"] = names[0]
    results["target_met"] = default["share_of_nginx"] >= 0.20 and default["p99_ms"] < 20
    print(f"target (default {names[0]}: at least 20% of nginx, p99 under 20 ms): "
          f"{'met' if results['target_met'] else 'NOT met'}")
    emit(results)
    return 0


def _median_row(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The run with the median requests per second, with the minimum and maximum beside it
    (and every answer stored only if it was in every run)."""
    ordered = sorted(rows, key=lambda row: row["requests_per_second"])
    row = dict(ordered[(len(ordered) - 1) // 2])
    rates = [r["requests_per_second"] for r in ordered]
    row.update(min_requests_per_second=rates[0], max_requests_per_second=rates[-1],
               median_requests_per_second=statistics.median(rates))
    if "every_answer_stored" in row:
        row["every_answer_stored"] = all(r["every_answer_stored"] for r in rows)
    return row


if __name__ == "__main__":
    sys.exit(main())
