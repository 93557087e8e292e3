"""Large inputs read in parallel: each file cut into byte ranges at line boundaries, each
range checked and dealt into its own part of the buckets by a worker process.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO

from clicksift.classify.buckets import Buckets
from clicksift.errors import InputError
from clicksift.events import ReadStats, checked_events

#: Input ranges of at least this many bytes are read by worker processes; a large input is
#: cut into ranges of about RANGE_BYTES (each range writes its own part of every bucket).
MIN_RANGE_BYTES = 8 * 1024 * 1024


RANGE_BYTES = 256 * 1024 * 1024


#: A line's place in the input: file index * LINE_SPAN + line number (keeps input order).
LINE_SPAN = 1 << 40


def byte_ranges(paths: list[str], pieces: int, minimum: int = MIN_RANGE_BYTES
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


def deal_range(folder: Path, count: int, part: int, task: tuple[int, str, int, int],
                skip_invalid: bool) -> tuple[ReadStats, tuple[str, int | None, str | None] | None]:
    """Read one byte range of an input file into this part's bucket files (a worker)."""
    file_index, path, start, end = task
    stats = ReadStats()
    buckets = Buckets(count, folder, part)
    with open(path, "rb") as handle:
        line = 0
        while handle.tell() < start:               # lines before the range: count them
            block = handle.read(min(1 << 20, start - handle.tell()))
            line += block.count(b"\n")
        error = deal_lines(range_lines(handle, end - start), path, line, file_index,
                            buckets, stats, skip_invalid)
    buckets.close()
    return stats, error


def range_lines(handle: IO[bytes], length: int) -> Iterator[bytes]:
    left = length
    while left > 0:
        text = handle.readline()
        if not text:
            return
        left -= len(text)
        yield text


def deal_lines(lines: Iterable[bytes], path: str, line: int, file_index: int,
                buckets: Buckets, stats: ReadStats, skip_invalid: bool
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
