"""The archive: old events and their verdicts moved out of the store into Parquet files,
partitioned by campaign and month (docs/archive.md). Reports keep counting them; Spark
judges them again; erasure reaches them."""

from __future__ import annotations

from clicksift.archive.files import Archive, escape_value, month_of, partition_of
from clicksift.archive.move import (
    ArchiveRun,
    archive_before,
    default_location,
    locate,
    open_archive,
    recover,
    replace_files,
)

__all__ = ["Archive", "ArchiveRun", "archive_before", "default_location", "escape_value",
           "locate", "month_of", "open_archive", "partition_of", "recover", "replace_files"]
