"""Reports recounted from the events themselves, the archive's included (`clicksift report
--archive`).

The rollups keep counting archived messages, so everyday reports need no archive. This
recount reads every event again instead (the store's and the archive's Parquet files, or an
archive alone), into a scratch store whose rollups the ordinary report functions then read:
the check that the rollups still agree with the events, and the report of an archive whose
store is gone.
"""

from __future__ import annotations

from collections.abc import Callable

from clicksift.archive import Archive, escape_value
from clicksift.reports.rollup import refresh
from clicksift.storage import ArchivedEvent, SqlStore

#: Events written to the scratch store per transaction.
CHUNK = 5_000

Progress = Callable[[int], None]   # events read so far


def recount_into(scratch: SqlStore, archive: Archive | None, store: SqlStore | None = None,
                 *, campaign_id: str | None = None, progress: Progress | None = None) -> int:
    """Fill the empty store SCRATCH with the events and verdicts of ARCHIVE and STORE (of
    CAMPAIGN_ID), its campaigns and cached MX records, and count its rollups. Returns how
    many events were read."""
    read = 0
    pending: list[ArchivedEvent] = []

    def flush() -> None:
        nonlocal read
        with scratch.transaction():
            scratch.restore_archived(pending)
        read += len(pending)
        pending.clear()
        if progress is not None:
            progress(read)

    if store is not None:
        with scratch.transaction():
            scratch.save_campaigns(store.campaigns())
        scratch.save_mx_records(store.mx_records().values())
        live = store.message_ids(campaign_id=campaign_id)
        for start in range(0, len(live), 500):
            pending.extend(store.archive_rows(live[start:start + 500]))
            if len(pending) >= CHUNK:
                flush()
    if archive is not None:
        folders = None if campaign_id is None else [f"campaign={escape_value(campaign_id)}"]
        for row in archive.read(partitions=folders):
            pending.append(row)
            if len(pending) >= CHUNK:
                flush()
    flush()
    refresh(scratch)
    return read
