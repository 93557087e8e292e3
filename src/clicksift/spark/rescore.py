"""``clicksift rescore --engine spark``: the store's messages judged again on Spark.

The messages' stored events are written as JSON Lines to a work folder that the executors
read (a local temporary folder by default, which serves ``local[*]``; on a cluster, a
shared file system or object-storage URL), judged by :mod:`clicksift.spark.judge`, and the
final verdicts come back to the store a partition at a time, saved as ``rescore`` saves its
own.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Sequence

from pyspark.sql import SparkSession

from clicksift.classify.gateways import mx_priors
from clicksift.classify.rescore import VerdictStore, address_hashed, save_final
from clicksift.events import dumps
from clicksift.spark.judge import EngineSpec, SparkRun, judge_frame, read_events, verdicts_of_frame


def rescore_on_spark(spark: SparkSession, store: VerdictStore, spec: EngineSpec,
                     message_ids: Sequence[str], *, engine_version: str,
                     ip_retention: str = "keep", work_dir: str | None = None,
                     progress: Callable[[str], None] | None = None) -> SparkRun:
    """Final verdicts for every engagement event of MESSAGE_IDS, judged on SPARK and saved
    in STORE; then IP_RETENTION applies to their addresses."""
    spec = EngineSpec(spec.config, spec.knowledge_dir, mx_priors(store.mx_records().values()))
    say = progress or (lambda stage: None)
    with tempfile.TemporaryDirectory(prefix="clicksift-spark-", dir=work_dir) as folder:
        path = os.path.join(folder, "events.jsonl")
        say("writing the stored events for Spark")
        hashed: set[str] = set()
        with open(path, "w", encoding="utf-8") as handle:
            for stored in store.events_of_messages(message_ids):
                if address_hashed(stored.raw):
                    hashed.add(str(stored.raw.get("id")))
                handle.write(dumps(stored.raw) + "\n")
        verdicts, run = judge_frame(spark, read_events(spark, [path], "jsonl"), spec,
                                    output_format="flat", progress=progress)
        say("saving the verdicts")
        save_final(store, verdicts_of_frame(verdicts), engine_version, message_ids,
                   ip_retention, keep=hashed)
        verdicts.unpersist()
    return run
