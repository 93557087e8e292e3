"""A labelled traffic simulator: campaigns, audiences, scanners, proxies and people.

``simulate(SimulationConfig(...))`` returns campaigns whose requests carry the truth;
``events_and_truth`` turns them into events (docs/events.md) and a truth file; the demo
sends the same requests through the real tracking server (:mod:`.driver`).
"""

from clicksift.simulate.audience import PRESETS
from clicksift.simulate.campaign import Campaign, SimulationConfig, events_and_truth, simulate

__all__ = ["PRESETS", "Campaign", "SimulationConfig", "events_and_truth", "simulate"]
