"""The batch classifier's spill files: events, digests and verdicts as plain JSON rows, a
chunk of rows per line (orjson), written and read back by the same run.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import orjson

from clicksift.classify.observe import EventDigest, shared_missing
from clicksift.classify.signals.request import PRESENCE_ONLY, READ_HEADERS
from clicksift.classify.vocabulary import Finding, Verdict
from clicksift.events import Event, Link, dumps, loads

#: How a verdict becomes a line of output.
Render = Callable[[Verdict], str]
CHUNK = 2_000                  # rows per line in spill files


ORDER_BLOCK = 1 << 20          # bucket numbers kept in memory before they go to disk


class ChunkWriter:
    """Appends rows to a spill file: a JSON array of CHUNK rows per line (orjson writes it
    several times faster than pickle, and reads it as fast)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._handle: IO[bytes] = open(path, "wb")  # noqa: SIM115
        self._rows: list[Any] = []

    def add(self, row: Any) -> None:
        self._rows.append(row)
        if len(self._rows) >= CHUNK:
            self._flush()

    def _flush(self) -> None:
        if self._rows:
            try:
                data = orjson.dumps(self._rows)
            except TypeError:   # integers beyond 64 bits (an ESP's ids in esp_flags)
                data = dumps(self._rows).encode("utf-8")
            self._handle.write(data + b"\n")
            self._rows = []

    def close(self) -> None:
        self._flush()
        self._handle.close()


def read_chunks(path: Path) -> Iterator[Any]:
    """The rows of a spill file, as lists (JSON arrays)."""
    with open(path, "rb") as handle:
        for line in handle:
            yield from loads(line)


# Digests, findings and verdicts travel through spill files as plain arrays, and come back
# as lists: the readers rebuild the tuples.
def flat_digest(s: EventDigest) -> tuple[Any, ...]:
    return (s.seq, s.event_id, s.type, s.ts, s.message_id, s.domain, s.source, s.address,
            s.delta, s.findings, s.missing, s.lead)


def digest_of_row(row: list[Any]) -> EventDigest:
    seq, event_id, kind, ts, message_id, domain, source, address, delta, flat = row[:10]
    return EventDigest(seq, event_id, kind, ts, message_id, domain, source, address, delta,
                       flat, shared_missing(tuple(row[10])), row[11])


def flat_verdict(v: Verdict) -> tuple[Any, ...]:
    return (v.id, v.verdict, v.score, v.kind, v.vendor, [tuple(f) for f in v.reasons], v.final)


def verdict_of_row(row: list[Any]) -> Verdict:
    reasons = tuple(tuple.__new__(Finding, f) for f in row[5])
    return Verdict(row[0], row[1], row[2], row[3], row[4], reasons, row[6])


#: The parts of an event's raw object the classifier reads (the rest is not spilled).
RAW_KEYS = ("headers", "prepared_at", "link_index")


def flat_event(e: Event) -> tuple[Any, ...]:
    links = None if e.links is None else tuple((link.url, link.kind) for link in e.links)
    raw = {key: e.raw[key] for key in RAW_KEYS if key in e.raw}
    if "headers" in raw:
        raw["headers"] = True  # e.headers has them; the classifier asks only whether any came
    headers = {name: "" if name in PRESENCE_ONLY else value
               for name, value in e.headers.items() if name in READ_HEADERS}
    return (e.type, e.id, e.message_id, e.ts, e.campaign_id, e.recipient, links, e.url,
            e.link_kind, e.ip, e.user_agent, e.method, headers, e.form, e.source,
            e.esp_flags, raw)


def event_of_row(row: list[Any]) -> Event:
    """An event back from a spill file (it was checked when it was read)."""
    (kind, event_id, message_id, ts, campaign_id, recipient, flat_links, url, link_kind, ip,
     user_agent, method, headers, form, source, esp_flags, raw) = row
    links = None if flat_links is None else tuple(Link(u, k) for u, k in flat_links)
    return Event(kind, event_id, message_id, ts, campaign_id, recipient, links, url, link_kind,
                 ip, user_agent, method, headers, form, source, esp_flags, raw)


def write_digests(path: Path, messages: list[list[EventDigest]]) -> Path:
    writer = ChunkWriter(path)
    for message in messages:
        writer.add([flat_digest(s) for s in message])
    writer.close()
    return path


def write_verdicts(path: Path, rows: list[tuple[int, Verdict]], render: Render | None
                    ) -> Path:
    """A bucket's verdicts in input order; or, with RENDER, the lines it makes of them (a
    line is one value to write and read back, a verdict dozens)."""
    if render is None:
        writer = ChunkWriter(path)
        for _, verdict in rows:
            writer.add(flat_verdict(verdict))
        writer.close()
        return path
    with open(path, "w", encoding="utf-8", newline="\n") as handle:
        handle.writelines(one_line(render(verdict)) for _, verdict in rows)
    return path


def one_line(text: str) -> str:
    if not text.endswith("\n") or text.count("\n") != 1:
        raise ValueError(f"a rendered verdict must be one line ending in a newline: {text!r}")
    return text


def read_lines(path: Path) -> Iterator[str]:
    with open(path, encoding="utf-8", newline="\n") as handle:
        yield from handle


def read_order(folder: Path) -> Iterator[int]:
    """The buckets of the verdicts in input order (the parts of a parallel read in order)."""
    for path in sorted(folder.glob("order*.bin")):
        size = path.stat().st_size // 2
        with open(path, "rb") as handle:
            while size > 0:
                block = array("H")
                block.fromfile(handle, min(size, ORDER_BLOCK))
                size -= len(block)
                yield from block


def read_digests(path: Path) -> Iterator[list[EventDigest]]:
    for message in read_chunks(path):
        yield [digest_of_row(row) for row in message]
