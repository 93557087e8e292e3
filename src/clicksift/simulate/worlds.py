"""Worlds the classifier was not tuned on: randomised behaviour and named stress worlds.

A *random world* draws every behaviour parameter from a wide range: the audience's shares
of every segment and gateway, how each gateway scans (delay, coverage, spread, HEAD, pixel,
headers, honeypot, click-time checks, user-agent age, shared address pools), vendors no
list knows in any cloud, how many people use relays, cloud desktops, Zscaler or company
NAT, how old their browsers are, how soon they read, how often they open links in tabs,
whether Outlook on the web proxies images and how many read in the Outlook app.

A *stress world* turns one hard class of people up (docs/simulator.md names them).

**Tuning and reporting are kept apart here, in code.** Rules and weights may be tuned on
:data:`TUNING_SEEDS` only; accuracy is reported on :data:`HELD_OUT_SEEDS` and the stress
worlds (``benchmarks/accuracy.py``). tests/test_simulate.py checks the two never meet.
"""

from __future__ import annotations

import random
from dataclasses import replace

from clicksift.simulate.behaviour import DEFAULT, GATEWAYS, Behaviour, Gateway

#: Random worlds that rules and weights may be tuned on.
TUNING_SEEDS: tuple[int, ...] = tuple(range(1000, 1020))
#: Random worlds that accuracy is reported on (never tuned on).
HELD_OUT_SEEDS: tuple[int, ...] = tuple(range(7000, 7024))

_SEGMENTS = ("gmail", "yahoo", "outlook_com", "home_other", "apple_mail",
             "corp:microsoft_defender", "corp:proofpoint", "corp:mimecast", "corp:barracuda",
             "corp:cisco", "corp:trend_micro", "corp:unknown_vendor", "corp:none")
_AGENTS = ("old_chrome", "current_chrome", "ie11", "firefox")
_CLOUDS = ("aws", "azure", "gcp", "digitalocean")


def _gateway(rng: random.Random, base: Gateway) -> Gateway:
    """BASE with its behaviour drawn anew from wide ranges (its network stays its own)."""
    unknown = base.vendor is None
    return replace(
        base,
        pool=rng.choice(_CLOUDS) if base.truth_vendor == "unknown_vendor" else base.pool,
        median_delay=base.median_delay * rng.uniform(0.3, 3.0),
        coverage=rng.uniform(0.4, 1.0),
        spread=rng.uniform(1.0, 60.0),
        agent=base.agent if base.agent == "sentinel" else rng.choice(_AGENTS),
        head=rng.uniform(0.0, 0.6),
        pixel=rng.uniform(0.0, 0.8),
        language=rng.uniform(0.0, 1.0),
        fetch_metadata=rng.random() < 0.6,
        rescan=rng.uniform(0.0, 0.2),
        click_check=rng.uniform(0.0, 0.9) if base.click_check else 0.0,
        form_submit=rng.uniform(0.0, 0.15),
        scan_share=rng.uniform(0.85, 1.0),
        honeypot=rng.uniform(0.2, 0.95),
        shared_sources=rng.choice([0, 5, 20, 60]) if unknown else base.shared_sources,
    )


def _shares(rng: random.Random, names: tuple[str, ...] | list[str]) -> dict[str, float]:
    weights = [rng.random() ** 2 + 0.01 for _ in names]
    total = sum(weights)
    return {name: weight / total for name, weight in zip(names, weights, strict=True)}


def random_behaviour(seed: int) -> Behaviour:
    """A world with every behaviour parameter drawn from a wide range."""
    rng = random.Random(f"clicksift-world-{seed}")
    low, high = sorted((rng.randint(8, 20), rng.randint(20, 60)))
    return Behaviour(
        name=f"random:{seed}",
        gateways={name: _gateway(rng, gateway) for name, gateway in GATEWAYS.items()},
        mix=_shares(rng, _SEGMENTS),
        corporate_clients=_shares(rng, ["outlook_desktop", "outlook_web", "outlook_mobile",
                                        "apple_mail_mpp"]),
        corporate_networks=_shares(rng, ["nat", "zscaler", "azure_vdi", "residential"]),
        outlook_com_mobile=rng.uniform(0.0, 0.6),
        owa_image_proxy=rng.random() < 0.7,
        relay_share=rng.uniform(0.0, 0.9),
        cloud_desktop_share=rng.uniform(0.0, 0.15),
        outdated_share=rng.uniform(0.0, 0.25),
        outdated_range=(low, high),
        quick_share=rng.uniform(0.0, 0.3),
        quick_range=(rng.uniform(5.0, 30.0), rng.uniform(60.0, 300.0)),
        tabber_share=rng.uniform(0.0, 0.6),
        tab_gap=(rng.uniform(0.3, 1.5), rng.uniform(3.0, 10.0)),
        read_median=rng.uniform(0.2, 12.0) * 3600,
        user_activation=rng.uniform(0.3, 1.0),
        open_share=rng.uniform(0.15, 0.5),
        click_share=rng.uniform(0.05, 0.3),
        mpp_share=rng.uniform(0.5, 1.0),
        gmail_prefetch=rng.uniform(0.0, 0.3),
        previewer_share=rng.uniform(0.0, 0.05),
        bot_share=rng.uniform(0.0, 0.03),
    )


_B2B = {"gmail": 0.05, "outlook_com": 0.05, "apple_mail": 0.05,
        "corp:microsoft_defender": 0.35, "corp:proofpoint": 0.15, "corp:mimecast": 0.1,
        "corp:barracuda": 0.05, "corp:cisco": 0.05, "corp:unknown_vendor": 0.1,
        "corp:none": 0.05}

#: One world per hard class of people, each turning that class up.
STRESS_WORLDS: dict[str, Behaviour] = {
    # 1. Outlook on the web: images through Microsoft 365 addresses, hours later, no
    #    Accept-Language.
    "outlook-web": replace(
        DEFAULT, name="stress:outlook-web", owa_image_proxy=True,
        mix={"outlook_com": 0.5, "corp:microsoft_defender": 0.3, "corp:none": 0.1,
             "gmail": 0.1},
        corporate_clients={"outlook_web": 8.0, "outlook_desktop": 2.0}),
    # 2. The Outlook app on phones.
    "outlook-app": replace(
        DEFAULT, name="stress:outlook-app", outlook_com_mobile=0.9,
        mix={"outlook_com": 0.6, "corp:microsoft_defender": 0.3, "gmail": 0.1},
        corporate_clients={"outlook_mobile": 8.0, "outlook_desktop": 2.0}),
    # 3. iCloud Private Relay with Safari or outdated browsers, reading hours later.
    "private-relay": replace(
        DEFAULT, name="stress:private-relay", relay_share=0.95, outdated_share=0.3,
        mpp_share=0.5, read_median=8 * 3600.0,
        mix={"apple_mail": 0.7, "gmail": 0.1, "corp:microsoft_defender": 0.2}),
    # 4. Quick readers and tab openers behind scanning gateways.
    "quick-tabs": replace(
        DEFAULT, name="stress:quick-tabs", quick_share=0.5, tabber_share=0.7,
        user_activation=0.4, mix=_B2B),
    # 5. Virtual desktops (Azure, Windows 365), Zscaler and company NAT.
    "vdi-nat": replace(
        DEFAULT, name="stress:vdi-nat", cloud_desktop_share=0.3, mix=_B2B,
        corporate_networks={"azure_vdi": 40.0, "nat": 30.0, "zscaler": 30.0}),
}


def behaviour_for(name: str) -> Behaviour:
    """The world NAME names: ``default``, ``random:SEED`` or ``stress:NAME``."""
    if name == "default":
        return DEFAULT
    kind, _, value = name.partition(":")
    if kind == "random" and value.lstrip("-").isdigit():
        return random_behaviour(int(value))
    if kind == "stress" and value in STRESS_WORLDS:
        return STRESS_WORLDS[value]
    raise ValueError(f"unknown world {name!r}: use default, random:SEED or stress:NAME "
                     f"({', '.join(STRESS_WORLDS)})")
