"""``clicksift classify`` (files in, verdicts out) and ``clicksift rescore`` (the store)."""

from __future__ import annotations

import os
import sys
from typing import IO

import click

from clicksift import reports
from clicksift.classify import BatchClassifier, engine_from_settings
from clicksift.classify.batch import worker_count
from clicksift.classify.engine import Engine
from clicksift.classify.rescore import rescore
from clicksift.cli.common import (
    Context,
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
from clicksift.storage import SqlStore


def _check_files(files: tuple[str, ...]) -> None:
    """Name a missing input file before any output is opened."""
    for path in files:
        if path != "-" and not os.path.exists(path):
            raise InputError("cannot read: no such file", source=path)






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
@pass_context
def classify(ctx: Context, files: tuple[str, ...], output: str | None, skip_invalid: bool,
             explain: bool) -> None:
    """Judge every open, click and unsubscribe in EVENTS.jsonl ('-' is standard input):
    one verdict line each (docs/events.md), in input order."""
    settings = ctx.settings()
    engine = engine_from_settings(settings)
    stats = ReadStats()
    _check_files(files)
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


def rescore_messages(store: SqlStore, engine: Engine, message_ids: list[str],
                     workers: int = 1) -> BatchClassifier:
    """Final verdicts for every event of MESSAGE_IDS, stored; reports brought up to date."""
    with store.transaction():   # reports count these messages again
        reports.mark_dirty(store, message_ids)
    with event_progress() as progress:
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
@pass_context
def rescore_command(ctx: Context, database: str | None, campaign: str | None,
                    since: str | None, until: str | None) -> None:
    """Recompute final verdicts for stored events (all, a campaign, or a period), with full
    message and cross-message context; each verdict records the engine version."""
    settings = ctx.settings(database=database)
    start, end = time_option(since, "--since"), time_option(until, "--until")
    engine = engine_from_settings(settings)
    with ctx.store(settings) as store:
        message_ids = store.message_ids(campaign_id=campaign, since=start, until=end)
        if not message_ids:
            warn("no stored events match; nothing to rescore")
            return
        batch = rescore_messages(store, engine, message_ids,
                                 worker_count(settings.classify_workers))
    verdict_summary(batch.stats.by_type,
                    f"rescored {len(message_ids):,} messages ({engine.version})")


COMMANDS = [classify, rescore_command]
