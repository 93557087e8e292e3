"""What an ESP adapter is: the record that holds its functions, tables and settings.

An adapter is two pure functions and some data:

- ``verify(body, headers, secrets)`` checks that a webhook request is genuine and raises
  :class:`SignatureError` when it is not (headers are given with lower-case names);
- ``parse(body, headers)`` turns a request body (or one body from an import file) into
  canonical events (``docs/events.md``) and raises :class:`PayloadError` naming the record
  and field when the body is malformed;
- ``types``: the ESP's event names and the canonical type each becomes (anything not in the
  table becomes ``unknown``; an unknown type is never an error);
- ``settings`` it needs and the ``guide`` of its page in docs/esps/; a ``handshake`` and a
  ``fetch`` when its webhooks have them.

Its inverse, the bodies that ESP would post for canonical events, signed as it signs, is
in :mod:`clicksift.ingest.samples` (the demo, the accuracy benchmark, tests and fixtures).

Every event keeps the ESP's record in ``esp_payload`` and its event name in ``esp_type``;
its id is derived from the ESP's own ids, so a webhook delivered twice is stored once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from clicksift.events import Event
from clicksift.ingest.reading import json_body
from clicksift.settings import SettingInfo

Headers = Mapping[str, str]
Secrets = Mapping[str, str]
Record = dict[str, Any]


@dataclass(frozen=True)
class Guide:
    """The words of an ESP's page in docs/esps/ (clicksift.reference renders them with the
    adapter's own tables, so the mapping and the settings cannot drift from the code)."""

    setup: str
    signature: str
    quirks: tuple[str, ...]
    docs: tuple[str, ...]            # the ESP's own pages this adapter follows


@dataclass(frozen=True)
class Handshake:
    """An ESP asks to subscribe the webhook (SNS's SubscriptionConfirmation): the server
    opens CONFIRM_URL when CONFIRM is true, and otherwise logs it with HINT."""

    subject: str          # what subscribes (a topic)
    confirm_url: str
    confirm: bool
    hint: str = ""        # how to have it confirmed automatically


@dataclass(frozen=True)
class Adapter:
    name: str                                   # as in /webhooks/NAME and --esp NAME
    title: str                                  # the ESP's own spelling
    types: Mapping[str, str]                    # ESP event name -> canonical type
    parse: Callable[[bytes, Headers], list[Event]]
    guide: Guide                                # its page in docs/esps/
    verify: Callable[[bytes, Headers, Secrets], None] | None = None   # None: files only
    #: The secrets verify needs: its name for each -> the setting that holds it.
    secrets: Mapping[str, str] = field(default_factory=dict)
    optional: tuple[str, ...] = ()              # secrets verify can do without
    #: The secret that is the webhook's own public URL (signed by some ESPs); when it is not
    #: configured, the endpoint fills in base_url + /webhooks/NAME.
    url_field: str | None = None
    #: A subscription handshake to answer instead of storing events, when BODY is one.
    handshake: Callable[[bytes, Secrets], Handshake | None] | None = None
    #: Fetches, before verify runs, what verify needs and may not hold yet (network: only
    #: when the ESP's settings allow it).
    fetch: Callable[[bytes, Secrets], None] | None = None
    content_types: tuple[str, ...] = ("application/json",)
    #: The body (and its headers) that carries exactly one stored record (an event's
    #: ``esp_payload``), so that ``ingest reparse`` can read it again; None: a record this
    #: ESP's format cannot give on its own (it needs the report around it).
    reread: Callable[[Any], tuple[bytes, dict[str, str]]] | None = \
        lambda record: (json_body([record]), {"content-type": "application/json"})
    #: Which signals this ESP's engagement events carry (docs and the accuracy benchmark).
    carries: tuple[str, ...] = ()
    #: The settings this ESP needs (its secrets, and options of its handshake), each named
    #: after it: clicksift.configuration adds them to the settings table.
    settings: tuple[SettingInfo, ...] = ()

    @property
    def webhook(self) -> bool:
        return self.verify is not None


def esp_setting(name: str, default: str | bool | list[str], help: str, *,
                secret: bool = False) -> SettingInfo:
    """Declare one setting of an ESP (its type is its default's)."""
    kind = "list[str]" if isinstance(default, list) else type(default).__name__
    return SettingInfo(name, kind, default, help, secret, None)
