"""What ESP records could not be read (``clicksift.ingest.problems``)."""

from __future__ import annotations

from typing import NamedTuple

#: {notes}: the dialect's expression for data's parse_notes; {esp}: empty or "AND source = ?".
NOTED_EVENTS = """
SELECT source, type, id, message_id, data FROM events
WHERE {notes} IS NOT NULL {esp} ORDER BY seq DESC LIMIT ?"""
OF_ESP = "AND source = ?"


class NotedEvent(NamedTuple):
    source: str | None
    type: str
    id: str
    message_id: str
    data: str
