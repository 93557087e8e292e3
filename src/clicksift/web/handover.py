"""Connections handed over from a busy worker, so that batches spread over the workers.

A server of several worker processes shares one listening socket, and a kept-alive
connection stays with the worker that accepted it (emmett-framework/granian#849). Two
senders posting batches over kept-alive connections would often keep one worker busy and
leave the other idle. So a worker taking two bodies of events at once (the API's or the
ESP webhooks') answers the first it finishes with ``Connection: close`` (HTTP/1.1): that
sender reconnects, and the kernel may give its next batch to another worker. A lone
sender keeps its connection.
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from typing import Any, TypeVar

T = TypeVar("T")
CLOSE = {"connection": "close"}


class Handover:
    """Counts the bodies this worker is taking (all on its one event loop); ENABLED: the
    server has several workers."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.taking = 0

    async def take(self, scope: Mapping[str, Any], work: Awaitable[T]
                   ) -> tuple[T, dict[str, str]]:
        """WORK's result, and the headers its answer carries: ``Connection: close`` when
        another body came in meanwhile and the connection may be handed over."""
        self.taking += 1
        try:
            result = await work
            crowded = self.taking > 1
        finally:
            self.taking -= 1
        hand_over = self.enabled and crowded and scope.get("http_version") == "1.1"
        return result, dict(CLOSE) if hand_over else {}
