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
import zlib
from array import array
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import orjson

from clicksift.classify.engine import Engine
from clicksift.classify.observe import EventDigest, shared_missing
from clicksift.classify.signals.crossmessage import CrossMessage
from clicksift.classify.signals.request import PRESENCE_ONLY, READ_HEADERS
from clicksift.classify.vocabulary import Finding, Label, Verdict
from clicksift.errors import InputError, InvalidEventError
from clicksift.events import (
    ENGAGEMENT_TYPES,
    Event,
    Link,
    ReadStats,
    checked_events,
    dumps,
    loads,
    read_events,
)

IN_MEMORY_EVENTS = 250_000     # up to this many events, no files
EVENTS_PER_BUCKET = 100_000    # target bucket size when spilling
CHUNK = 2_000                  # rows per line in spill files
ORDER_BLOCK = 1 << 20          # bucket numbers kept in memory before they go to disk
Progress = Callable[[str, int], None]
Render = Callable[[Verdict], str]


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


class _ChunkWriter:
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


def _read_chunks(path: Path) -> Iterator[Any]:
    """The rows of a spill file, as lists (JSON arrays)."""
    with open(path, "rb") as handle:
        for line in handle:
            yield from loads(line)


# Digests, findings and verdicts travel through spill files as plain arrays, and come back
# as lists: the readers rebuild the tuples.
def flat_digest(s: EventDigest) -> tuple[Any, ...]:
    return (s.seq, s.event_id, s.type, s.ts, s.message_id, s.domain, s.source, s.address,
            s.delta, s.findings, s.missing)


def digest_of_row(row: list[Any]) -> EventDigest:
    seq, event_id, kind, ts, message_id, domain, source, address, delta, flat = row[:10]
    return EventDigest(seq, event_id, kind, ts, message_id, domain, source, address, delta,
                   flat, shared_missing(tuple(row[10])))


def flat_verdict(v: Verdict) -> tuple[Any, ...]:
    return (v.id, v.verdict, v.score, v.kind, v.vendor, [tuple(f) for f in v.reasons], v.final)


def verdict_of_row(row: list[Any]) -> Verdict:
    reasons = tuple(tuple.__new__(Finding, f) for f in row[5])
    return Verdict(row[0], row[1], row[2], row[3], row[4], reasons, row[6])


#: The parts of an event's raw object the classifier reads (the rest is not spilled).
_RAW_KEYS = ("headers", "prepared_at", "link_index")


def _flat_event(e: Event) -> tuple[Any, ...]:
    links = None if e.links is None else tuple((link.url, link.kind) for link in e.links)
    raw = {key: e.raw[key] for key in _RAW_KEYS if key in e.raw}
    if "headers" in raw:
        raw["headers"] = True  # e.headers has them; the classifier asks only whether any came
    headers = {name: "" if name in PRESENCE_ONLY else value
               for name, value in e.headers.items() if name in READ_HEADERS}
    return (e.type, e.id, e.message_id, e.ts, e.campaign_id, e.recipient, links, e.url,
            e.link_kind, e.ip, e.user_agent, e.method, headers, e.form, e.source,
            e.esp_flags, raw)


def _event(row: list[Any]) -> Event:
    """An event back from a spill file (it was checked when it was read)."""
    (kind, event_id, message_id, ts, campaign_id, recipient, flat_links, url, link_kind, ip,
     user_agent, method, headers, form, source, esp_flags, raw) = row
    links = None if flat_links is None else tuple(Link(u, k) for u, k in flat_links)
    return Event(kind, event_id, message_id, ts, campaign_id, recipient, links, url, link_kind,
                 ip, user_agent, method, headers, form, source, esp_flags, raw)


class _Buckets:
    """Events dealt by message; in memory, or spilled to files as their raw objects.

    Spilled, it also notes the bucket of every event that gets a verdict, in input order
    (``order*.bin``, two bytes each): the buckets' verdicts, each bucket's in input order,
    are put back into input order by taking the next one from the bucket noted there."""

    def __init__(self, count: int, folder: Path | None, part: int | None = None) -> None:
        self.count = count
        self.folder = folder
        self._memory: list[tuple[int, Event]] = []
        suffix = "" if part is None else f"-{part:05d}"
        self._writers = [_ChunkWriter(folder / f"events-{i}{suffix}.bin")
                         for i in range(count)] if folder is not None else []
        self._order = array("H")
        self._order_path = folder / f"order{suffix}.bin" if folder is not None else None

    def add(self, seq: int, event: Event) -> None:
        if self.folder is None:
            self._memory.append((seq, event))
            return
        index = zlib.crc32(event.message_id.encode("utf-8", "surrogatepass")) % self.count
        self._writers[index].add((seq, _flat_event(event)))
        if event.type in ENGAGEMENT_TYPES:
            self._order.append(index)
            if len(self._order) >= ORDER_BLOCK:
                self._write_order()

    def _write_order(self) -> None:
        assert self._order_path is not None
        with open(self._order_path, "ab") as handle:
            self._order.tofile(handle)
        self._order = array("H")

    def close(self) -> None:
        for writer in self._writers:
            writer.close()
        if self._order_path is not None:
            self._write_order()

    def read(self, index: int) -> Iterator[tuple[int, Event]]:
        if self.folder is None:
            memory, self._memory = self._memory, []
            yield from memory
            return
        yield from _read_bucket(self.folder, index)


def _read_bucket(folder: Path, index: int) -> Iterator[tuple[int, Event]]:
    """A spilled bucket's events in input order: one file, or one part per input range."""
    for path in sorted(folder.glob(f"events-{index}.bin")) + sorted(
            folder.glob(f"events-{index}-*.bin")):
        for seq, row in _read_chunks(path):
            yield seq, _event(row)
        os.remove(path)


def _group(items: Iterable[tuple[int, Event]]) -> dict[str, list[tuple[int, Event]]]:
    messages: dict[str, list[tuple[int, Event]]] = defaultdict(list)
    for seq, event in items:
        messages[event.message_id].append((seq, event))
    return messages


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
    for seqs_events in _group(items).values():
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
        for digest in message:
            verdict = engine.judge_digest(digest)
            stats.count(digest.type, verdict)
            rows.append((digest.seq, verdict))
    rows.sort()   # by place in the input: places are unique, so verdicts are never compared
    return rows


def _write_digests(path: Path, messages: list[list[EventDigest]]) -> Path:
    writer = _ChunkWriter(path)
    for message in messages:
        writer.add([flat_digest(s) for s in message])
    writer.close()
    return path


def _write_verdicts(path: Path, rows: list[tuple[int, Verdict]], render: Render | None
                    ) -> Path:
    """A bucket's verdicts in input order; or, with RENDER, the lines it makes of them (a
    line is one value to write and read back, a verdict dozens)."""
    if render is None:
        writer = _ChunkWriter(path)
        for _, verdict in rows:
            writer.add(flat_verdict(verdict))
        writer.close()
        return path
    with open(path, "w", encoding="utf-8", newline="\n") as handle:
        handle.writelines(_one_line(render(verdict)) for _, verdict in rows)
    return path


def _one_line(text: str) -> str:
    if not text.endswith("\n") or text.count("\n") != 1:
        raise ValueError(f"a rendered verdict must be one line ending in a newline: {text!r}")
    return text


def _read_lines(path: Path) -> Iterator[str]:
    with open(path, encoding="utf-8", newline="\n") as handle:
        yield from handle


def _read_order(folder: Path) -> Iterator[int]:
    """The buckets of the verdicts in input order (the parts of a parallel read in order)."""
    for path in sorted(folder.glob("order*.bin")):
        size = path.stat().st_size // 2
        with open(path, "rb") as handle:
            while size > 0:
                block = array("H")
                block.fromfile(handle, min(size, ORDER_BLOCK))
                size -= len(block)
                yield from block


def _read_digests(path: Path) -> Iterator[list[EventDigest]]:
    for message in _read_chunks(path):
        yield [digest_of_row(row) for row in message]


#: What worker processes inherit when they are forked (the engine, then the aggregator).
_FORKED: dict[str, Any] = {}


def _first_pass_worker(folder: Path, index: int) -> tuple[CrossMessage, int]:
    engine: Engine = _FORKED["engine"]
    cross = CrossMessage(engine.mx_gateways)
    messages, done = observe_messages(engine, _read_bucket(folder, index), cross)
    _write_digests(folder / f"digests-{index}.bin", messages)
    return cross, done


def _second_pass_worker(folder: Path, index: int) -> BatchStats:
    stats = BatchStats()
    path = folder / f"digests-{index}.bin"
    rows = _judge(_FORKED["engine"], _FORKED["cross"], _read_digests(path), stats)
    os.remove(path)
    _write_verdicts(folder / f"verdicts-{index}.bin", rows, _FORKED["render"])
    return stats


#: Input ranges of at least this many bytes are read by worker processes; a large input is
#: cut into ranges of about RANGE_BYTES (each range writes its own part of every bucket).
MIN_RANGE_BYTES = 8 * 1024 * 1024
RANGE_BYTES = 256 * 1024 * 1024
#: A line's place in the input: file index * LINE_SPAN + line number (keeps input order).
LINE_SPAN = 1 << 40


def _ranges(paths: list[str], pieces: int, minimum: int = MIN_RANGE_BYTES
            ) -> list[tuple[int, str, int, int]]:
    """(file index, path, start, end) byte ranges that begin and end at line boundaries."""
    out = []
    for file_index, path in enumerate(paths):
        size = os.path.getsize(path)
        step = max(minimum, size // pieces + 1)
        with open(path, "rb") as handle:
            start = 0
            while start < size:
                end = min(size, start + step)
                if end < size:
                    handle.seek(end)
                    handle.readline()                # to the end of the line
                    end = handle.tell()
                out.append((file_index, path, start, end))
                start = end
    return out


def _deal_range(folder: Path, count: int, part: int, task: tuple[int, str, int, int],
                skip_invalid: bool) -> tuple[ReadStats, tuple[str, int | None, str | None] | None]:
    """Read one byte range of an input file into this part's bucket files (a worker)."""
    file_index, path, start, end = task
    stats = ReadStats()
    buckets = _Buckets(count, folder, part)
    with open(path, "rb") as handle:
        line = 0
        while handle.tell() < start:               # lines before the range: count them
            block = handle.read(min(1 << 20, start - handle.tell()))
            line += block.count(b"\n")
        error = _deal_lines(_range_lines(handle, end - start), path, line, file_index,
                            buckets, stats, skip_invalid)
    buckets.close()
    return stats, error


def _range_lines(handle: IO[bytes], length: int) -> Iterator[bytes]:
    left = length
    while left > 0:
        text = handle.readline()
        if not text:
            return
        left -= len(text)
        yield text


def _deal_lines(lines: Iterable[bytes], path: str, line: int, file_index: int,
                buckets: _Buckets, stats: ReadStats, skip_invalid: bool
                ) -> tuple[str, int | None, str | None] | None:
    """Check LINES (the first is line LINE + 1 of PATH) and deal their events into
    BUCKETS; the first invalid line (reason, line, field), unless SKIP_INVALID counts it
    in STATS. (The error travels back to the parent process as plain values.)"""
    try:
        for number, event in checked_events(lines, path, stats, skip_invalid=skip_invalid,
                                            first_line=line + 1):
            buckets.add(file_index * LINE_SPAN + number, event)
    except InputError as error:
        return error.reason, error.line, error.field
    return None


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
            tasks = _ranges(files, max(self.workers * 4, size // RANGE_BYTES + 1),
                            min_range_bytes)
            context = multiprocessing.get_context("fork")
            with ProcessPoolExecutor(self.workers, mp_context=context) as pool:
                results = list(pool.map(_deal_range, [folder] * len(tasks),
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

    def _in_memory(self, buckets: _Buckets, render: Render | None) -> Iterator[Any]:
        cross = CrossMessage(self.engine.mx_gateways)
        messages, done = observe_messages(self.engine, buckets.read(0), cross)
        self.progress("classifying", done)
        for _, verdict in _judge(self.engine, cross, messages, self.stats):
            yield verdict if render is None else render(verdict)

    def _spilled(self, buckets: _Buckets, folder: Path, render: Render | None
                 ) -> Iterator[Any]:
        cross = CrossMessage(self.engine.mx_gateways)
        done = 0
        for index in range(buckets.count):
            messages, count = observe_messages(self.engine, buckets.read(index), cross)
            _write_digests(folder / f"digests-{index}.bin", messages)
            done += count
            self.progress("classifying", done)
        for index in range(buckets.count):
            path = folder / f"digests-{index}.bin"
            rows = _judge(self.engine, cross, _read_digests(path), self.stats)
            os.remove(path)
            _write_verdicts(folder / f"verdicts-{index}.bin", rows, render)
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
        outputs = [_read_lines(path) if render is not None else
                   (verdict_of_row(row) for row in _read_chunks(path)) for path in paths]
        for index in _read_order(folder):
            yield next(outputs[index])


def only_engagement(events: Iterable[Event]) -> Iterator[Event]:
    """Events that receive verdicts, plus the delivered and sent events they need."""
    for event in events:
        if event.type in ENGAGEMENT_TYPES or event.type in {"delivered", "sent"}:
            yield event
