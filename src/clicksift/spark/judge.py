"""The batch classifier's two passes as Spark stages.

1. Events (JSON Lines or Parquet, local paths or any URL Spark's file systems read; the
   folder of a clicksift archive, whose rows keep each event as JSON text) become
   one JSON text each, keyed by message id and by their place in the input, and are
   repartitioned by message so that all of a message's events meet in one partition.
2. First pass, ``mapInArrow`` over each partition's Arrow record batches: the engine's
   per-event and message-context findings. Each message becomes one row of digests; each
   partition adds one row holding its cross-message aggregator.
3. The driver merges the partitions' aggregators (a merge depends neither on how the
   messages were split nor on the order: :class:`CrossMessage`) and broadcasts the result.
4. Second pass, ``mapInArrow`` over the digests: cross-message findings and the verdicts,
   written as JSON Lines (the lines ``clicksift classify`` prints) or Parquet.

The functions each stage runs are those :mod:`clicksift.classify.batch` runs on one machine,
with an engine built from the same :class:`EngineSpec`; nothing runs per row outside them.
So the verdicts are the single machine's, field for field (a test compares them).
"""

from __future__ import annotations

import os
import pickle
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from clicksift.classify.batch import BatchStats, collector_paused, observe_messages
from clicksift.classify.config import ClassifierConfig
from clicksift.classify.engine import Engine
from clicksift.classify.knowledge import load_knowledge
from clicksift.classify.signals.crossmessage import CrossMessage
from clicksift.classify.spill import digest_of_row, flat_digest, flat_verdict, verdict_of_row
from clicksift.classify.vocabulary import Label, Verdict
from clicksift.errors import InputError
from clicksift.events import Event, dumps, event_from_dict, loads
from clicksift.storage.sql import reasons_json

# The stages pass this job's own values between them (the engine's specification, the
# partitions' aggregators) pickled, as Spark passes its closures: nothing read from outside.

#: Rows per Arrow record batch a stage yields.
BATCH_ROWS = 2_000
#: Output formats: the verdict lines of docs/events.md, typed Parquet columns, or the flat
#: rows ``rescore`` saves in the store.
FORMATS = ("jsonl", "parquet")
INPUT_FORMATS = ("auto", "jsonl", "parquet")
Render = Callable[[Verdict], str]

_FIRST_SCHEMA = "kind string, message_id string, payload binary"
_LINE_SCHEMA = "type string, verdict string, line string"
_FLAT_SCHEMA = "type string, verdict string, flat string"
#: The verdict columns of an archive file (docs/archive.md; reasons as the store keeps them).
_ARCHIVE_SCHEMA = ("type string, id string, verdict string, score double, kind string, "
                   "vendor string, reasons string, final boolean")
_PARQUET_SCHEMA = ("type string, id string, verdict string, score double, kind string, "
                   "vendor string, final boolean, "
                   "reasons array<struct<rule: string, detail: string, weight: double>>")


@dataclass(frozen=True)
class EngineSpec:
    """What builds the engine on every executor: the classifier's configuration, the
    knowledge folder (None: the knowledge shipped in the package; on a cluster, a folder
    every executor reads) and the recipient domains' gateways known from MX."""
    config: ClassifierConfig = field(default_factory=ClassifierConfig)
    knowledge_dir: str | None = None
    mx_gateways: dict[str, tuple[str, float]] = field(default_factory=dict)

    def engine(self) -> Engine:
        engine = Engine(self.config, load_knowledge(self.knowledge_dir))
        engine.mx_gateways = dict(self.mx_gateways)
        return engine


@dataclass
class SparkRun:
    """What a run judged: the counts of ``clicksift classify``, and the invalid records."""
    stats: BatchStats
    events: int = 0
    invalid: int = 0
    first_errors: list[str] = field(default_factory=list)


#: One engine per executor process and specification (building one loads the knowledge).
_ENGINES: dict[bytes, Engine] = {}


def _engine(spec: bytes) -> Engine:
    engine = _ENGINES.get(spec)
    if engine is None:
        engine = _ENGINES[spec] = pickle.loads(spec).engine()   # noqa: S301 (our own)
    return engine


def spark_session(master: str | None = None, app_name: str = "clicksift") -> SparkSession:
    """The running session (``spark-submit`` made one), or a new one on MASTER (default
    ``local[*]``: every core of this machine). Times are read and written in UTC."""
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.appName(app_name)
    if master:
        builder = builder.master(master)
    elif not os.environ.get("SPARK_HOME") and "pyspark-shell" not in os.environ.get(
            "PYSPARK_SUBMIT_ARGS", "pyspark-shell"):
        builder = builder.master("local[*]")
    session = (builder.config("spark.sql.session.timeZone", "UTC")
               .config("spark.ui.showConsoleProgress", "false")
               .getOrCreate())
    session.sparkContext.setLogLevel("ERROR")
    return session


def _input_format(paths: Sequence[str], chosen: str) -> str:
    if chosen != "auto":
        return chosen
    parquet = [p.rstrip("/").endswith(".parquet") or _is_parquet_folder(p) for p in paths]
    if any(parquet) and not all(parquet):
        raise InputError("the inputs mix Parquet and JSON Lines; give one kind per run "
                         "(or --input-format)", source=paths[0])
    return "parquet" if all(parquet) else "jsonl"


def _is_parquet_folder(path: str) -> bool:
    return os.path.isdir(path) and any(
        name.endswith(".parquet") for _, _, names in os.walk(path) for name in names)


def read_events(spark: SparkSession, paths: Sequence[str], input_format: str = "auto"
                ) -> DataFrame:
    """Each event as its JSON text (``value``), with its file (``source``), its place in
    the input (``seq``) and its message id (``message_id``)."""
    kind = _input_format(paths, input_format)
    if kind == "parquet":
        # files written at different times carry different columns: read them all
        frame = spark.read.option("mergeSchema", "true").parquet(*paths)
        texts = frame.select(event_text(frame).alias("value"),
                             F.col("_metadata.file_path").alias("source"))
    else:
        texts = spark.read.text(list(paths)).select(
            "value", F.col("_metadata.file_path").alias("source"))
    return keyed(texts)


def event_text(frame: DataFrame) -> Column:
    """Each row of a Parquet FRAME as its event's JSON text: an archive's rows keep it
    whole (column ``event``, docs/archive.md); other files' columns are the event's fields."""
    if {"event", "message_id", "verdict"} <= set(frame.columns):
        return F.col("event")
    return F.to_json(F.struct(*[F.col(f"`{c}`") for c in frame.columns]))


def keyed(texts: DataFrame) -> DataFrame:
    """Event texts (``value``, ``source``) with their place in the input and message id."""
    return (texts.where(F.trim("value") != "")
            .withColumn("seq", F.monotonically_increasing_id())
            .withColumn("message_id",
                        F.coalesce(F.get_json_object("value", "$.message_id"), F.lit(""))))


def _first_pass(spec: bytes) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        with collector_paused():      # as on one machine: the passes make no cycles
            yield from observed(batches)

    def observed(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        engine = _engine(spec)
        items: list[tuple[int, Event]] = []
        bad: list[tuple[str, str]] = []
        for batch in batches:
            for value, source, seq in zip(batch.column("value").to_pylist(),
                                          batch.column("source").to_pylist(),
                                          batch.column("seq").to_pylist(), strict=True):
                try:
                    items.append((seq, event_from_dict(loads(value))))
                except (InputError, ValueError) as error:   # invalid, or not JSON at all
                    bad.append((source, str(error)))
        items.sort(key=lambda item: item[0])     # the input's order, as on one machine
        cross = CrossMessage(engine.mx_gateways)
        messages, _ = observe_messages(engine, items, cross)
        rows: list[tuple[str, str | None, bytes]] = []
        for message in messages:
            if message:
                rows.append(("m", message[0].message_id,
                             dumps([flat_digest(s) for s in message]).encode()))
            if len(rows) >= BATCH_ROWS:
                yield _first_rows(rows)
                rows = []
        rows.append(("x", None, pickle.dumps(cross)))
        rows.append(("n", None, str(len(items) + len(bad)).encode()))
        rows += [("bad", source, reason.encode()) for source, reason in bad]
        yield _first_rows(rows)
    return run


def _first_rows(rows: list[tuple[str, str | None, bytes]]) -> pa.RecordBatch:
    kinds, ids, payloads = zip(*rows, strict=True) if rows else ((), (), ())
    return pa.RecordBatch.from_arrays(
        [pa.array(kinds, pa.string()), pa.array(ids, pa.string()),
         pa.array(payloads, pa.binary())], names=["kind", "message_id", "payload"])


def _second_pass(spec: bytes, cross_blob: Any, output: str, render: Render | None
                 ) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        with collector_paused():
            yield from judged(batches)

    def judged(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        engine = _engine(spec)
        cross: CrossMessage = pickle.loads(cross_blob.value)   # noqa: S301 (our own)
        verdicts: list[tuple[str, Verdict]] = []
        for batch in batches:
            for payload in batch.column("payload").to_pylist():
                message = [digest_of_row(row) for row in loads(payload)]
                cross.apply(message)
                verdicts += [(s.type, v) for s, v in
                             zip(message, engine.judge_message(message), strict=True)]
                if len(verdicts) >= BATCH_ROWS:
                    yield _verdict_rows(verdicts, output, render)
                    verdicts = []
        if verdicts:
            yield _verdict_rows(verdicts, output, render)
    return run


def _verdict_rows(verdicts: list[tuple[str, Verdict]], output: str, render: Render | None
                  ) -> pa.RecordBatch:
    types = pa.array([kind for kind, _ in verdicts], pa.string())
    labels = pa.array([v.verdict for _, v in verdicts], pa.string())
    if output == "flat":
        flat = pa.array([dumps(flat_verdict(v)) for _, v in verdicts], pa.string())
        return pa.RecordBatch.from_arrays([types, labels, flat],
                                          names=["type", "verdict", "flat"])
    if output == "archive":
        return pa.RecordBatch.from_pydict({
            "type": types, "id": pa.array([v.id for _, v in verdicts], pa.string()),
            "verdict": labels, "score": pa.array([v.score for _, v in verdicts], pa.float64()),
            "kind": pa.array([v.kind for _, v in verdicts], pa.string()),
            "vendor": pa.array([v.vendor for _, v in verdicts], pa.string()),
            "reasons": pa.array([reasons_json(tuple(v.reasons)) for _, v in verdicts],
                                pa.string()),
            "final": pa.array([v.final for _, v in verdicts], pa.bool_())})
    if output == "jsonl":
        show = render or Verdict.json_line
        lines = pa.array([show(v).rstrip("\n") for _, v in verdicts], pa.string())
        return pa.RecordBatch.from_arrays([types, labels, lines],
                                          names=["type", "verdict", "line"])
    reasons = [[{"rule": f.rule, "detail": f.detail, "weight": f.weight} for f in v.reasons]
               for _, v in verdicts]
    columns = {"type": types, "id": pa.array([v.id for _, v in verdicts], pa.string()),
               "verdict": labels, "score": pa.array([v.score for _, v in verdicts],
                                                    pa.float64()),
               "kind": pa.array([v.kind for _, v in verdicts], pa.string()),
               "vendor": pa.array([v.vendor for _, v in verdicts], pa.string()),
               "final": pa.array([v.final for _, v in verdicts], pa.bool_()),
               "reasons": pa.array(reasons, pa.list_(pa.struct(
                   [("rule", pa.string()), ("detail", pa.string()),
                    ("weight", pa.float64())])))}
    return pa.RecordBatch.from_pydict(columns)


def judge_frame(spark: SparkSession, events: DataFrame, spec: EngineSpec, *,
                output_format: str = "jsonl", render: Render | None = None,
                skip_invalid: bool = False, partitions: int | None = None,
                progress: Callable[[str], None] | None = None) -> tuple[DataFrame, SparkRun]:
    """The verdicts on EVENTS (from :func:`read_events`) as a persisted DataFrame in
    OUTPUT_FORMAT's columns, and the run's counts. An invalid record raises its InputError
    (file and reason) unless SKIP_INVALID counts it."""
    say = progress or (lambda stage: None)
    blob = pickle.dumps(spec)
    parts = partitions or max(2, spark.sparkContext.defaultParallelism * 2)
    say("first pass: per-event and message findings")
    first = (events.repartition(parts, "message_id")
             .mapInArrow(_first_pass(blob), _FIRST_SCHEMA)
             .persist(StorageLevel.MEMORY_AND_DISK))
    first.count()     # every partition at once: the loop below then reads what is kept
    cross = CrossMessage(spec.mx_gateways)
    run = SparkRun(BatchStats())
    for row in first.where(F.col("kind") != "m").toLocalIterator():
        if row.kind == "x":
            cross.merge(pickle.loads(row.payload))   # noqa: S301 (this job's)
        elif row.kind == "n":                        # records this partition read
            run.events += int(bytes(row.payload))
        else:
            run.invalid += 1
            reason = bytes(row.payload).decode()
            if not skip_invalid:
                first.unpersist()
                raise InputError(f"an event is invalid: {reason}", source=row.message_id)
            if len(run.first_errors) < 10:
                run.first_errors.append(f"{row.message_id}: {reason}")
    say("second pass: cross-message findings and verdicts")
    shared = spark.sparkContext.broadcast(pickle.dumps(cross))
    schema = {"jsonl": _LINE_SCHEMA, "flat": _FLAT_SCHEMA,
              "archive": _ARCHIVE_SCHEMA}.get(output_format, _PARQUET_SCHEMA)
    verdicts = (first.where(F.col("kind") == "m").select("payload")
                .mapInArrow(_second_pass(blob, shared, output_format, render), schema)
                .persist(StorageLevel.MEMORY_AND_DISK))
    for row in verdicts.groupBy("type", "verdict").count().collect():
        run.stats.classified += row["count"]
        mine = run.stats.by_type.setdefault(row.type, {Label.HUMAN: 0, Label.NHI: 0})
        mine[row.verdict] += row["count"]
        if row.verdict == Label.NHI:
            run.stats.nhi += row["count"]
    first.unpersist()
    return verdicts, run


def judge_on_spark(spark: SparkSession, paths: Sequence[str], output: str,
                   spec: EngineSpec, *, input_format: str = "auto",
                   output_format: str = "jsonl", render: Render | None = None,
                   skip_invalid: bool = False, partitions: int | None = None,
                   progress: Callable[[str], None] | None = None) -> SparkRun:
    """Judge the event logs at PATHS and write the verdicts to the folder OUTPUT (JSON
    Lines part files, or Parquet). Returns the counts."""
    if output_format not in FORMATS:
        raise InputError(f"the output format must be one of {', '.join(FORMATS)}",
                         source=output)
    events = read_events(spark, paths, input_format)
    verdicts, run = judge_frame(spark, events, spec, output_format=output_format,
                                render=render, skip_invalid=skip_invalid,
                                partitions=partitions, progress=progress)
    (progress or (lambda stage: None))(f"writing {output}")
    if output_format == "jsonl":
        verdicts.select("line").write.mode("overwrite").text(output)
    else:
        verdicts.drop("type").write.mode("overwrite").parquet(output)
    verdicts.unpersist()
    return run


def verdicts_of_frame(verdicts: DataFrame) -> Iterator[Verdict]:
    """The verdicts of a ``flat`` frame, brought to the driver a partition at a time."""
    for row in verdicts.select("flat").toLocalIterator():
        yield verdict_of_row(loads(row.flat))
