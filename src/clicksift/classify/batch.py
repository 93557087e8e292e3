"""Batch classification of event streams with bounded memory.

1. Read and check every event (file and line in any error), and deal its JSON line into a
   bucket by a hash of its message id, so all of a message's events meet in one bucket.
2. First pass, bucket by bucket: per-event and message-context findings; each message's
   events are reduced to summaries, and the cross-message aggregator sees them.
3. Second pass: cross-message findings and the verdicts, written per bucket in input order.
4. The buckets' verdicts are merged back into the input order.

Small inputs stay in memory; larger ones spill buckets to a temporary folder, so memory
grows with the largest bucket rather than the input. The spill files are pickles that this
process writes and reads back itself, in a private temporary folder.
"""

from __future__ import annotations

import heapq
import os
import pickle
import tempfile
import zlib
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from clicksift.classify.engine import Engine
from clicksift.classify.observe import Summary
from clicksift.classify.signals.crossmessage import CrossMessage
from clicksift.classify.vocabulary import Verdict
from clicksift.events import ENGAGEMENT_TYPES, Event, dumps, event_from_dict, loads

IN_MEMORY_EVENTS = 250_000     # up to this many events, no files
EVENTS_PER_BUCKET = 100_000    # target bucket size when spilling
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


class _Buckets:
    """Lines of raw events, dealt by message; in memory, or spilled to files."""

    def __init__(self, count: int, folder: Path | None) -> None:
        self.count = count
        self.folder = folder
        self._memory: list[list[tuple[int, bytes]]] = [[] for _ in range(count)]
        self._files: list[IO[bytes]] = []
        if folder is not None:
            self._files = [open(folder / f"events-{i}.bin", "wb")  # noqa: SIM115
                           for i in range(count)]

    def add(self, seq: int, message_id: str, line: bytes) -> None:
        index = zlib.crc32(message_id.encode("utf-8", "surrogatepass")) % self.count
        if self.folder is None:
            self._memory[index].append((seq, line))
        else:
            pickle.dump((seq, line), self._files[index], protocol=pickle.HIGHEST_PROTOCOL)

    def close(self) -> None:
        for handle in self._files:
            handle.close()

    def read(self, index: int) -> Iterator[tuple[int, bytes]]:
        if self.folder is None:
            yield from self._memory[index]
            self._memory[index] = []
            return
        with open(self.folder / f"events-{index}.bin", "rb") as handle:
            while True:
                try:
                    yield pickle.load(handle)  # noqa: S301 - our own spill file
                except EOFError:
                    return


def _group(lines: Iterable[tuple[int, bytes]]) -> dict[str, list[tuple[int, Event]]]:
    messages: dict[str, list[tuple[int, Event]]] = defaultdict(list)
    for seq, line in lines:
        event = event_from_dict(loads(line))
        messages[event.message_id].append((seq, event))
    return messages


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
        with tempfile.TemporaryDirectory(prefix="clicksift-classify-") as tmp:
            folder = Path(tmp) if spill else None
            buckets = self._deal(events, folder, expected)
            yield from self._classify_buckets(buckets, folder)

    def _deal(self, events: Iterable[Event], folder: Path | None,
              expected: int | None) -> _Buckets:
        count = 1 if folder is None else max(8, min(512, (expected or 0) // EVENTS_PER_BUCKET
                                                    + 1))
        buckets = _Buckets(count, folder)
        for seq, event in enumerate(events):
            raw = event.raw
            buckets.add(seq, event.message_id, dumps(raw).encode("utf-8"))
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
            summaries: list[tuple[str, list[Summary]]] = []
            for seqs_events in _group(buckets.read(index)).values():
                seqs = {id(event): seq for seq, event in seqs_events}
                observed = self.engine.observe([event for _, event in seqs_events])
                message = [obs.summary(seqs[id(obs.event)]) for obs in observed]
                cross.observe_message(message)
                summaries.append((message[0].message_id if message else "", message))
                done += len(seqs_events)
            if folder is None:
                kept.append(summaries)
            else:
                path = folder / f"summaries-{index}.bin"
                with open(path, "wb") as handle:
                    pickle.dump(summaries, handle, protocol=pickle.HIGHEST_PROTOCOL)
                os.remove(folder / f"events-{index}.bin")
                kept.append(path)
            self.progress("classifying", done)
        return kept

    def _classify_buckets(self, buckets: _Buckets, folder: Path | None) -> Iterator[Verdict]:
        cross = CrossMessage()
        kept = self._first_pass(buckets, folder, cross)
        outputs: list[Iterator[tuple[int, Verdict]]] = []
        for index, item in enumerate(kept):
            summaries = item if folder is None else pickle.loads(  # noqa: S301
                Path(item).read_bytes())
            rows = sorted(self._judge_bucket(cross, summaries), key=lambda row: row[0])
            if folder is None:
                outputs.append(iter(rows))
                continue
            os.remove(item)
            path = folder / f"verdicts-{index}.bin"
            with open(path, "wb") as handle:
                for row in rows:
                    pickle.dump(row, handle, protocol=pickle.HIGHEST_PROTOCOL)
            outputs.append(_stream(path))
        for _, verdict in heapq.merge(*outputs, key=lambda row: row[0]):
            yield verdict

    def _judge_bucket(self, cross: CrossMessage, summaries: list[tuple[str, list[Summary]]]
                      ) -> Iterator[tuple[int, Verdict]]:
        for _, message in summaries:
            cross.apply(message)
            for summary in message:
                verdict = self.engine.judge_summary(summary)
                self.stats.count(summary.type, verdict)
                yield summary.seq, verdict


def _stream(path: Path) -> Iterator[tuple[int, Verdict]]:
    with open(path, "rb") as handle:
        while True:
            try:
                yield pickle.load(handle)  # noqa: S301 - our own spill file
            except EOFError:
                return


def only_engagement(events: Iterable[Event]) -> Iterator[Event]:
    """Events that receive verdicts, plus the delivered and sent events they need."""
    for event in events:
        if event.type in ENGAGEMENT_TYPES or event.type in {"delivered", "sent"}:
            yield event
