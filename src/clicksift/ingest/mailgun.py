"""Mailgun webhooks: one JSON object per event, ``{"signature": {...}, "event-data": {...}}``,
and the legacy webhooks (API v2, still sent by accounts that set them up before 2023): one
event as form fields (``application/x-www-form-urlencoded``, or ``multipart/form-data``
when the event carries attachments), ``event``, ``recipient``, ``timestamp``, ``token``,
``signature``, the message id, and the sender's custom variables merged in among them.

Signature: hex HMAC-SHA256 of ``timestamp + token`` with the account's HTTP webhook signing
key, in both forms. The timestamp must be fresh; the token is single-use (a replay repeats
the event's stable id and is stored once).
Sources: https://documentation.mailgun.com/docs/mailgun/user-manual/webhooks/securing-webhooks,
https://help.mailgun.com/hc/en-us/articles/14048832145051-Legacy-Webhooks (payloads of the
legacy webhooks, retrieved 2026-12-06).
"""

from __future__ import annotations

import email.parser
import email.policy
import json
from typing import Any
from urllib.parse import parse_qsl, urlencode

from clicksift.events import Event
from clicksift.ingest import base, errors, ids, normalize, reading, signing, times
from clicksift.ingest.base import Headers, Secrets

NAME = "mailgun"

#: Mailgun event -> canonical type; 'failed' with severity 'temporary' is not a bounce.
TYPES = {
    "accepted": "sent",
    "delivered": "delivered",
    "opened": "open",
    "clicked": "click",
    "unsubscribed": "unsubscribe",
    "complained": "complaint",
    "failed": "bounce",
}


#: Legacy event name -> canonical type: 'bounced' is a permanent failure; 'dropped' (Mailgun
#: never tried: a suppressed address, or it gave up) is not the recipient's server's word.
LEGACY_TYPES = {
    "delivered": "delivered",
    "opened": "open",
    "clicked": "click",
    "unsubscribed": "unsubscribe",
    "complained": "complaint",
    "bounced": "bounce",
}
#: Legacy fields Mailgun writes after a custom variable of the same name (the others first).
_SIGNED_LAST = frozenset({"signature", "timestamp", "token"})
_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def _content_type(headers: Headers) -> str:
    return (headers.get("content-type") or "").split(";")[0].strip().lower()


def _is_form(body: bytes, headers: Headers) -> bool:
    """Whether BODY is a legacy webhook's form (by its content type, or for a file by its
    first character: a JSON body opens with a brace or a bracket)."""
    kind = _content_type(headers)
    if kind:
        return kind in _FORM_TYPES
    start = body.lstrip()[:1]
    return bool(start) and start not in b"{["


def _form_pairs(body: bytes, headers: Headers) -> list[tuple[str, str]]:
    """The (name, value) pairs of a form body, in order, repeats kept."""
    content_type = headers.get("content-type") or ""
    if content_type.lower().startswith("multipart/") or body.lstrip().startswith(b"--"):
        if not content_type.lower().startswith("multipart/"):
            boundary = body.lstrip().split(b"\r\n", 1)[0].split(b"\n", 1)[0][2:]
            content_type = f'multipart/form-data; boundary="{boundary.decode("latin-1")}"'
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            f"Content-Type: {content_type}\r\n\r\n".encode("latin-1") + body)
        if not message.is_multipart():
            raise reading.payload_error("the multipart form has no parts")
        pairs = []
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            if isinstance(name, str) and part.get_filename() is None:
                pairs.append((name, str(part.get_content()).strip("\r\n")))
        return pairs
    try:
        return parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError:
        raise reading.payload_error("the form is not UTF-8") from None


def _legacy_fields(body: bytes, headers: Headers) -> dict[str, Any]:
    """A legacy webhook's fields: each name's value (Mailgun's own, where a custom variable
    of the same name came too), or its values when Mailgun repeats it (tags)."""
    fields: dict[str, Any] = {}
    for name, value in _form_pairs(body, headers):
        if name not in fields or name in _SIGNED_LAST:
            fields[name] = value
        elif name in ("tag", "X-Mailgun-Tag"):
            previous = fields[name]
            fields[name] = [*previous, value] if isinstance(previous, list) else [previous, value]
    if not fields:
        raise reading.payload_error("the body is neither JSON nor a form")
    return fields


def _signature(body: bytes, headers: Headers) -> dict[str, Any]:
    if _is_form(body, headers):
        return _legacy_fields(body, headers)
    block = reading.dig(reading.decode_json(body), "signature")
    if not isinstance(block, dict):
        raise errors.SignatureError("the body has no 'signature' object")
    for name in ("timestamp", "token", "signature"):
        if not isinstance(block.get(name), str | int) or block.get(name) == "":
            raise errors.SignatureError(f"signature.{name} is missing")
    return block


def verify(body: bytes, headers: Headers, secrets: Secrets, *, now: float | None = None) -> None:
    key = signing.secret(secrets, "signing_key", NAME).encode("utf-8")
    try:
        block = _signature(body, headers)
    except errors.PayloadError as exc:
        raise errors.SignatureError(f"cannot read the signature: {exc}") from None
    timestamp, token = str(block["timestamp"]), str(block["token"])
    times.check_fresh(timestamp, times.epoch_now() if now is None else now)
    expected = signing.hmac_hex(key, (timestamp + token).encode("utf-8"))
    if not signing.same(str(block["signature"]), expected):
        raise errors.SignatureError("the HMAC signature does not match")


def _legacy_message_id(fields: dict[str, Any]) -> str | None:
    """The message id of a legacy event: its own field, else the Message-Id header among
    the message headers (a JSON list of [name, value] pairs)."""
    for name in ("message-id", "Message-Id"):
        value = fields.get(name)
        if isinstance(value, str) and value.strip("<> "):
            return value.strip("<> ")
    try:
        listed = json.loads(fields.get("message-headers") or "[]")
    except ValueError:
        return None
    for pair in listed if isinstance(listed, list) else []:
        if isinstance(pair, list) and len(pair) == 2 and str(pair[0]).lower() == "message-id":
            return str(pair[1]).strip("<> ") or None
    return None


def _parse_legacy(body: bytes, headers: Headers) -> list[Event]:
    fields = _legacy_fields(body, headers)
    events: list[Event] = []
    with normalize.one_record(NAME, 0, fields, events):
        kind = reading.need(fields, "event", 0)
        recipient = fields.get("recipient")
        ts = times.seconds(reading.need(fields, "timestamp", 0), 0, "timestamp")
        message = _legacy_message_id(fields)
        tags = fields.get("tag") or fields.get("X-Mailgun-Tag")
        events.append(normalize.build(
            NAME, kind, fields, types=LEGACY_TYPES, index=0,
            event_id=ids.stable_id(NAME, fields.get("token"), kind, ts, recipient),
            message_id=ids.key(message, recipient) if message else None, timestamp=ts,
            recipient=recipient,
            campaign_id=ids.campaign_of(fields.get("campaign_id"), fields.get("campaign-id"),
                                         tags if isinstance(tags, list) else [tags]),
            url=fields.get("url"), ip=fields.get("ip"),
            user_agent=fields.get("user-agent")))
    return normalize.readable(events)


def parse(body: bytes, headers: Headers) -> list[Event]:
    if _is_form(body, headers):
        return _parse_legacy(body, headers)
    document = reading.decode_json(body)
    records = reading.as_list(document, "an object with event-data")
    events: list[Event] = []
    for index, wrapper in enumerate(records):
        with normalize.one_record(NAME, index, wrapper, events):
            data = reading.need(wrapper, "event-data", index, dict)
            kind = reading.need(data, "event", index)
            # A temporary failure is never a bounce.
            temporary = kind == "failed" and data.get("severity") != "permanent"
            recipient = data.get("recipient")
            message = ids.text_id(reading.dig(data, "message", "headers", "message-id"))
            variables = data.get("user-variables")
            bot = reading.dig(data, "client-info", "bot")
            ts = times.seconds(reading.need(data, "timestamp", index, (int, float, str)), index,
                              "timestamp")
            events.append(normalize.build(
                NAME, kind, wrapper, types=TYPES, index=index,
                canonical="unknown" if temporary else None,
                event_id=ids.stable_id(NAME, data.get("id"), kind, ts, recipient),
                message_id=ids.key(message, recipient) if message else None, timestamp=ts,
                recipient=recipient,
                campaign_id=ids.metadata_campaign(variables) or ids.campaign_of(
                    [c.get("id") for c in data.get("campaigns") or [] if isinstance(c, dict)],
                    data.get("tags")),
                url=data.get("url"), ip=data.get("ip"),
                user_agent=reading.dig(data, "client-info", "user-agent"),
                esp_flags={"bot": bot} if bot else None))
    return normalize.readable(normalize.number_repeats(events))


def reread(record: Any) -> tuple[bytes, dict[str, str]]:
    """The body of one stored record: a JSON webhook's object, or a legacy event's fields
    (values Mailgun repeats, as tags, repeated again)."""
    if isinstance(record, dict) and "event-data" not in record and "event" in record:
        pairs = [(name, item) for name, value in record.items()
                 for item in (value if isinstance(value, list) else [value])]
        return urlencode(pairs).encode(), {"content-type": _FORM_TYPES[0]}
    return reading.json_body([record]), {"content-type": "application/json"}


SETTINGS = (
    base.esp_setting(
        "mailgun_signing_key",
        "", "Mailgun HTTP webhook signing key.", secret=True),
)


GUIDE = base.Guide(
    setup="In the Mailgun control panel open **Sending → Webhooks** for your domain (or "
          "the account-level webhooks) and add the URL below for Delivered, Opened, "
          "Clicked, Unsubscribed, Complained and Permanent/Temporary Failure.",
    signature="Every payload holds `signature.timestamp`, `signature.token` and "
              "`signature.signature`, the hex HMAC-SHA256 of timestamp + token keyed with "
              "the **HTTP webhook signing key** (Settings → API Security). Put that key in "
              "`mailgun_signing_key`. Timestamps more than 5 minutes old are refused; a "
              "replayed payload repeats its event id and is stored once.",
    quirks=(
        "One POST is one event (`event-data`).",
        "`failed` is a bounce only with `severity: permanent`; temporary failures stay "
        "`unknown`. `accepted` is `sent`.",
        "Mailgun marks machine opens in `client-info.bot` (for example `apple`); it is "
        "passed through as `esp_flags.bot`.",
        "The message id is the Message-Id header plus the recipient (a batch send shares "
        "one Message-Id). The campaign is the `campaign_id` user variable, Mailgun's "
        "campaign id, or the first tag.",
        "Mailgun's signature does not cover the event data; the HMAC proves the sender "
        "knew the key, and the timestamp bounds replays.",
        "Formats read: the current JSON webhooks, and the legacy (API v2) webhooks that "
        "accounts set up before 2023 still receive, as form fields "
        "(`application/x-www-form-urlencoded`, or `multipart/form-data`), at the same "
        "URL and with the same key. In a legacy event, a custom variable named like one "
        "of Mailgun's fields never takes its place; `dropped` stays `unknown` and "
        "`bounced` is a bounce. Import files hold one urlencoded body per line, or one "
        "multipart body.",
    ),
    docs=("https://documentation.mailgun.com/docs/mailgun/user-manual/webhooks/"
          "webhook-payloads",
          "https://documentation.mailgun.com/docs/mailgun/user-manual/webhooks/"
          "securing-webhooks",
          "https://help.mailgun.com/hc/en-us/articles/14048832145051-Legacy-Webhooks"),
)


ADAPTER = base.Adapter(
    name=NAME, title="Mailgun", types=TYPES, parse=parse, verify=verify,
    secrets={"signing_key": "mailgun_signing_key"},
    content_types=("application/json", *_FORM_TYPES), reread=reread,
    carries=("ip", "user_agent", "esp_flags"),
    guide=GUIDE, settings=SETTINGS)
