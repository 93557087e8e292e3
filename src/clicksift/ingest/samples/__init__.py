"""Each ESP's format written from canonical events, and signed as that ESP signs: the
inverse of its adapter in :mod:`clicksift.ingest`, for the demo, the accuracy benchmark,
tests and fixtures. Nothing on the path of real traffic imports this package."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from clicksift.errors import ConfigError
from clicksift.events import Event
from clicksift.ingest.samples import (
    amazon_ses,
    braze,
    brevo,
    constant_contact,
    klaviyo,
    mailchimp,
    mailgun,
    mailjet,
    mandrill,
    postal,
    postmark,
    resend,
    sendgrid,
    sparkpost,
)

Renderer = Callable[[Sequence[Event]], list[bytes]]

#: Each ESP's renderer by its adapter's name.
RENDERERS: dict[str, Renderer] = {module.__name__.rsplit(".", 1)[1]: module.render
                                  for module in (sendgrid, mailgun, postmark, amazon_ses,
                                                 sparkpost, mailjet, mandrill, resend, postal,
                                                 brevo, mailchimp, constant_contact, braze,
                                                 klaviyo)}


def render(esp: str, events: Sequence[Event]) -> list[bytes]:
    """The bodies ESP would have posted (or exported) for EVENTS."""
    try:
        renderer = RENDERERS[esp]
    except KeyError:
        raise ConfigError(f"unknown ESP {esp!r}; known: {', '.join(sorted(RENDERERS))}") \
            from None
    return renderer(events)
