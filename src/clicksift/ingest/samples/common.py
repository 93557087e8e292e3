"""What the sample writers share: the events an ESP reports, its names for them, and its
times and batches.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, TypeVar

from clicksift.events import Event, EventType, format_timestamp


def with_context(events: Sequence[Event]) -> list[Event]:
    """EVENTS with campaign and recipient filled in from their message's delivered event,
    as an ESP knows them for every event it reports (the renderers' starting point)."""
    import dataclasses

    known = {e.message_id: (e.campaign_id, e.recipient) for e in events
             if e.type == EventType.DELIVERED.value}
    out = []
    for event in events:
        campaign, recipient = known.get(event.message_id, (None, None))
        if (event.campaign_id is None and campaign) or (event.recipient is None and recipient):
            event = dataclasses.replace(event, campaign_id=event.campaign_id or campaign,
                                        recipient=event.recipient or recipient)
        out.append(event)
    return out


def apple_proxy(event: Event) -> bool:
    """Whether EVENT came through Apple's Mail Privacy Protection proxy, as the ESPs that
    flag such opens (SendGrid, Mailgun, Brevo) tell it: by Apple's published addresses."""
    import ipaddress

    import iporigin

    from clicksift.classify.knowledge import load_knowledge

    if not event.ip:
        return False
    entry = load_knowledge().match_network(ipaddress.ip_address(event.ip))
    if entry is not None:
        return entry.role == "privacy_proxy"
    provider = iporigin.classify(event.ip).provider  # type: ignore[no-untyped-call]
    return bool(provider == "Apple Private Relay")


T = TypeVar("T")


def inverse(types: Mapping[str, str]) -> dict[str, str]:
    """Canonical type -> the ESP's name for it (the last name a type has in TYPES)."""
    return {kind: name for name, kind in types.items()}


def reported(events: Sequence[Event], names: Mapping[str, T]) -> Iterator[tuple[Event, T]]:
    """The events an ESP reports, each with what NAMES gives for its type, and with the
    campaign and recipient the ESP knows for every event (the renderers' loop)."""
    for event in with_context(events):
        name = names.get(event.type)
        if name is not None:
            yield event, name


def chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def iso(ts: float, digits: int = 3) -> str:
    """Unix seconds as ISO 8601 UTC text with DIGITS fraction digits and Z."""
    text = format_timestamp(ts)          # microseconds
    if digits == 6:
        return text
    if digits == 0:
        return text[:19] + "Z"
    if digits < 6:
        return text[:20 + digits] + "Z"
    return text[:26] + "0" * (digits - 6) + "Z"
