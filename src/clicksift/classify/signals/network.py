"""Network signals: vendor networks, Apple's proxies, cloud space, corporate proxies."""

from __future__ import annotations

from clicksift.classify.observe import Observed
from clicksift.classify.vocabulary import Finding, Kind, finding

_CLOUD_KINDS = frozenset({"hosting", "cdn"})
SCANNING_WINDOW = 1800.0   # seconds after delivery in which gateways scan
#: (seconds after delivery, scale): the weight of an address that carries people's traffic
#: as well as machines' falls once the scanning window has passed.
SHARED_ADDRESS_DECAY = ((SCANNING_WINDOW, 1.0), (2 * 3600.0, 0.6), (12 * 3600.0, 0.35))
SHARED_ADDRESS_FLOOR = 0.25


def shared_address_scale(delta: float | None) -> float:
    """How much a shared address (a provider's service network, cloud space, a relay) counts
    DELTA seconds after delivery: fully in the scanning window, less and less after it."""
    if delta is None:
        return 1.0
    for limit, scale in SHARED_ADDRESS_DECAY:
        if delta <= limit:
            return scale
    return SHARED_ADDRESS_FLOOR


def _anonymous_agent(obs: Observed) -> bool:
    """No user agent, or the bare one Apple's proxy sends: not a person's mail program."""
    agent = obs.agent
    return agent is None or agent.role == "prefetch"


def _provider_proxy(obs: Observed) -> bool:
    """A webmail provider's image proxy runs in its own cloud by design."""
    return obs.agent is not None and obs.agent.role == "image_proxy"


def findings(obs: Observed) -> list[Finding]:
    out: list[Finding] = []
    net = obs.net
    if net is None:
        return out
    entry = net.entry
    if entry is not None:
        if entry.role == "scanner":
            if entry.certainty == "certain":
                out.append(finding("net.vendor-certain", 1.0, f"{net.ip} is in "
                                   f"{entry.vendor}'s network ({entry.id})", entry.kind,
                                   entry.vendor))
            else:
                scale = (0.5 if obs.is_open else 1.0) * shared_address_scale(obs.delta)
                out.append(finding("net.vendor-probable", scale,
                                   f"{net.ip} is in {entry.vendor}'s service network "
                                   f"({entry.id}), which carries people's traffic too",
                                   entry.kind, entry.vendor))
        elif entry.role == "privacy_proxy" and (obs.is_click or _anonymous_agent(obs)):
            kind = Kind.PRIVACY_PREFETCH if obs.is_open else Kind.UNKNOWN_AUTOMATION
            scale = 1.0 if obs.is_open else shared_address_scale(obs.delta)
            out.append(finding("net.privacy-proxy", scale, f"{net.ip} is Apple's address space",
                               kind, entry.vendor if obs.is_open else None))
        elif entry.role == "user_proxy":
            out.append(finding("net.user-proxy", 1.0, f"{net.ip} is a {entry.vendor} proxy that "
                               "people browse through"))
        return out
    if net.is_private_relay:
        if obs.is_open and _anonymous_agent(obs):
            out.append(finding("net.privacy-proxy", 1.0, f"{net.ip} is an Apple Private Relay exit",
                               Kind.PRIVACY_PREFETCH, "apple_mpp"))
        else:
            out.append(finding("net.private-relay-click", 1.0,
                               f"{net.ip} is an iCloud Private Relay "
                               "exit that people's Safari uses"))
    elif net.origin_kind == "bot":
        out.append(finding("net.declared-crawler", 1.0,
                           f"{net.ip} is {net.provider}'s crawler range",
                           Kind.GENERIC_BOT, net.provider.lower().replace(" ", "_") or None))
    elif net.origin_kind in _CLOUD_KINDS and not _provider_proxy(obs):
        # A person on a virtual desktop loads images from cloud space too: weaker on opens.
        space = "hosting" if net.origin_kind == "hosting" else "edge"
        scale = (0.5 if obs.is_open else 1.0) * shared_address_scale(obs.delta)
        out.append(finding("net.cloud-hosting", scale,
                           f"{net.ip} is {net.provider} {space} space", Kind.UNKNOWN_AUTOMATION))
    return out
