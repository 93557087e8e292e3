"""A simulated send: messages to an audience, and every request that follows, labelled."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from clicksift.events import SCHEME_HEADER, format_timestamp
from clicksift.simulate import actors
from clicksift.simulate.actors import Message, Request, World
from clicksift.simulate.audience import PRESETS, Recipient, build_audience
from clicksift.simulate.worlds import behaviour_for


@dataclass(frozen=True)
class SimulationConfig:
    recipients: int = 1000
    campaigns: int = 1
    mix: str = "mixed"
    seed: int = 1
    start: float = 1_790_000_000.0          # 2026-09-21 UTC
    content_links: int = 8
    send_rate: float = 20.0                 # messages per second
    campaign_gap: float = 7 * 86400.0       # between campaigns
    world: str = "default"                  # default, random:SEED or stress:NAME (worlds.py)


@dataclass
class Campaign:
    campaign_id: str
    messages: list[Message]
    requests: list[Request]


def campaign_links(campaign_id: str, count: int) -> list[tuple[str, str]]:
    links = [(f"https://shop.example.com/{campaign_id}/item-{n}?utm_source=email", "content")
             for n in range(count)]
    return [*links, ("https://shop.example.com/", "honeypot"),
            (f"https://t.example.com/u/{campaign_id}", "unsubscribe")]


def simulate_campaign(rng: random.Random, w: World, campaign_id: str,
                      audience: list[Recipient], start: float, config: SimulationConfig,
                      links: list[tuple[str, str]] | None = None,
                      message_ids: list[str] | None = None) -> Campaign:
    links = links or campaign_links(campaign_id, config.content_links)
    messages = []
    requests: list[Request] = []
    for number, recipient in enumerate(audience):
        message_id = message_ids[number] if message_ids else f"{campaign_id}-m{number:06d}"
        delivered = start + number / config.send_rate + rng.uniform(1, 30)
        message = Message(number, message_id, recipient, delivered, list(links))
        messages.append(message)
        how = w.behaviour
        gateway = how.gateways.get(recipient.company.gateway) if recipient.company and \
            recipient.company.gateway else None
        if gateway is not None:
            requests += actors.gateway_scan(w, gateway, message)
        if recipient.mpp:
            requests += actors.apple_mpp(w, message)
        if recipient.client == "gmail_web" and rng.random() < how.gmail_prefetch:
            requests += actors.gmail_prefetch(w, message)
        if rng.random() < how.previewer_share:
            requests += actors.previewer(w, message)
        if rng.random() < how.bot_share:
            requests += actors.plain_bot(w, message)
        requests += actors.person(w, message, gateway)
    requests.sort(key=lambda r: r.ts)
    return Campaign(campaign_id, messages, requests)


def simulate(config: SimulationConfig) -> list[Campaign]:
    """Campaigns sent to one audience, a week apart by default."""
    if config.mix not in PRESETS:
        raise ValueError(f"unknown audience mix {config.mix!r}; choose one of "
                         f"{', '.join(PRESETS)}")
    behaviour = behaviour_for(config.world)
    rng = random.Random(config.seed)
    audience = build_audience(rng, config.recipients, behaviour.mix or PRESETS[config.mix],
                              behaviour)
    w = World(rng, behaviour)
    return [simulate_campaign(rng, w, f"sim{config.seed}-c{number + 1}", audience,
                              config.start + number * config.campaign_gap, config)
            for number in range(config.campaigns)]


def delivered_event(campaign_id: str, message: Message) -> dict[str, Any]:
    return {"type": "delivered", "id": f"{message.message_id}:delivered",
            "message_id": message.message_id, "campaign_id": campaign_id,
            "recipient": message.recipient.address,
            "timestamp": format_timestamp(message.delivered_at),
            "links": [{"url": url, "kind": kind} for url, kind in message.links],
            "source": "simulate"}


def request_event(request: Request, event_id: str) -> dict[str, Any]:
    """The event a tracker would have recorded for REQUEST (docs/events.md)."""
    event: dict[str, Any] = {"type": request.type, "id": event_id,
                             "message_id": request.message.message_id,
                             "timestamp": format_timestamp(request.ts), "ip": request.ip,
                             "method": request.method,
                             # tracking links are https (as `prepare` writes them)
                             "headers": {SCHEME_HEADER: "https", **request.headers},
                             "source": "simulate"}
    if request.user_agent is not None:
        event["user_agent"] = request.user_agent
    if request.link_index is not None:
        url, kind = request.message.links[request.link_index]
        event.update(url=url, link_index=request.link_index, link_kind=kind)
    if request.form is not None:
        event["form"] = request.form
    return event


def truth_row(request: Request, event_id: str) -> dict[str, Any]:
    return {"id": event_id, "type": request.type, "label": request.label,
            "kind": request.kind, "vendor": request.vendor, "actor": request.actor,
            "segment": request.message.recipient.segment, "hard_cases": list(request.hard),
            "message_id": request.message.message_id,
            "recipient": request.message.recipient.address}


def events_and_truth(campaigns: list[Campaign]) -> tuple[list[dict[str, Any]],
                                                         list[dict[str, Any]]]:
    events: list[dict[str, Any]] = []
    truth: list[dict[str, Any]] = []
    for campaign in campaigns:
        events += [delivered_event(campaign.campaign_id, m) for m in campaign.messages]
        for number, request in enumerate(campaign.requests):
            event_id = f"{campaign.campaign_id}-e{number:07d}"
            events.append(request_event(request, event_id))
            truth.append(truth_row(request, event_id))
    return events, truth
