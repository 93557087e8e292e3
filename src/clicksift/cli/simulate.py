"""``clicksift simulate``: labelled traffic for tests, benchmarks and demos."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path
from typing import IO

import click

from clicksift.classify.vocabulary import Label
from clicksift.cli.common import console_err, time_option
from clicksift.events import EventType, dumps
from clicksift.simulate import PRESETS, SimulationConfig, events_and_truth, simulate
from clicksift.simulate.worlds import STRESS_WORLDS, behaviour_for


@click.command("simulate")
@click.option("-o", "--output", metavar="EVENTS.jsonl", help="Events (default: stdout).")
@click.option("--truth", metavar="TRUTH.jsonl",
              help="Labels of every event (default: EVENTS.truth.jsonl beside -o).")
@click.option("--recipients", default=1000, show_default=True, type=click.IntRange(1, 5_000_000))
@click.option("--campaigns", default=1, show_default=True, type=click.IntRange(1, 100))
@click.option("--mix", default="mixed", show_default=True, type=click.Choice(list(PRESETS)),
              help="Audience mix: webmail, Apple Mail, companies behind each gateway.")
@click.option("--seed", default=1, show_default=True, type=int)
@click.option("--world", default="default", show_default=True, metavar="NAME",
              help="How the world behaves: default, random:SEED (every parameter drawn from "
              "a wide range) or stress:NAME (" + ", ".join(STRESS_WORLDS) + ").")
@click.option("--start", metavar="TIME", help="When the first campaign is sent (RFC 3339).")
@click.option("--links", default=8, show_default=True, type=click.IntRange(1, 200),
              help="Content links per message (plus a honeypot and the unsubscribe link).")
def simulate_command(output: str | None, truth: str | None, recipients: int, campaigns: int,
                     mix: str, seed: int, world: str, start: str | None,
                     links: int) -> None:
    """Write realistic, labelled engagement traffic: events in the shape of docs/events.md
    and a truth file saying which are people and which machines (kind, vendor, actor)."""
    first_send = time_option(start, "--start")
    try:
        behaviour_for(world)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--world") from None
    config = SimulationConfig(recipients=recipients, campaigns=campaigns, mix=mix, seed=seed,
                              content_links=links, world=world,
                              start=first_send if first_send is not None
                              else SimulationConfig.start)
    events, labels = events_and_truth(simulate(config))
    out: IO[str] = (sys.stdout if output is None or output == "-"
                    else open(output, "w", encoding="utf-8"))  # noqa: SIM115
    try:
        for event in sorted(events, key=lambda e: e["timestamp"]):
            out.write(dumps(event) + "\n")
    finally:
        if out is not sys.stdout:
            out.close()
    truth_path = truth or (str(Path(output).with_suffix("")) + ".truth.jsonl"
                           if output and output != "-" else None)
    if truth_path:
        with open(truth_path, "w", encoding="utf-8") as handle:
            for row in labels:
                handle.write(dumps(row) + "\n")
    counts = Counter((row["type"], row["label"]) for row in labels)
    summary = ", ".join(f"{kind} {counts[(kind, Label.HUMAN)]:,} human / "
                        f"{counts[(kind, Label.NHI)]:,} machine"
                        for kind in (EventType.OPEN, EventType.CLICK, EventType.UNSUBSCRIBE))
    console_err.print(f"simulated {len(events):,} events for {recipients:,} recipients x "
                      f"{campaigns} campaign(s) ({mix}, seed {seed}): {summary}"
                      + (f"; truth in {truth_path}" if truth_path else ""))


COMMANDS = [simulate_command]
