"""Send simulated traffic through a real tracking server.

The campaign's messages are prepared for real (signed links in the store the server uses),
and every simulated request is sent to the server over HTTP with its user agent and headers,
its client address in X-Forwarded-For (the server must trust the sender as a proxy) and its
simulated time in X-Clicksift-Simulated-Time (the server must accept simulated time), so
what the server records is what a tracker in the field would have recorded.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from clicksift.events import EventType, event_from_dict, format_timestamp
from clicksift.prepare import PreparedMessage, Preparer
from clicksift.simulate.actors import Request, World
from clicksift.simulate.audience import PRESETS, build_audience
from clicksift.simulate.campaign import Campaign, SimulationConfig, simulate_campaign
from clicksift.simulate.worlds import behaviour_for
from clicksift.storage import SqlStore


@dataclass
class ServerCampaign:
    campaign: Campaign
    prepared: dict[str, PreparedMessage]     # by message id


def prepare_campaign(store: SqlStore, preparer: Preparer, html: str, campaign_id: str,
                     config: SimulationConfig) -> ServerCampaign:
    """Prepare the newsletter for a simulated audience, simulate what follows, and record
    the messages (delivered at their simulated times) in STORE."""
    rng = random.Random(config.seed)
    behaviour = behaviour_for(config.world)
    audience = build_audience(rng, config.recipients, behaviour.mix or PRESETS[config.mix],
                              behaviour)
    prepared = [preparer.prepare(html, recipient=person.address, campaign_id=campaign_id,
                                 now=config.start) for person in audience]
    links = [(link.url, link.kind) for link in prepared[0].links]
    campaign = simulate_campaign(rng, World(rng, behaviour), campaign_id, audience,
                                 config.start, config, links=links,
                                 message_ids=[p.message_id for p in prepared])
    by_id = {p.message_id: p for p in prepared}
    delivered = []
    for message in campaign.messages:
        event = by_id[message.message_id].delivered_event()
        event["timestamp"] = format_timestamp(message.delivered_at)
        delivered.append(event_from_dict(event))
    with store.transaction():
        store.add_events(delivered)
    return ServerCampaign(campaign, by_id)


def _target(request: Request, prepared: PreparedMessage) -> tuple[str, str]:
    """(method, URL) of the tracking request for REQUEST."""
    if request.type == EventType.OPEN:
        assert prepared.open_url is not None
        return request.method, prepared.open_url
    assert request.link_index is not None
    return request.method, prepared.tracking_urls[request.link_index]


async def replay(server_campaign: ServerCampaign, server_url: str, *, until: float,
                 concurrency: int = 16,
                 progress: Callable[[int], None] | None = None) -> Counter[str]:
    """Send every simulated request up to UNTIL to SERVER_URL; count the answers."""
    results: Counter[str] = Counter()
    queue: asyncio.Queue[Request] = asyncio.Queue()
    for request in server_campaign.campaign.requests:
        if request.ts <= until:
            queue.put_nowait(request)
    base = urlsplit(server_url)
    done = 0

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal done
        while True:
            try:
                request = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            prepared = server_campaign.prepared[request.message.message_id]
            method, url = _target(request, prepared)
            path = urlsplit(url)._replace(scheme=base.scheme, netloc=base.netloc).geturl()
            # the links a sender's mail carries are https: the proxy in front says so
            headers = {**request.headers, "x-forwarded-for": request.ip,
                       "x-forwarded-proto": "https",
                       "x-clicksift-simulated-time": format_timestamp(request.ts)}
            if request.user_agent is not None:
                headers["user-agent"] = request.user_agent
            response = await client.request(method, path, headers=headers,
                                            data=request.form)
            results[str(response.status_code)] += 1
            done += 1
            if progress is not None and done % 100 == 0:
                progress(done)

    async with httpx.AsyncClient(timeout=30, follow_redirects=False) as client:
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
    return results
