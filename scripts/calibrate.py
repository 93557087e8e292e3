#!/usr/bin/env python3
"""Fit the score's calibration slope on the simulator's tuning worlds.

Judges the tuning worlds (clicksift.simulate.worlds.TUNING_SEEDS; never the held-out ones
benchmarks/accuracy.py reports on) with the slope set to 1, and finds by Newton's method
the slope A that maximises the likelihood of the labels under score = sigmoid(A * log-odds)
(temperature scaling: one parameter, the 0.5 point and the order of events kept). Events
whose score a cap decided (a decisive finding, or machine evidence held as uncorroborated)
are left out: their score is not the evidence's log-odds. Prints the reliability of both
slopes per score band and ends with one JSON line; put the slope in
src/clicksift/classify/calibration.py.

    scripts/calibrate.py [--worlds 20] [--recipients 1500]
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import sys

from clicksift.classify import BatchClassifier, ClassifierConfig, Engine
from clicksift.classify.calibration import SLOPE
from clicksift.events import event_from_dict
from clicksift.simulate import SimulationConfig, events_and_truth, simulate
from clicksift.simulate.worlds import TUNING_SEEDS

BANDS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.01)
EDGE = 1e-4                      # scores are shown to four places: clip before the log-odds


def samples(worlds: int, recipients: int) -> list[tuple[float, bool]]:
    """(log-odds, is a machine) of every event whose score no cap decided."""
    engine = Engine(ClassifierConfig(calibration=1.0))
    found = []
    for number, seed in enumerate(TUNING_SEEDS[:worlds]):
        config = SimulationConfig(recipients=recipients, campaigns=1, seed=number + 1,
                                  world=f"random:{seed}")
        events, truth = events_and_truth(simulate(config))
        verdicts = {v.id: v for v in BatchClassifier(engine).classify(
            [event_from_dict(e) for e in events], expected=len(events))}
        for row in truth:
            verdict = verdicts[row["id"]]
            if any(r.decisive or r.rule == "evidence.uncorroborated" for r in verdict.reasons):
                continue
            score = min(max(verdict.score, EDGE), 1 - EDGE)
            found.append((math.log(score / (1 - score)), row["label"] == "nhi"))
        print(f"  random:{seed}: {len(found)} events so far", file=sys.stderr, flush=True)
    return found


def fit_slope(data: list[tuple[float, bool]]) -> float:
    """The slope of maximum likelihood (Newton's method on a convex loss)."""
    slope = 1.0
    for _ in range(50):
        gradient = curvature = 0.0
        for z, machine in data:
            p = 1.0 / (1.0 + math.exp(-max(min(slope * z, 40.0), -40.0)))
            gradient += (p - machine) * z
            curvature += p * (1 - p) * z * z
        step = gradient / max(curvature, 1e-12)
        slope = max(slope - step, 0.05)
        if abs(step) < 1e-6:
            break
    return slope


def reliability(data: list[tuple[float, bool]], slope: float) -> list[tuple[str, int, float,
                                                                                float]]:
    scored = [(1.0 / (1.0 + math.exp(-max(min(slope * z, 40.0), -40.0))), m) for z, m in data]
    rows = []
    for low, high in itertools.pairwise(BANDS):
        inside = [(s, m) for s, m in scored if low <= s < high]
        if inside:
            rows.append((f"{low:.1f}-{min(high, 1.0):.1f}", len(inside),
                         sum(s for s, _ in inside) / len(inside),
                         sum(m for _, m in inside) / len(inside)))
    return rows


def log_loss(data: list[tuple[float, bool]], slope: float) -> float:
    total = 0.0
    for z, machine in data:
        p = 1.0 / (1.0 + math.exp(-max(min(slope * z, 40.0), -40.0)))
        total -= math.log(max(p if machine else 1 - p, 1e-12))
    return total / max(1, len(data))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--worlds", type=int, default=len(TUNING_SEEDS))
    parser.add_argument("--recipients", type=int, default=1500)
    args = parser.parse_args()
    data = samples(args.worlds, args.recipients)
    slope = fit_slope(data)
    print(f"\nslope fitted on {len(data)} events of {args.worlds} tuning worlds: {slope:.3f}"
          f" (now {SLOPE})")
    for name, value in (("slope 1 (uncalibrated)", 1.0), (f"slope {slope:.3f}", slope)):
        print(f"\n{name}: log loss {log_loss(data, value):.4f}")
        print(f"  {'band':<10}{'events':>8}{'predicted':>11}{'observed':>10}")
        for band, count, predicted, observed in reliability(data, value):
            print(f"  {band:<10}{count:>8}{predicted:>11.3f}{observed:>10.3f}")
    print(json.dumps({"benchmark": "calibration", "events": len(data), "worlds": args.worlds,
                      "slope": round(slope, 3), "log_loss_uncalibrated": round(
                          log_loss(data, 1.0), 5), "log_loss": round(log_loss(data, slope), 5)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
