"""The archive's files: Parquet, one folder per campaign and month.

The layout is Hive's, the one Spark writes and reads (``partitionBy``)::

    ARCHIVE/campaign=spring%3Asale/month=2026-03/part-20260601T020000-1a2b3c-0.parquet

Partition values are escaped as Spark escapes them (``ExternalCatalogUtils.escapePathName``)
and a message without a campaign goes to ``campaign=__HIVE_DEFAULT_PARTITION__``, so
``spark.read.parquet(ARCHIVE)`` sees the same campaigns and months. Each file holds whole
rows of :class:`~clicksift.storage.ArchivedEvent`: the event's columns, the event itself as
JSON text (``event``: nothing the store held is lost) and its verdict's columns.

Files are written under a hidden name (``.BATCH-N.parquet``: Spark and pyarrow skip names
that start with a dot), synced to disk, and renamed to their published name only after the
store has forgotten the rows they hold (:mod:`clicksift.archive.move`). So a crash at any
point leaves each row either in the store or in a published file, never in both, and never
in neither: see :func:`clicksift.archive.move.recover`.
"""

from __future__ import annotations

import fcntl
import os
import re
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import fields
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import unquote

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from clicksift.errors import StorageError
from clicksift.storage import ArchivedEvent

DEFAULT_PARTITION = "__HIVE_DEFAULT_PARTITION__"
#: The columns of every archive file, in ArchivedEvent's order.
SCHEMA = pa.schema([
    ("id", pa.string()), ("type", pa.string()), ("message_id", pa.string()),
    ("campaign_id", pa.string()), ("recipient", pa.string()), ("ts", pa.float64()),
    ("received_at", pa.float64()), ("link_index", pa.int64()), ("link_kind", pa.string()),
    ("source", pa.string()), ("event", pa.string()), ("verdict", pa.string()),
    ("score", pa.float64()), ("kind", pa.string()), ("vendor", pa.string()),
    ("reasons", pa.string()), ("engine_version", pa.string()), ("final", pa.bool_()),
    ("computed_at", pa.float64()),
])
assert SCHEMA.names == [f.name for f in fields(ArchivedEvent)]
#: Characters Spark escapes in a partition value (%XX), and so do we.
_ESCAPED = frozenset([chr(c) for c in range(1, 32)]
                     + list("\"#%'*/:=?\\\x7f{[]^"))
#: Staged files older than this that no run published were left by a run that crashed
#: before the store forgot their rows: the rows are still in the store, the files go.
STALE_SECONDS = 3600.0
_STAGED = re.compile(r"^\.(?P<batch>[0-9A-Za-z-]+)-(?P<n>\d+)\.parquet$")


def escape_value(value: str | None) -> str:
    """A partition value as a folder name part, escaped as Spark escapes it."""
    if not value:
        return DEFAULT_PARTITION
    return "".join(f"%{ord(c):02X}" if c in _ESCAPED else c for c in value)


def unescape_value(text: str) -> str | None:
    return None if text == DEFAULT_PARTITION else unquote(text)


def month_of(ts: float) -> str:
    """The month partition (YYYY-MM, UTC) of an event at TS."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m")


def partition_of(campaign_id: str | None, ts: float) -> str:
    """The folder, relative to the archive, that holds an event of CAMPAIGN_ID at TS."""
    return f"campaign={escape_value(campaign_id)}/month={month_of(ts)}"


def new_batch() -> str:
    """A name for one archive run's files: its time, then random (sorts by time)."""
    return time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + "-" + os.urandom(3).hex()


class Archive:
    """The archive folder at ROOT."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"Archive({str(self.root)!r})"

    # -- one writer at a time ----------------------------------------------------------------

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the archive's lock (a file lock on ``ARCHIVE/.lock``) over the block: the
        runs that write (archiving, erasure, rescoring) take turns, so an erasure never
        races a rewrite that would bring its rows back."""
        self._make_folder(self.root)
        descriptor = os.open(self.root / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            yield
        finally:
            os.close(descriptor)          # closing gives the lock up

    # -- listing ----------------------------------------------------------------------------

    def files(self, partitions: Iterable[str] | None = None) -> list[Path]:
        """The published files (of PARTITIONS, relative folders; None: all), in name order.
        Hidden names (a dot or an underscore first, at any level) are skipped, as Spark
        skips them."""
        if partitions is None:
            tops = [self.root]
        else:
            tops = [self.root / p for p in sorted(set(partitions))]
        found: list[Path] = []
        for top in tops:
            if not top.is_dir():
                continue
            for folder, dirs, names in os.walk(top):
                dirs[:] = sorted(d for d in dirs if not d.startswith((".", "_")))
                found.extend(Path(folder) / n for n in sorted(names)
                             if n.endswith(".parquet") and not n.startswith((".", "_")))
        return found

    def size(self) -> tuple[int, int]:
        """(files, bytes) published."""
        files = self.files()
        return len(files), sum(f.stat().st_size for f in files)

    # -- writing ----------------------------------------------------------------------------

    def stage(self, rows: Sequence[ArchivedEvent], batch: str) -> list[Path]:
        """Write ROWS under hidden names of BATCH, one file per partition, synced to disk.
        Returns the staged files."""
        groups: dict[str, list[ArchivedEvent]] = defaultdict(list)
        for row in rows:
            groups[partition_of(row.campaign_id, row.ts)].append(row)
        staged = []
        for n, (partition, members) in enumerate(sorted(groups.items())):
            folder = self.root / partition
            self._make_folder(folder)
            path = folder / f".{batch}-{n}.parquet"
            _write(_table(members), path)
            staged.append(path)
        return staged

    def publish(self, batch: str) -> int:
        """Give BATCH's staged files their published names. Returns how many."""
        published = 0
        for path in self._staged():
            match = _STAGED.match(path.name)
            if match and match["batch"] == batch:
                target = path.with_name(f"part-{batch}-{match['n']}.parquet")
                os.replace(path, target)
                _sync_folder(path.parent)
                published += 1
        return published

    def adopt(self, folder: Path, batch: str) -> int:
        """Stage the Parquet files a job wrote under FOLDER (Hive layout, as Spark's
        ``partitionBy`` writes it) as BATCH's, each into the same partition of the archive.
        Returns how many."""
        n = 0
        for path in sorted(folder.rglob("*.parquet")):
            relative = path.parent.relative_to(folder)
            if path.name.startswith((".", "_")) or not relative.parts:
                continue
            target = self.root / relative
            self._make_folder(target)
            os.replace(path, target / f".{batch}-{n}.parquet")
            n += 1
        return n

    def discard_stale(self, keep: str | None = None, now: float | None = None) -> int:
        """Delete staged files that no run will publish (older than STALE_SECONDS, not of
        batch KEEP). Returns how many."""
        now = time.time() if now is None else now
        removed = 0
        for path in self._staged():
            match = _STAGED.match(path.name)
            if match and match["batch"] != keep and now - path.stat().st_mtime > STALE_SECONDS:
                path.unlink(missing_ok=True)
                removed += 1
        return removed

    def _staged(self) -> list[Path]:
        if not self.root.is_dir():
            return []
        return sorted(self.root.glob("campaign=*/month=*/.*.parquet"))

    def _make_folder(self, folder: Path) -> None:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot write the archive {self.root}: {exc.strerror or exc}"
                               ) from None

    # -- reading ----------------------------------------------------------------------------

    def read(self, *, partitions: Iterable[str] | None = None,
             message_ids: Iterable[str] | None = None) -> Iterator[ArchivedEvent]:
        """The archived rows (of PARTITIONS; of MESSAGE_IDS), file by file."""
        wanted = None if message_ids is None else pa.array(sorted(set(message_ids)), pa.string())
        for path in self.files(partitions):
            table = _read(path)
            if wanted is not None:
                table = table.filter(pc.is_in(table["message_id"], value_set=wanted))
            for record in table.to_pylist():
                yield ArchivedEvent(**record)

    # -- rewriting --------------------------------------------------------------------------

    def remove_rows(self, drop: Callable[[pa.Table], pa.Array],
                    progress: Callable[[int, int], None] | None = None) -> int:
        """Rewrite every file without the rows DROP marks (a boolean array over a file's
        table): each file is replaced whole, atomically; a file left empty is deleted.
        Returns how many rows went."""
        removed = 0
        files = self.files()
        for done, path in enumerate(files, 1):
            table = _read(path)
            mask = pc.fill_null(drop(table), False)
            gone = pc.sum(mask).as_py() or 0
            if gone:
                kept = table.filter(pc.invert(mask))
                if kept.num_rows:
                    staged = path.with_name(f".rewrite-{path.name}")
                    _write(kept, staged)
                    os.replace(staged, path)
                else:
                    path.unlink()
                _sync_folder(path.parent)
                removed += gone
            if progress is not None:
                progress(done, len(files))
        return removed


def _table(rows: Sequence[ArchivedEvent]) -> pa.Table:
    return pa.Table.from_pydict({name: [getattr(row, name) for row in rows]
                                 for name in SCHEMA.names}, schema=SCHEMA)


def _write(table: pa.Table, path: Path) -> None:
    """Write TABLE to PATH and sync it to disk."""
    try:
        with open(path, "wb") as handle:
            pq.write_table(table, handle, compression="zstd")
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as exc:
        path.unlink(missing_ok=True)
        raise StorageError(f"cannot write the archive file {path}: {exc.strerror or exc}"
                           ) from None


def _read(path: Path) -> pa.Table:
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowException) as exc:
        raise StorageError(f"cannot read the archive file {path}: {exc}") from None
    missing = [name for name in SCHEMA.names if name not in table.column_names]
    if missing:
        raise StorageError(f"{path} is not a clicksift archive file (no column "
                           f"{', '.join(missing)})")
    return table.select(SCHEMA.names).cast(SCHEMA)


def _sync_folder(folder: Path) -> None:
    """Make a rename in FOLDER durable (POSIX: sync the directory)."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)
