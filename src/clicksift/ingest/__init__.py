"""Ingest: ESP webhooks and export files, verified and normalized to canonical events.

One module per ESP (see :mod:`clicksift.ingest.base` for what each provides); ``ADAPTERS``
lists them by the name used in ``POST /webhooks/NAME`` and ``clicksift import --esp NAME``.
"""

from __future__ import annotations

from clicksift.errors import ConfigError
from clicksift.ingest import (
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
from clicksift.ingest.base import Adapter, PayloadError, SignatureError

ADAPTERS: dict[str, Adapter] = {module.ADAPTER.name: module.ADAPTER for module in (
    sendgrid, mailgun, postmark, amazon_ses, sparkpost, mailjet, mandrill, resend, postal,
    brevo, mailchimp, constant_contact, braze, klaviyo)}


def get_adapter(name: str) -> Adapter:
    try:
        return ADAPTERS[name]
    except KeyError:
        raise ConfigError(f"unknown ESP {name!r}; known: {', '.join(sorted(ADAPTERS))}") \
            from None


__all__ = ["ADAPTERS", "Adapter", "PayloadError", "SignatureError", "get_adapter"]
