"""Events dealt into buckets by a hash of their message id, so all of a message's events
meet in one bucket; in memory, or spilled to files with the input order noted.
"""

from __future__ import annotations

import os
import zlib
from array import array
from collections import defaultdict
from collections.abc import Iterable, Iterator
from pathlib import Path

from clicksift.classify.spill import ORDER_BLOCK, ChunkWriter, event_of_row, flat_event, read_chunks
from clicksift.events import ENGAGEMENT_TYPES, Event

EVENTS_PER_BUCKET = 100_000    # target bucket size when spilling


class Buckets:
    """Events dealt by message; in memory, or spilled to files as their raw objects.

    Spilled, it also notes the bucket of every event that gets a verdict, in input order
    (``order*.bin``, two bytes each): the buckets' verdicts, each bucket's in input order,
    are put back into input order by taking the next one from the bucket noted there."""

    def __init__(self, count: int, folder: Path | None, part: int | None = None) -> None:
        self.count = count
        self.folder = folder
        self._memory: list[tuple[int, Event]] = []
        suffix = "" if part is None else f"-{part:05d}"
        self._writers = [ChunkWriter(folder / f"events-{i}{suffix}.bin")
                         for i in range(count)] if folder is not None else []
        self._order = array("H")
        self._order_path = folder / f"order{suffix}.bin" if folder is not None else None

    def add(self, seq: int, event: Event) -> None:
        if self.folder is None:
            self._memory.append((seq, event))
            return
        index = zlib.crc32(event.message_id.encode("utf-8", "surrogatepass")) % self.count
        self._writers[index].add((seq, flat_event(event)))
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
        yield from read_bucket(self.folder, index)


def read_bucket(folder: Path, index: int) -> Iterator[tuple[int, Event]]:
    """A spilled bucket's events in input order: one file, or one part per input range."""
    for path in sorted(folder.glob(f"events-{index}.bin")) + sorted(
            folder.glob(f"events-{index}-*.bin")):
        for seq, row in read_chunks(path):
            yield seq, event_of_row(row)
        os.remove(path)


def group_by_message(items: Iterable[tuple[int, Event]]) -> dict[str, list[tuple[int, Event]]]:
    messages: dict[str, list[tuple[int, Event]]] = defaultdict(list)
    for seq, event in items:
        messages[event.message_id].append((seq, event))
    return messages
