"""Each ESP's format written from canonical events, and signed as that ESP signs: the
inverse of its adapter in :mod:`clicksift.ingest`, for the demo, the accuracy benchmark,
tests and fixtures. Nothing on the path of real traffic imports this package."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from importlib import import_module

from clicksift.errors import ConfigError
from clicksift.events import Event
from clicksift.ingest import ADAPTERS

Renderer = Callable[[Sequence[Event]], list[bytes]]

#: Each ESP's renderer by its adapter's name: every adapter has its module here, of the
#: same name.
RENDERERS: dict[str, Renderer] = {
    name: import_module(f"{__name__}.{name}").render for name in ADAPTERS}


def render(esp: str, events: Sequence[Event]) -> list[bytes]:
    """The bodies ESP would have posted (or exported) for EVENTS."""
    try:
        renderer = RENDERERS[esp]
    except KeyError:
        raise ConfigError(f"unknown ESP {esp!r}; known: {', '.join(sorted(RENDERERS))}") \
            from None
    return renderer(events)
