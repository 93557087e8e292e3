"""Shared helpers for the benchmarks: machine facts, tool lookup, a clicksift server, the
JSON result line."""

from __future__ import annotations

import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx


def machine() -> dict[str, Any]:
    return {"python": platform.python_version(), "cpus": os.cpu_count(),
            "platform": platform.platform(terse=True)}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(url: str, timeout: float = 30) -> None:
    """Until URL answers anything over HTTP."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise SystemExit(f"{url} did not answer within {timeout:.0f} s")


@contextmanager
def clicksift_server(env: dict[str, str], prefix: Sequence[str] = ()) -> Iterator[str]:
    """`clicksift serve` on a free port of 127.0.0.1 with the CLICKSIFT_* settings in ENV,
    quiet (PREFIX before the command: `taskset -c 1` pins it and its children to a core);
    yields its base URL once /healthz answers, and stops it afterwards."""
    port = free_port()
    full = {**os.environ, "CLICKSIFT_PORT": str(port), "CLICKSIFT_LOG_LEVEL": "warning", **env}
    process = subprocess.Popen([*prefix, sys.executable, "-m", "clicksift", "serve"], env=full,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(base + "/healthz")
        yield base
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait()


def release_env(release: str | None) -> dict[str, str] | None:
    """The environment of a process that imports the clicksift installed in RELEASE (a
    folder, as `pip install --no-deps --target RELEASE ...` makes it); None: this checkout."""
    if release is None:
        return None
    return {**os.environ, "PYTHONPATH": os.pathsep.join(
        filter(None, (release, os.environ.get("PYTHONPATH"))))}


def check_release(release: str) -> None:
    """Exit unless a process with release_env(RELEASE) imports clicksift from RELEASE."""
    if not Path(release, "clicksift").is_dir():
        sys.exit(f"no clicksift installed in {release}: pip install --no-deps "
                 f"--target {release} the release to compare with")
    found = subprocess.run([sys.executable, "-c", "import clicksift; print(clicksift.__file__)"],
                           check=True, capture_output=True, text=True,
                           env=release_env(release)).stdout.strip()
    if not Path(found).resolve().is_relative_to(Path(release).resolve()):
        sys.exit(f"the reference run would import {found}, not the release in {release}")


def need(tool: str, package: str) -> str:
    found = shutil.which(tool) or (f"/usr/sbin/{tool}" if os.path.exists(f"/usr/sbin/{tool}")
                                   else None)
    if found is None:
        sys.exit(f"{tool} is not installed; install Debian's '{package}' package "
                 f"(apt-get install {package})")
    return found


def emit(result: dict[str, Any]) -> None:
    """The last line of every benchmark: one JSON object with its figures."""
    print(json.dumps(result, sort_keys=True))
