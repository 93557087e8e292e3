"""``clicksift classify`` (files in, verdicts out) and ``clicksift rescore`` (the store)."""

from __future__ import annotations

import os
import sys
from types import ModuleType
from typing import IO, Any

import click

from clicksift import reports
from clicksift.archive import open_archive
from clicksift.classify import BatchClassifier, engine_from_settings
from clicksift.classify.batch import worker_count
from clicksift.classify.engine import Engine
from clicksift.classify.rescore import rescore
from clicksift.cli.common import (
    Context,
    console_err,
    db_option,
    event_progress,
    pass_context,
    report_skipped,
    time_option,
    verdict_summary,
    warn,
)
from clicksift.cli.report import refresh_with_progress
from clicksift.errors import InputError
from clicksift.events import ReadStats, dumps
from clicksift.settings import Settings
from clicksift.storage import SqlStore


def _check_files(files: tuple[str, ...]) -> None:
    """Name a missing input file before any output is opened (URLs are the engine's)."""
    for path in files:
        if path != "-" and "://" not in path and not os.path.exists(path):
            raise InputError("cannot read: no such file", source=path)


def _spark() -> ModuleType:
    """The Spark engine, or a one-line error saying how to install it."""
    try:
        import clicksift.spark as spark
    except ImportError as error:
        raise click.ClickException(
            f"the Spark engine needs PySpark ({error.name} is missing): "
            "pip install 'clicksift[spark]', and Java 17 or newer") from None
    return spark


def _spark_session(spark: ModuleType, master: str | None) -> Any:
    try:
        return spark.spark_session(master)
    except Exception as error:   # the JVM did not start: PySpark's own error types
        first = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
        raise click.ClickException(f"Spark did not start ({first}); is Java 17 or newer "
                                   "installed (JAVA_HOME)?") from None


def _engine_spec(spark: ModuleType, settings: Settings, engine: Engine) -> Any:
    return spark.EngineSpec(engine.config, settings.knowledge_dir or None,
                            dict(engine.mx_gateways))


def _line(verdict_json: dict[str, object], explain: bool, engine: str,
          weights: list[float]) -> str:
    if explain:
        verdict_json["engine"] = engine
        for reason, weight in zip(verdict_json["reasons"], weights, strict=True):  # type: ignore[call-overload]
            reason["weight"] = weight
    return dumps(verdict_json) + "\n"


@click.command()
@click.argument("files", nargs=-1, required=True, metavar="EVENTS.jsonl...")
@click.option("-o", "--output", metavar="VERDICTS.jsonl", help="Output file (default: stdout).")
@click.option("--skip-invalid", is_flag=True,
              help="Count and skip invalid lines instead of stopping at the first.")
@click.option("--explain", is_flag=True,
              help="Add each reason's weight and the engine version to the verdicts.")
@click.option("--engine", "engine_name", type=click.Choice(["local", "spark"]),
              default="local", show_default=True,
              help="Judge on this machine, or on Apache Spark (clicksift[spark]).")
@click.option("--master", metavar="URL",
              help="Spark master (default: local[*], or spark-submit's).")
@click.option("--input-format", type=click.Choice(["auto", "jsonl", "parquet"]),
              default="auto", show_default=True,
              help="Spark: the event logs' format (auto: Parquet by name).")
@click.option("--output-format", type=click.Choice(["jsonl", "parquet"]), default="jsonl",
              show_default=True, help="Spark: verdicts as JSON Lines or Parquet.")
@pass_context
def classify(ctx: Context, files: tuple[str, ...], output: str | None, skip_invalid: bool,
             explain: bool, engine_name: str, master: str | None, input_format: str,
             output_format: str) -> None:
    """Judge every open, click and unsubscribe in EVENTS.jsonl ('-' is standard input):
    one verdict line each (docs/events.md), in input order. With --engine spark, EVENTS
    are JSON Lines or Parquet files, folders or URLs, and -o names the folder that gets
    the verdicts (docs/scale.md)."""
    settings = ctx.settings()
    engine = engine_from_settings(settings)
    stats = ReadStats()
    _check_files(files)
    if engine_name == "spark":
        _classify_on_spark(settings, engine, files, output, skip_invalid, explain, master,
                           input_format, output_format)
        return
    out: IO[str] = (sys.stdout if output is None or output == "-"
                    else open(output, "w", encoding="utf-8"))  # noqa: SIM115
    try:
        with event_progress() as progress:
            task = progress.add_task("classifying", total=None)
            batch = BatchClassifier(engine, workers=worker_count(settings.classify_workers),
                                    progress=lambda stage, n: progress.update(
                task, description=stage, completed=n))
            render = (lambda verdict: _line(verdict.to_json(), explain, engine.version,
                                            [f.weight for f in verdict.reasons])
                      ) if explain else None
            for line in batch.render_files(files, render, skip_invalid=skip_invalid,
                                           stats=stats):
                out.write(line)
    finally:
        if out is not sys.stdout:
            out.close()
        else:
            out.flush()
    verdict_summary(batch.stats.by_type, f"{batch.stats.classified:,} verdicts from "
             f"{stats.events:,} events ({engine.version})")
    report_skipped(stats)


def _classify_on_spark(settings: Settings, engine: Engine, files: tuple[str, ...],
                       output: str | None, skip_invalid: bool, explain: bool,
                       master: str | None, input_format: str, output_format: str) -> None:
    if not output or output == "-" or "-" in files:
        raise click.UsageError("--engine spark reads files and writes a folder: give "
                               "EVENTS as paths and -o FOLDER")
    spark = _spark()
    version = engine.version
    render = (lambda verdict: _line(verdict.to_json(), True, version,
                                    [f.weight for f in verdict.reasons])) if explain else None
    session = _spark_session(spark, master)
    with console_err.status("starting Spark") as status:
        run = spark.judge_on_spark(
            session, list(files), output, _engine_spec(spark, settings, engine),
            input_format=input_format, output_format=output_format, render=render,
            skip_invalid=skip_invalid, progress=lambda stage: status.update(stage))
    verdict_summary(run.stats.by_type, f"{run.stats.classified:,} verdicts from "
                    f"{run.events - run.invalid:,} events on Spark ({version}), in {output}")
    report_skipped(ReadStats(lines=run.events, events=run.events - run.invalid,
                             skipped=run.invalid, first_errors=run.first_errors))


def rescore_messages(store: SqlStore, engine: Engine, message_ids: list[str],
                     workers: int = 1) -> BatchClassifier:
    """Final verdicts for every event of MESSAGE_IDS, stored; reports brought up to date."""
    with reports.counted_again(store, message_ids), event_progress() as progress:
        task = progress.add_task("rescoring", total=None)
        batch = rescore(store, engine, message_ids, workers=workers, progress=lambda stage, n:
                        progress.update(task, description=stage, completed=n))
    refresh_with_progress(store)
    return batch


@click.command("rescore")
@db_option
@click.option("--campaign", metavar="ID", help="Only this campaign's messages.")
@click.option("--since", metavar="TIME", help="Only messages with events at or after TIME.")
@click.option("--until", metavar="TIME", help="Only messages with events before TIME.")
@click.option("--engine", "engine_name", type=click.Choice(["local", "spark"]),
              default="local", show_default=True,
              help="Judge on this machine, or on Apache Spark (clicksift[spark]).")
@click.option("--master", metavar="URL",
              help="Spark master (default: local[*], or spark-submit's).")
@click.option("--work-dir", metavar="DIR", help="Spark: a folder the executors read, "
              "for the events (default: a temporary folder on this machine).")
@click.option("--archive", "in_archive", is_flag=True,
              help="Judge the archive's events instead (all, or --campaign's) and rewrite "
                   "its files; needs --engine spark (docs/archive.md).")
@pass_context
def rescore_command(ctx: Context, database: str | None, campaign: str | None,
                    since: str | None, until: str | None, engine_name: str,
                    master: str | None, work_dir: str | None, in_archive: bool) -> None:
    """Recompute final verdicts for stored events (all, a campaign, or a period), with full
    message and cross-message context; each verdict records the engine version."""
    settings = ctx.settings(database=database)
    start, end = time_option(since, "--since"), time_option(until, "--until")
    engine = engine_from_settings(settings)
    if in_archive:
        if engine_name != "spark":
            raise click.UsageError("rescoring the archive runs on Spark: add --engine spark "
                                   "(local[*] runs it on this machine's cores)")
        if since or until:
            raise click.UsageError("--archive rescores whole campaigns: leave out --since "
                                   "and --until")
        _rescore_archive(ctx, settings, engine, campaign, master)
        return
    with ctx.store(settings) as store:
        message_ids = store.message_ids(campaign_id=campaign, since=start, until=end)
        if not message_ids:
            warn("no stored events match; nothing to rescore")
            return
        if engine_name == "spark":
            by_type = _rescore_on_spark(settings, store, engine, message_ids, master,
                                        work_dir)
        else:
            by_type = rescore_messages(store, engine, message_ids,
                                       worker_count(settings.classify_workers)).stats.by_type
    verdict_summary(by_type,
                    f"rescored {len(message_ids):,} messages ({engine.version})")


def _rescore_on_spark(settings: Settings, store: SqlStore, engine: Engine,
                      message_ids: list[str], master: str | None, work_dir: str | None
                      ) -> dict[str, dict[str, int]]:
    spark = _spark()
    from clicksift.spark.rescore import rescore_on_spark

    session = _spark_session(spark, master)
    with reports.counted_again(store, message_ids), \
            console_err.status("starting Spark") as status:
        run = rescore_on_spark(session, store, _engine_spec(spark, settings, engine),
                               message_ids, engine_version=engine.version,
                               ip_retention=engine.ip_retention, work_dir=work_dir,
                               progress=lambda stage: status.update(stage))
    refresh_with_progress(store)
    by_type: dict[str, dict[str, int]] = run.stats.by_type
    return by_type


def _rescore_archive(ctx: Context, settings: Settings, engine: Engine, campaign: str | None,
                     master: str | None) -> None:
    spark = _spark()
    from clicksift.spark.archive import rescore_archive_on_spark

    with ctx.store(settings) as store:
        archive = open_archive(store)
        if archive is None:
            warn("this store has no archive yet ('clicksift archive --before DATE' makes "
                 "one); nothing to rescore")
            return
        session = _spark_session(spark, master)
        with reports.counted_again(store, store.archived_message_ids(campaign)), \
                console_err.status("starting Spark") as status:
            run = rescore_archive_on_spark(
                session, store, archive, _engine_spec(spark, settings, engine),
                engine_version=engine.version, campaign_id=campaign,
                progress=lambda stage: status.update(stage))
        refresh_with_progress(store)
    verdict_summary(run.stats.by_type, f"rescored {run.events:,} archived events on Spark "
                    f"({engine.version}), in {archive.root}")


COMMANDS = [classify, rescore_command]
