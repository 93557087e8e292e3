"""How the evidence's log-odds become a probability.

The rules' weights add up to log-odds that rank events well but are not, by themselves,
probabilities: on labelled worlds the events scored 0.7-0.8 were machines 99 times in 100.
Temperature scaling (Guo et al., "On Calibration of Modern Neural Networks", ICML 2017)
multiplies the log-odds by one slope before the sigmoid. It keeps the order of events and
the point where the score crosses 0.5, so the default verdicts do not move; only what a
score says about how sure the verdict is changes, which is what the per-action bars
(``hold_unsubscribe_score``, ``webhook_machine_score``, ``sunset_machine_score``) read.

``scripts/calibrate.py`` fits the slope by maximum likelihood on the *tuning* worlds of the
simulator (``clicksift.simulate.worlds.TUNING_SEEDS``), never on the held-out worlds that
``benchmarks/accuracy.py`` reports its reliability table on.
"""

from __future__ import annotations

from typing import Final

#: Fitted by scripts/calibrate.py on 2026-12-07 over TUNING_SEEDS (20 worlds, 1500
#: recipients each, 84,237 events no cap decided): 3.642, log loss 0.0351 -> 0.0076.
SLOPE: Final = 3.64
