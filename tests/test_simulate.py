"""The simulator: a consistent world, reproducible runs, truth for every event, and a
classifier that holds its accuracy on it."""

from __future__ import annotations

import ipaddress
import random
from collections import Counter

import iporigin
import pytest

from clicksift.classify import BatchClassifier
from clicksift.classify.knowledge import load_knowledge
from clicksift.events import event_from_dict
from clicksift.simulate import PRESETS, SimulationConfig, events_and_truth, simulate
from clicksift.simulate.world import POOLS
from clicksift.simulate.worlds import (
    HELD_OUT_SEEDS,
    STRESS_WORLDS,
    TUNING_SEEDS,
    behaviour_for,
    random_behaviour,
)

KNOWLEDGE = load_knowledge()
# What each address pool must look like to the classifier's data sources:
# (iporigin kinds allowed, knowledge-base vendor or None).
EXPECTED = {
    "residential": ({"unknown"}, None), "aws": ({"hosting"}, None),
    "azure": ({"hosting", "unknown"}, None), "gcp": ({"hosting"}, None),
    "digitalocean": ({"hosting"}, None), "google_proxy": ({"hosting"}, None),
    "google_mail": ({"hosting"}, None), "yahoo_proxy": ({"unknown"}, None),
    "apple_relay": ({"vpn"}, None), "microsoft_eop": ({"hosting", "unknown"},
                                                      "microsoft_defender"),
    "microsoft_365": ({"hosting", "unknown"}, "microsoft_defender"),
    "proofpoint": ({"unknown"}, "proofpoint"), "barracuda": ({"unknown"}, "barracuda"),
    "unlisted_mimecast": ({"unknown"}, None), "unlisted_cisco": ({"unknown"}, None),
    "unlisted_trend": ({"unknown"}, None), "zscaler": ({"unknown"}, "zscaler"),
}


@pytest.mark.parametrize("name", sorted(POOLS))
def test_address_pools_look_to_the_classifier_as_the_simulation_claims(name: str) -> None:
    kinds, vendor = EXPECTED[name]
    rng = random.Random(name)
    for _ in range(300):
        address = POOLS[name].draw(rng)
        assert iporigin.classify(address).kind in kinds, (name, address)
        entry = KNOWLEDGE.match_network(ipaddress.ip_address(address))
        assert (entry.vendor if entry else None) == vendor, (name, address)


def test_runs_are_reproducible_and_every_engagement_event_has_its_truth() -> None:
    config = SimulationConfig(recipients=120, campaigns=2, seed=5)
    first, truth = events_and_truth(simulate(config))
    second, _ = events_and_truth(simulate(config))
    assert first == second
    engagement = [e["id"] for e in first if e["type"] in {"open", "click", "unsubscribe"}]
    assert sorted(engagement) == sorted(row["id"] for row in truth)
    assert len({e["id"] for e in first}) == len(first)
    for event in first:
        event_from_dict(event)  # every simulated event keeps the contract
    labels = Counter((row["type"], row["label"]) for row in truth)
    assert labels[("click", "nhi")] > labels[("click", "human")] > 0
    assert labels[("open", "nhi")] > 0 and labels[("open", "human")] > 0


def test_audience_mixes_are_shares() -> None:
    for mix in PRESETS.values():
        assert abs(sum(mix.values()) - 1) < 1e-9


def test_tuning_and_reporting_worlds_never_meet() -> None:
    """Rules are tuned on TUNING_SEEDS only; accuracy is reported on HELD_OUT_SEEDS (and the
    stress worlds), so the report speaks of worlds the rules were never fitted to."""
    assert not set(TUNING_SEEDS) & set(HELD_OUT_SEEDS)
    assert len(HELD_OUT_SEEDS) >= 20
    tuned = [behaviour_for(f"random:{seed}") for seed in TUNING_SEEDS[:3]]
    held = [behaviour_for(f"random:{seed}") for seed in HELD_OUT_SEEDS[:3]]
    assert all(t.mix != h.mix for t in tuned for h in held)


def test_random_worlds_vary_and_repeat() -> None:
    first, second = random_behaviour(TUNING_SEEDS[0]), random_behaviour(TUNING_SEEDS[1])
    assert first == random_behaviour(TUNING_SEEDS[0])
    assert first.mix != second.mix and first.gateways != second.gateways
    assert abs(sum((first.mix or {}).values()) - 1) < 1e-9
    with pytest.raises(ValueError, match="unknown world"):
        behaviour_for("random:x")


@pytest.mark.parametrize("name", sorted(STRESS_WORLDS))
def test_stress_worlds_hold_the_people_they_name(name: str) -> None:
    _, truth = events_and_truth(simulate(SimulationConfig(recipients=300, seed=3,
                                                          world=f"stress:{name}")))
    people = [row for row in truth if row["label"] == "human"]
    assert people
    hard = {case for row in people for case in row["hard_cases"]}
    assert hard, name


#: (world, mix, seed) of the tuning side only: the default world's mixes and random worlds
#: drawn from TUNING_SEEDS. Held-out worlds are for benchmarks/accuracy.py alone.
TUNED = [("default", "b2b", 21), ("default", "consumer", 22), ("default", "hard", 23),
         (f"random:{TUNING_SEEDS[0]}", "mixed", 24), (f"random:{TUNING_SEEDS[5]}", "mixed", 25)]


@pytest.mark.slow
@pytest.mark.parametrize(("world", "mix", "seed"), TUNED)
def test_classifier_keeps_its_accuracy_on_simulated_traffic(world: str, mix: str,
                                                             seed: int) -> None:
    events, truth = events_and_truth(simulate(SimulationConfig(recipients=600, seed=seed,
                                                               mix=mix, world=world)))
    verdicts = {v.id: v.verdict for v in BatchClassifier().classify(
        [event_from_dict(e) for e in events], expected=len(events))}
    cells: Counter[tuple[str, str]] = Counter()
    for row in truth:
        judged_machine = verdicts[row["id"]] == "nhi"
        cells[(row["type"], ("tp" if judged_machine else "fn") if row["label"] == "nhi"
               else ("fp" if judged_machine else "tn"))] += 1
    # People first: their opens and clicks judged machines stay rare, machines' clicks are
    # caught; opens are allowed to miss machines rather than people.
    for kind, recall_floor, fp_ceiling in (("click", 0.97, 0.02), ("open", 0.9, 0.03)):
        tp, fn, fp, tn = (cells[(kind, c)] for c in ("tp", "fn", "fp", "tn"))
        assert tp / max(1, tp + fn) >= recall_floor, (kind, cells)
        assert fp / max(1, fp + tn) <= fp_ceiling, (kind, cells)
    assert cells[("unsubscribe", "fp")] == 0
