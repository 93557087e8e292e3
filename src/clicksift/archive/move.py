"""Moving messages out of the store into the archive, crash-safe (docs/archive.md).

A run takes messages whose events are all older than a moment and whose verdicts are
final. For each chunk of messages:

1. their events and verdicts are read, and the report rollups count the messages again
   (the caller's RECOUNT), so each message's summary holds at least the rows that move;
2. the rows are written to staged (hidden) files of a new batch;
3. one transaction deletes exactly those rows from the store, records the messages in
   ``archived_messages`` and notes the batch as pending in ``meta``;
4. the staged files are published (renamed), and the pending note is cleared.

An event that arrives for a message meanwhile stays in the store: the rollups count it
with the message's archived rows, as any late event.

A crash before 2 leaves the rows in the store and a staged file nobody publishes (deleted
later as stale); a crash after 2 leaves a pending batch that :func:`recover`, run before
every read or write of the archive, publishes. The rollups keep each message's summary:
the campaigns' counts do not change (a later recount reads the archived rows back).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clicksift.archive.files import Archive, new_batch, partition_of
from clicksift.errors import InputError
from clicksift.events import dumps, loads
from clicksift.storage import ArchivedEvent, SqlStore, is_postgres

#: Where a store's archive is (set by its first run; reports read archived rows from it).
LOCATION_KEY = "archive.location"
#: A batch whose rows the store has forgotten but whose files may not be published yet.
PENDING_KEY = "archive.pending"
#: A rewrite of the archive (rescore): its staged batch and the files it replaces.
REPLACING_KEY = "archive.replacing"
#: Messages moved per transaction.
CHUNK_MESSAGES = 2_000

Progress = Callable[[int, int], None]   # (messages moved, events moved)
Recount = Callable[[Sequence[str]], None]   # the rollups count these messages again


@dataclass
class ArchiveRun:
    messages: int = 0
    events: int = 0
    files: int = 0
    campaigns: set[str | None] = field(default_factory=set)
    seconds: float = 0.0


def default_location(database: str) -> str | None:
    """Where a store keeps its archive unless told: beside a SQLite file (``NAME.archive``);
    PostgreSQL has no default."""
    if is_postgres(database) or database == ":memory:":
        return None
    base, _ = os.path.splitext(os.path.abspath(database))
    return base + ".archive"


def locate(store: SqlStore, configured: str, database: str) -> str | None:
    """The archive folder of STORE: the configured one (setting archive_dir, or --to),
    else where the store's first archive run put it, else the default. None when there
    is none yet and no default (PostgreSQL without archive_dir).

    A configured folder other than the recorded one is refused while the recorded one
    still holds files (the reports would lose sight of them), and taken over when the
    folder was moved there."""
    recorded = store.get_meta(LOCATION_KEY)
    if not configured:
        return recorded or default_location(database)
    wanted = os.path.abspath(configured)
    if recorded and recorded != wanted and Archive(recorded).files():
        raise InputError(f"this store's archive is at {recorded}; move that folder to "
                         f"{wanted} first, or set archive_dir to it", field="archive_dir")
    return wanted


def open_archive(store: SqlStore) -> Archive | None:
    """The store's archive, with any batch a crash left pending published; None when the
    store has never archived."""
    location = store.get_meta(LOCATION_KEY)
    if not location:
        return None
    archive = Archive(location)
    recover(store, archive)
    return archive


def recover(store: SqlStore, archive: Archive) -> None:
    """Finish what a crash interrupted: publish the batch whose rows the store forgot, and
    complete a rewrite whose new files were all staged."""
    pending = store.get_meta(PENDING_KEY)
    if pending:
        archive.publish(pending)
        with store.transaction():
            store.delete_meta(PENDING_KEY)
    replacing = store.get_meta(REPLACING_KEY)
    if replacing:
        _finish_replacing(store, archive, loads(replacing))


def replace_files(store: SqlStore, archive: Archive, old: Sequence[Path], batch: str) -> None:
    """Publish the staged BATCH in place of the files OLD, crash-safe: the intent is noted in
    the store first, so a crash half-way is finished by :func:`recover`."""
    plan = {"batch": batch, "old": [str(path.relative_to(archive.root)) for path in old]}
    with store.transaction():
        store.set_meta(REPLACING_KEY, dumps(plan))
    _finish_replacing(store, archive, plan)


def _finish_replacing(store: SqlStore, archive: Archive, plan: dict[str, Any]) -> None:
    archive.publish(plan["batch"])
    for relative in plan["old"]:
        (archive.root / relative).unlink(missing_ok=True)
    with store.transaction():
        store.delete_meta(REPLACING_KEY)


def archive_before(store: SqlStore, archive: Archive, before: float, recount: Recount, *,
                   limit: int | None = None, progress: Progress | None = None,
                   dry_run: bool = False) -> ArchiveRun:
    """Move every message whose events are all older than BEFORE (Unix seconds) into
    ARCHIVE, at most LIMIT messages; RECOUNT has the report rollups count each chunk again
    before its rows leave the store. With DRY_RUN, count what would move and move nothing."""
    with archive.locked():
        return _archive_before(store, archive, before, recount, limit, progress, dry_run)


def _archive_before(store: SqlStore, archive: Archive, before: float, recount: Recount,
                    limit: int | None, progress: Progress | None, dry_run: bool
                    ) -> ArchiveRun:
    started = time.monotonic()
    run = ArchiveRun()
    recover(store, archive)
    archive.discard_stale()
    if not dry_run:
        with store.transaction():
            store.set_meta(LOCATION_KEY, str(archive.root.absolute()))
    # One scan finds the candidates; each chunk is checked again as it moves (a message
    # that got an event meanwhile stays for the next run).
    candidates = store.archivable_messages(before, limit or 2**62)
    if dry_run:
        run.messages = len(candidates)
        run.events = store.count_message_events(candidates)
        run.campaigns.update(store.campaigns_of_messages(candidates))
        candidates = []
    for start in range(0, len(candidates), CHUNK_MESSAGES):
        ids = store.archivable_messages(before, CHUNK_MESSAGES,
                                        among=candidates[start:start + CHUNK_MESSAGES])
        if not ids:
            continue
        rows = store.archive_rows(ids)
        recount(ids)
        run.messages += len(ids)
        run.events += len(rows)
        run.campaigns.update(row.campaign_id for row in rows)
        run.files += _move(store, archive, ids, rows)
        if progress is not None:
            progress(run.messages, run.events)
    run.seconds = time.monotonic() - started
    return run


def _move(store: SqlStore, archive: Archive, ids: list[str], rows: list[ArchivedEvent]
          ) -> int:
    batch = new_batch()
    known = store.archived_messages(ids)
    partitions: dict[str, set[str]] = {m: set(known[m].partitions) if m in known else set()
                                       for m in ids}
    for row in rows:
        partitions[row.message_id].add(partition_of(row.campaign_id, row.ts))
    staged = archive.stage(rows, batch)
    with store.transaction():
        store.forget_archived(rows, batch, {m: tuple(sorted(p)) for m, p in partitions.items()},
                              time.time())
        store.set_meta(PENDING_KEY, batch)
    archive.publish(batch)
    with store.transaction():
        store.delete_meta(PENDING_KEY)
    return len(staged)
