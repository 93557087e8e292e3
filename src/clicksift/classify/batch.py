"""Batch classification of event streams with bounded memory.

1. Read and check every event (file and line in any error), and deal it into a bucket by a
   hash of its message id, so all of a message's events meet in one bucket.
2. First pass, bucket by bucket: per-event and message-context findings; each message's
   events are reduced to summaries, and the cross-message aggregator sees them.
3. Second pass: cross-message findings and the verdicts, per bucket in input order.
4. The buckets' verdicts are merged back into the input order.

Small inputs stay in memory; larger ones spill buckets to a private temporary folder, so
memory grows with the largest bucket rather than the input. Spill files hold only plain
built-in values (pickled in chunks), which this process writes and reads back itself.
"""

from __future__ import annotations

import gc
import heapq
import os
import pickle
import tempfile
import zlib
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from clicksift.classify.engine import Engine
from clicksift.classify.observe import Summary
from clicksift.classify.signals.crossmessage import CrossMessage
from clicksift.classify.vocabulary import Finding, Verdict
from clicksift.events import ENGAGEMENT_TYPES, Event, Link

IN_MEMORY_EVENTS = 250_000     # up to this many events, no files
EVENTS_PER_BUCKET = 100_000    # target bucket size when spilling
CHUNK = 2_000                  # rows per pickle in spill files
Progress = Callable[[str, int], None]


@dataclass
class BatchStats:
    events: int = 0
    classified: int = 0
    nhi: int = 0
    buckets: int = 1
    by_type: dict[str, dict[str, int]] = field(default_factory=dict)

    def count(self, event_type: str, verdict: Verdict) -> None:
        self.classified += 1
        row = self.by_type.setdefault(event_type, {"human": 0, "nhi": 0})
        row[verdict.verdict] += 1
        if verdict.verdict == "nhi":
            self.nhi += 1


class _ChunkWriter:
    """Appends rows to a spill file, a pickled list of CHUNK rows at a time."""

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
            pickle.dump(self._rows, self._handle, protocol=pickle.HIGHEST_PROTOCOL)
            self._rows = []

    def close(self) -> None:
        self._flush()
        self._handle.close()


def _read_chunks(path: Path) -> Iterator[Any]:
    with open(path, "rb") as handle:
        while True:
            try:
                rows = pickle.load(handle)  # noqa: S301 - our own spill file
            except EOFError:
                return
            yield from rows


# Findings and verdicts travel through spill files as plain tuples (their named-tuple
# classes would be pickled one Python call at a time).
def _flat_summary(s: Summary) -> tuple[Any, ...]:
    return (s.seq, s.event_id, s.type, s.ts, s.message_id, s.domain, s.source, s.address,
            s.delta, [tuple(f) for f in s.findings], s.missing)


def _summary(row: tuple[Any, ...]) -> Summary:
    findings = [tuple.__new__(Finding, f) for f in row[9]]
    seq, event_id, kind, ts, message_id, domain, source, address, delta = row[:9]
    return Summary(seq, event_id, kind, ts, message_id, domain, source, address, delta,
                   findings, row[10])


def _flat_verdict(seq: int, v: Verdict) -> tuple[Any, ...]:
    return (seq, v.id, v.verdict, v.score, v.kind, v.vendor, [tuple(f) for f in v.reasons],
            v.final)


def _verdict(row: tuple[Any, ...]) -> tuple[int, Verdict]:
    reasons = tuple(tuple.__new__(Finding, f) for f in row[6])
    return row[0], Verdict(row[1], row[2], row[3], row[4], row[5], reasons, row[7])


#: The parts of an event's raw object the classifier reads (the rest is not spilled).
_RAW_KEYS = ("headers", "prepared_at", "link_index")


def _flat_event(e: Event) -> tuple[Any, ...]:
    links = None if e.links is None else tuple((link.url, link.kind) for link in e.links)
    raw = {key: e.raw[key] for key in _RAW_KEYS if key in e.raw}
    if "headers" in raw:
        raw["headers"] = True  # e.headers has them; the classifier asks only whether any came
    return (e.type, e.id, e.message_id, e.ts, e.campaign_id, e.recipient, links, e.url,
            e.link_kind, e.ip, e.user_agent, e.method, e.headers, e.form, e.source,
            e.esp_flags, raw)


def _event(row: tuple[Any, ...]) -> Event:
    """An event back from a spill file (it was checked when it was read)."""
    (kind, event_id, message_id, ts, campaign_id, recipient, flat_links, url, link_kind, ip,
     user_agent, method, headers, form, source, esp_flags, raw) = row
    links = None if flat_links is None else tuple(Link(u, k) for u, k in flat_links)
    return Event(kind, event_id, message_id, ts, campaign_id, recipient, links, url, link_kind,
                 ip, user_agent, method, headers, form, source, esp_flags, raw)


class _Buckets:
    """Events dealt by message; in memory, or spilled to files as their raw objects."""

    def __init__(self, count: int, folder: Path | None) -> None:
        self.count = count
        self.folder = folder
        self._memory: list[tuple[int, Event]] = []
        self._writers = [_ChunkWriter(folder / f"events-{i}.bin") for i in range(count)] \
            if folder is not None else []

    def add(self, seq: int, event: Event) -> None:
        if self.folder is None:
            self._memory.append((seq, event))
            return
        index = zlib.crc32(event.message_id.encode("utf-8", "surrogatepass")) % self.count
        self._writers[index].add((seq, _flat_event(event)))

    def close(self) -> None:
        for writer in self._writers:
            writer.close()

    def read(self, index: int) -> Iterator[tuple[int, Event]]:
        if self.folder is None:
            memory, self._memory = self._memory, []
            yield from memory
            return
        path = self.folder / f"events-{index}.bin"
        for seq, row in _read_chunks(path):
            yield seq, _event(row)
        os.remove(path)


def _group(items: Iterable[tuple[int, Event]]) -> dict[str, list[tuple[int, Event]]]:
    messages: dict[str, list[tuple[int, Event]]] = defaultdict(list)
    for seq, event in items:
        messages[event.message_id].append((seq, event))
    return messages


@contextmanager
def _few_collections() -> Iterator[None]:
    """Batch classification makes millions of small objects that live until the second
    pass; Python's cycle collector would walk them again and again (half the run time).
    They form no cycles, so collect far less often while the batch runs."""
    before = gc.get_threshold()
    gc.set_threshold(50_000, 50, 1000)
    try:
        yield
    finally:
        gc.set_threshold(*before)


class BatchClassifier:
    def __init__(self, engine: Engine | None = None, *, progress: Progress | None = None,
                 in_memory_events: int = IN_MEMORY_EVENTS) -> None:
        self.engine = engine or Engine()
        self.progress = progress or (lambda stage, n: None)
        self.in_memory_events = in_memory_events
        self.stats = BatchStats()

    def classify(self, events: Iterable[Event], expected: int | None = None
                 ) -> Iterator[Verdict]:
        """Verdicts for every open, click and unsubscribe of EVENTS, in input order.

        EXPECTED (an estimate of the number of events) decides whether to spill to disk."""
        spill = expected is None or expected > self.in_memory_events
        with tempfile.TemporaryDirectory(prefix="clicksift-classify-") as tmp, \
                _few_collections():
            folder = Path(tmp) if spill else None
            buckets = self._deal(events, folder, expected)
            yield from self._classify_buckets(buckets, folder)

    def _deal(self, events: Iterable[Event], folder: Path | None,
              expected: int | None) -> _Buckets:
        count = 1 if folder is None else max(8, min(512, (expected or 0) // EVENTS_PER_BUCKET
                                                    + 1))
        buckets = _Buckets(count, folder)
        for seq, event in enumerate(events):
            buckets.add(seq, event)
            self.stats.events += 1
            if seq % 50_000 == 0:
                self.progress("reading", seq)
        buckets.close()
        self.stats.buckets = count
        return buckets

    def _first_pass(self, buckets: _Buckets, folder: Path | None,
                    cross: CrossMessage) -> list[Any]:
        kept: list[Any] = []
        done = 0
        for index in range(buckets.count):
            messages: list[list[Summary]] = []
            for seqs_events in _group(buckets.read(index)).values():
                seqs = {id(event): seq for seq, event in seqs_events}
                observed = self.engine.observe([event for _, event in seqs_events])
                message = [obs.summary(seqs[id(obs.event)]) for obs in observed]
                cross.observe_message(message)
                messages.append(message)
                done += len(seqs_events)
            if folder is None:
                kept.append(messages)
            else:
                writer = _ChunkWriter(folder / f"summaries-{index}.bin")
                for message in messages:
                    writer.add([_flat_summary(s) for s in message])
                writer.close()
                kept.append(writer.path)
            self.progress("classifying", done)
        return kept

    def _classify_buckets(self, buckets: _Buckets, folder: Path | None) -> Iterator[Verdict]:
        cross = CrossMessage()
        kept = self._first_pass(buckets, folder, cross)
        outputs: list[Iterator[tuple[int, Verdict]]] = []
        for index, item in enumerate(kept):
            if folder is None:
                outputs.append(iter(sorted(self._judge_bucket(cross, item),
                                           key=lambda row: row[0])))
                continue
            messages = ([_summary(row) for row in message] for message in _read_chunks(item))
            rows = sorted(self._judge_bucket(cross, messages), key=lambda row: row[0])
            os.remove(item)
            writer = _ChunkWriter(folder / f"verdicts-{index}.bin")
            for seq, verdict in rows:
                writer.add(_flat_verdict(seq, verdict))
            writer.close()
            outputs.append(_verdict(row) for row in _read_chunks(writer.path))
        for _, verdict in heapq.merge(*outputs, key=lambda row: row[0]):
            yield verdict

    def _judge_bucket(self, cross: CrossMessage, messages: Iterable[list[Summary]]
                      ) -> Iterator[tuple[int, Verdict]]:
        for message in messages:
            cross.apply(message)
            for summary in message:
                verdict = self.engine.judge_summary(summary)
                self.stats.count(summary.type, verdict)
                yield summary.seq, verdict


def only_engagement(events: Iterable[Event]) -> Iterator[Event]:
    """Events that receive verdicts, plus the delivered and sent events they need."""
    for event in events:
        if event.type in ENGAGEMENT_TYPES or event.type in {"delivered", "sent"}:
            yield event
