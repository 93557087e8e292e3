"""Shared helpers for the benchmarks: machine facts, tool lookup, JSON result line."""

from __future__ import annotations

import json
import os
import platform
import shutil
import socket
import sys
from typing import Any


def machine() -> dict[str, Any]:
    return {"python": platform.python_version(), "cpus": os.cpu_count(),
            "platform": platform.platform(terse=True)}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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
