"""Batch classification of event streams with bounded memory.

1. Read and check every event (file and line in any error), and deal it into a bucket by a
   hash of its message id, so all of a message's events meet in one bucket.
2. First pass, bucket by bucket: per-event and message-context findings; each message's
   events are reduced to digests, and the cross-message aggregator sees them.
3. Second pass: cross-message findings and the verdicts, per bucket in input order.
4. The buckets' verdicts are merged back into the input order.

Small inputs stay in memory; larger ones spill buckets to a private temporary folder, so
memory grows with the largest bucket rather than the input. Spill files hold only plain
JSON values (arrays of rows, one per line), which this process writes and reads back itself.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clicksift.classify.buckets import EVENTS_PER_BUCKET, Buckets, group_by_message, read_bucket
from clicksift.classify.engine import Engine
from clicksift.classify.observe import EventDigest
from clicksift.classify.ranges import MIN_RANGE_BYTES, RANGE_BYTES, byte_ranges, deal_range
from clicksift.classify.signals.crossmessage import CrossMessage
from clicksift.classify.spill import (
    Render,
    read_chunks,
    read_digests,
    read_lines,
    read_order,
    verdict_of_row,
    write_digests,
    write_verdicts,
)
from clicksift.classify.vocabulary import Label, Verdict
from clicksift.errors import InputError, InvalidEventError
from clicksift.events import ENGAGEMENT_TYPES, Event, ReadStats, read_events

IN_MEMORY_EVENTS = 250_000     # up to this many events, no files


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
        row = self.by_type.setdefault(event_type, {Label.HUMAN: 0, Label.NHI: 0})
        row[verdict.verdict] += 1
        if verdict.verdict == Label.NHI:
            self.nhi += 1


@contextmanager
def collector_paused() -> Iterator[None]:
    """Batch classification makes millions of small objects that live until the second
    pass; Python's cycle collector would walk them again and again (an eighth of the run
    time). They form no cycles (a test checks that a batch leaves nothing for the
    collector), so the collector pauses while the batch runs; reference counting still frees
    everything as usual."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def observe_messages(engine: Engine, items: Iterable[tuple[int, Event]], cross: CrossMessage
             ) -> tuple[list[list[EventDigest]], int]:
    """First pass over one bucket: each message's digests, shown to CROSS."""
    messages: list[list[EventDigest]] = []
    done = 0
    for seqs_events in group_by_message(items).values():
        seqs = {id(event): seq for seq, event in seqs_events}
        observed = engine.observe([event for _, event in seqs_events])
        message = [obs.digest(seqs[id(obs.event)]) for obs in observed]
        cross.observe_message(message)
        messages.append(message)
        done += len(seqs_events)
    return messages, done


def _judge(engine: Engine, cross: CrossMessage, messages: Iterable[list[EventDigest]],
           stats: BatchStats) -> list[tuple[int, Verdict]]:
    """Second pass over one bucket: verdicts in input order."""
    rows = []
    for message in messages:
        cross.apply(message)
        verdicts = engine.judge_message(message)
        for i in range(len(message)):
            stats.count(message[i].type, verdicts[i])
            rows.append((message[i].seq, verdicts[i]))
    rows.sort()   # by place in the input: places are unique, so verdicts are never compared
    return rows


#: What worker processes inherit when they are forked (the engine, then the aggregator).
_FORKED: dict[str, Any] = {}


def _first_pass_worker(folder: Path, index: int) -> tuple[CrossMessage, int]:
    engine: Engine = _FORKED["engine"]
    cross = CrossMessage(engine.mx_gateways)
    messages, done = observe_messages(engine, read_bucket(folder, index), cross)
    write_digests(folder / f"digests-{index}.bin", messages)
    return cross, done


def _second_pass_worker(folder: Path, index: int) -> BatchStats:
    stats = BatchStats()
    path = folder / f"digests-{index}.bin"
    rows = _judge(_FORKED["engine"], _FORKED["cross"], read_digests(path), stats)
    os.remove(path)
    write_verdicts(folder / f"verdicts-{index}.bin", rows, _FORKED["render"])
    return stats


def worker_count(setting: int) -> int:
    """Processes for a large batch: the setting, or one per CPU core when it is 0."""
    return setting if setting > 0 else (os.cpu_count() or 1)


class BatchClassifier:
    def __init__(self, engine: Engine | None = None, *, progress: Progress | None = None,
                 in_memory_events: int = IN_MEMORY_EVENTS, workers: int = 1) -> None:
        """WORKERS > 1 classifies spilled buckets in that many forked processes."""
        self.engine = engine or Engine()
        self.progress = progress or (lambda stage, n: None)
        self.in_memory_events = in_memory_events
        self.workers = max(1, workers)
        self.stats = BatchStats()

    def classify(self, events: Iterable[Event], expected: int | None = None
                 ) -> Iterator[Verdict]:
        """Verdicts for every open, click and unsubscribe of EVENTS, in input order.

        EXPECTED (an estimate of the number of events) decides whether to spill to disk."""
        return self._classify(events, expected, None)

    def _classify(self, events: Iterable[Event], expected: int | None, render: Render | None
                  ) -> Iterator[Any]:
        spill = expected is None or expected > self.in_memory_events
        with tempfile.TemporaryDirectory(prefix="clicksift-classify-") as tmp, \
                collector_paused():
            folder = Path(tmp) if spill else None
            buckets = self._deal(events, folder, expected)
            if folder is None:
                yield from self._in_memory(buckets, render)
            elif self.workers > 1:
                yield from self._spilled_parallel(buckets.count, folder, render)
            else:
                yield from self._spilled(buckets, folder, render)

    def classify_files(self, paths: Sequence[str], *, skip_invalid: bool = False,
                       stats: ReadStats | None = None, min_range_bytes: int = MIN_RANGE_BYTES
                       ) -> Iterator[Verdict]:
        """Verdicts for the events in JSON Lines files, in input order, as
        ``classify(read_events(paths))`` gives them; with several workers and large
        regular files, the workers read the files too. An invalid line raises its
        InputError (file, line, field) unless SKIP_INVALID counts it in STATS."""
        return self._classify_files(paths, skip_invalid, stats, min_range_bytes, None)

    def render_files(self, paths: Sequence[str], render: Render | None = None, *,
                     skip_invalid: bool = False, stats: ReadStats | None = None,
                     min_range_bytes: int = MIN_RANGE_BYTES) -> Iterator[str]:
        """``RENDER(verdict)`` for each verdict :meth:`classify_files` would give, in the
        same order (by default the verdict's JSON line, docs/events.md); large batches
        render in the second pass and spill only the text. RENDER must return one line
        ending in a newline."""
        return self._classify_files(paths, skip_invalid, stats, min_range_bytes,
                                    render or Verdict.json_line)

    def _classify_files(self, paths: Sequence[str], skip_invalid: bool,
                        stats: ReadStats | None, min_range_bytes: int, render: Render | None
                        ) -> Iterator[Any]:
        stats = stats if stats is not None else ReadStats()
        files = list(paths)
        regular = all(p != "-" and os.path.isfile(p) for p in files)
        size = sum(os.path.getsize(p) for p in files) if regular else 0
        expected = size // 350 if regular else None
        if self.workers <= 1 or not regular or (expected or 0) <= self.in_memory_events:
            yield from self._classify(read_events(files, skip_invalid=skip_invalid,
                                                  stats=stats), expected, render)
            return
        with tempfile.TemporaryDirectory(prefix="clicksift-classify-") as tmp, \
                collector_paused():
            folder = Path(tmp)
            count = max(8, min(512, (expected or 0) // EVENTS_PER_BUCKET + 1))
            tasks = byte_ranges(files, max(self.workers * 4, size // RANGE_BYTES + 1),
                            min_range_bytes)
            context = multiprocessing.get_context("fork")
            with ProcessPoolExecutor(self.workers, mp_context=context) as pool:
                results = list(pool.map(deal_range, [folder] * len(tasks),
                                        [count] * len(tasks), range(len(tasks)), tasks,
                                        [skip_invalid] * len(tasks)))
            for (_, path, _, _), (part, error) in zip(tasks, results, strict=True):
                if error is not None:
                    reason, line, field_name = error
                    raise InvalidEventError(reason, source=path, line=line, field=field_name) \
                        if field_name else InputError(reason, source=path, line=line)
                stats.lines += part.lines
                stats.events += part.events
                stats.skipped += part.skipped
                stats.first_errors.extend(part.first_errors[:10 - len(stats.first_errors)])
            self.stats.events = stats.events
            self.stats.buckets = count
            self.progress("reading", stats.events)
            yield from self._spilled_parallel(count, folder, render)

    def _deal(self, events: Iterable[Event], folder: Path | None,
              expected: int | None) -> Buckets:
        count = 1 if folder is None else max(8, min(512, (expected or 0) // EVENTS_PER_BUCKET
                                                    + 1))
        buckets = Buckets(count, folder)
        for seq, event in enumerate(events):
            buckets.add(seq, event)
            self.stats.events += 1
            if seq % 50_000 == 0:
                self.progress("reading", seq)
        buckets.close()
        self.stats.buckets = count
        return buckets

    def _in_memory(self, buckets: Buckets, render: Render | None) -> Iterator[Any]:
        cross = CrossMessage(self.engine.mx_gateways)
        messages, done = observe_messages(self.engine, buckets.read(0), cross)
        self.progress("classifying", done)
        for _, verdict in _judge(self.engine, cross, messages, self.stats):
            yield verdict if render is None else render(verdict)

    def _spilled(self, buckets: Buckets, folder: Path, render: Render | None
                 ) -> Iterator[Any]:
        cross = CrossMessage(self.engine.mx_gateways)
        done = 0
        for index in range(buckets.count):
            messages, count = observe_messages(self.engine, buckets.read(index), cross)
            write_digests(folder / f"digests-{index}.bin", messages)
            done += count
            self.progress("classifying", done)
        for index in range(buckets.count):
            path = folder / f"digests-{index}.bin"
            rows = _judge(self.engine, cross, read_digests(path), self.stats)
            os.remove(path)
            write_verdicts(folder / f"verdicts-{index}.bin", rows, render)
        yield from self._merged(folder, buckets.count, render)

    def _spilled_parallel(self, buckets: int, folder: Path, render: Render | None
                          ) -> Iterator[Any]:
        """The same passes, buckets shared among forked worker processes; the buckets'
        aggregators are merged in bucket order, so verdicts equal the serial ones."""
        context = multiprocessing.get_context("fork")
        _FORKED["engine"], _FORKED["render"] = self.engine, render
        try:
            cross = CrossMessage(self.engine.mx_gateways)
            done = 0
            with ProcessPoolExecutor(self.workers, mp_context=context) as pool:
                # Merged as they come, in bucket order: only a few partials wait at a time.
                for partial, count in pool.map(_first_pass_worker, [folder] * buckets,
                                               range(buckets)):
                    cross.merge(partial)
                    done += count
                    self.progress("classifying", done)
            _FORKED["cross"] = cross
            with ProcessPoolExecutor(self.workers, mp_context=context) as pool:
                for stats in pool.map(_second_pass_worker, [folder] * buckets,
                                      range(buckets)):
                    self.stats.classified += stats.classified
                    self.stats.nhi += stats.nhi
                    for kind, row in stats.by_type.items():
                        mine = self.stats.by_type.setdefault(kind, {Label.HUMAN: 0, Label.NHI: 0})
                        for label, n in row.items():
                            mine[label] += n
        finally:
            _FORKED.clear()
        yield from self._merged(folder, buckets, render)

    def _merged(self, folder: Path, count: int, render: Render | None) -> Iterator[Any]:
        """The buckets' verdicts (or lines) back in input order."""
        paths = [folder / f"verdicts-{index}.bin" for index in range(count)]
        outputs = [read_lines(path) if render is not None else
                   (verdict_of_row(row) for row in read_chunks(path)) for path in paths]
        for index in read_order(folder):
            yield next(outputs[index])


def only_engagement(events: Iterable[Event]) -> Iterator[Event]:
    """Events that receive verdicts, plus the delivered and sent events they need."""
    for event in events:
        if event.type in ENGAGEMENT_TYPES or event.type in {"delivered", "sent"}:
            yield event
