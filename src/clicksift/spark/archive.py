"""``clicksift rescore --engine spark --archive``: the archive's events judged again on Spark,
and its files rewritten with the new verdicts (docs/archive.md).

Spark reads the archive's files (or one campaign's), judges their events as ``classify
--engine spark`` does, joins the new verdicts to the rows by event id, and writes the rows
back partitioned by campaign and month into a hidden folder inside the archive. The new
files are then staged into their partitions and published in place of the old ones, with
the intent noted in the store first, so a crash half-way is finished by the next reader
(:func:`clicksift.archive.recover`). The caller marks the messages for the reports
(``reports.counted_again``), which count them again from the new files.

Only the archive's own rows are judged: a late event of an archived message that is still
in the store keeps its verdict from ``rescore`` (without --archive).
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from clicksift.archive import Archive, escape_value, recover, replace_files
from clicksift.archive.files import SCHEMA, new_batch
from clicksift.classify.batch import BatchStats
from clicksift.classify.gateways import mx_priors
from clicksift.spark.judge import EngineSpec, SparkRun, event_text, judge_frame, keyed
from clicksift.storage import SqlStore

#: The verdict columns a rescore replaces (engine_version and computed_at are set apart).
VERDICT_COLUMNS = ("verdict", "score", "kind", "vendor", "reasons", "final")
_INFERENCE = "spark.sql.sources.partitionColumnTypeInference.enabled"


def rescore_archive_on_spark(spark: SparkSession, store: SqlStore, archive: Archive,
                             spec: EngineSpec, *, engine_version: str,
                             campaign_id: str | None = None,
                             progress: Callable[[str], None] | None = None) -> SparkRun:
    """Judge the archived events (of CAMPAIGN_ID) again on SPARK and rewrite their files
    with the new verdicts."""
    say = progress or (lambda stage: None)
    spec = EngineSpec(spec.config, spec.knowledge_dir, mx_priors(store.mx_records().values()))
    folders = None if campaign_id is None else [f"campaign={escape_value(campaign_id)}"]
    with archive.locked():
        recover(store, archive)
        old = archive.files(folders)
        if not old:
            return SparkRun(BatchStats())
        batch = new_batch()
        staging = archive.root / f".rescore-{batch}"
        previous = spark.conf.get(_INFERENCE, "true") or "true"
        spark.conf.set(_INFERENCE, "false")     # campaign "007" stays "007"
        try:
            rows = (spark.read.option("basePath", str(archive.root))
                    .parquet(*[str(path) for path in old]))
            events = keyed(rows.select(event_text(rows).alias("value"),
                                       F.col("_metadata.file_path").alias("source")))
            verdicts, run = judge_frame(spark, events, spec, output_format="archive",
                                        progress=progress)
            say("rewriting the archive's files")
            (_with_verdicts(rows, verdicts, engine_version, time.time())
             .write.partitionBy("campaign", "month").parquet(str(staging)))
            verdicts.unpersist()
        finally:
            spark.conf.set(_INFERENCE, previous)
        archive.adopt(staging, batch)
        replace_files(store, archive, old, batch)
        shutil.rmtree(staging, ignore_errors=True)
    return run


def _with_verdicts(rows: DataFrame, verdicts: DataFrame, engine_version: str,
                   now: float) -> DataFrame:
    """ROWS with the new VERDICTS in place of their old ones (rows without a new verdict,
    deliveries for example, and events whose address was hashed keep theirs), in the
    archive's columns."""
    new = verdicts.select(F.col("id").alias("_id"),
                          *[F.col(c).alias(f"_{c}") for c in VERDICT_COLUMNS])
    joined = rows.join(new, rows["id"] == new["_id"], "left")
    # an event whose address was hashed keeps its verdict (docs/privacy.md)
    address = F.coalesce(F.get_json_object("event", "$.ip"), F.lit(""))
    hashed = F.get_json_object("event", "$.ip_hash").isNotNull() & (address == F.lit(""))
    judged = F.col("_id").isNotNull() & ~hashed
    replaced = {c: F.when(judged, F.col(f"_{c}")).otherwise(F.col(c)) for c in VERDICT_COLUMNS}
    replaced["engine_version"] = F.when(judged, F.lit(engine_version)).otherwise(
        F.col("engine_version"))
    replaced["computed_at"] = F.when(judged, F.lit(now)).otherwise(F.col("computed_at"))
    columns = [replaced.get(field.name, F.col(field.name))
               .cast(_spark_type(str(field.type))).alias(field.name) for field in SCHEMA]
    return joined.select(*columns, "campaign", "month")


def _spark_type(arrow_type: str) -> str:
    return {"string": "string", "double": "double", "int64": "bigint",
            "bool": "boolean"}[arrow_type]
