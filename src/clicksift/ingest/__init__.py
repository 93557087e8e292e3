"""Ingest: ESP webhooks and export files, verified and normalized to canonical events.

One module per ESP (see :mod:`clicksift.ingest.base` for what each provides); ``ADAPTERS``
lists them by the name used in ``POST /webhooks/NAME`` and ``clicksift import --esp NAME``.
"""

from __future__ import annotations

from typing import Any

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
from clicksift.ingest.base import Adapter
from clicksift.ingest.errors import PayloadError, SignatureError
from clicksift.settings import SettingInfo, Settings

ADAPTERS: dict[str, Adapter] = {module.ADAPTER.name: module.ADAPTER for module in (
    sendgrid, mailgun, postmark, amazon_ses, sparkpost, mailjet, mandrill, resend, postal,
    brevo, mailchimp, constant_contact, braze, klaviyo)}


def _declared_settings() -> dict[str, SettingInfo]:
    table: dict[str, SettingInfo] = {}
    for adapter in ADAPTERS.values():
        for info in adapter.settings:
            if info.name in table:
                raise AssertionError(f"two ESPs declare the setting {info.name}")
            table[info.name] = info
    return table


#: Every ESP's settings by name, in the order of the adapters.
ESP_SETTINGS: dict[str, SettingInfo] = _declared_settings()


def esp_value(settings: Settings, name: str) -> Any:
    """The value of the ESP setting NAME (its default when SETTINGS does not hold it)."""
    return settings.esp.get(name, ESP_SETTINGS[name].default)


def check_settings(settings: Settings) -> None:
    """The ingest settings' ESP names are real (ConfigError naming the known ones), and
    every ESP setting is one an adapter declares."""
    for name in settings.esp:
        if name not in ESP_SETTINGS:
            raise ConfigError(f"no ESP declares the setting {name!r}")
    for name in settings.allow_unsigned_webhooks:
        if name != "all" and name not in ADAPTERS:
            raise ConfigError(f"setting 'allow_unsigned_webhooks': {name!r} is not an ESP; "
                              f"use 'all' or some of {', '.join(ADAPTERS)}")


def get_adapter(name: str) -> Adapter:
    try:
        return ADAPTERS[name]
    except KeyError:
        raise ConfigError(f"unknown ESP {name!r}; known: {', '.join(sorted(ADAPTERS))}") \
            from None


__all__ = ["ADAPTERS", "ESP_SETTINGS", "Adapter", "PayloadError", "SignatureError",
           "check_settings", "esp_value", "get_adapter"]
