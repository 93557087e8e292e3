"""Mandrill (Mailchimp Transactional) webhooks: a form POST whose ``mandrill_events``
field is a JSON array of events.

Signature: ``X-Mandrill-Signature`` is the base64 HMAC-SHA1, keyed with the webhook's key,
of the webhook URL exactly as configured in Mandrill followed by each POST field's name and
value in name order. Mandrill checks a new webhook URL with a HEAD request.
Source: https://mailchimp.com/developer/transactional/guides/track-respond-activity-webhooks/
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from clicksift.events import Event
from clicksift.ingest import base, errors, ids, normalize, reading, signing, times
from clicksift.ingest.base import Headers, Secrets

NAME = "mandrill"
SIGNATURE = "x-mandrill-signature"

#: Mandrill's 'send' is its delivery to the recipient's server; 'deferral', 'soft_bounce'
#: and 'reject' are not bounces, and sync events ('whitelist', 'blacklist') stay 'unknown'.
TYPES = {
    "send": "delivered",
    "open": "open",
    "click": "click",
    "hard_bounce": "bounce",
    "spam": "complaint",
    "unsub": "unsubscribe",
}


def _fields(body: bytes) -> list[tuple[str, str]]:
    try:
        return parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=True)
    except (UnicodeDecodeError, ValueError):
        raise reading.payload_error("the body is not a URL-encoded form") from None


def signature(key: str, url: str, fields: list[tuple[str, str]]) -> str:
    message = url + "".join(name + value for name, value in sorted(fields))
    return signing.hmac_b64(key.encode("utf-8"), message.encode("utf-8"), "sha1")


def verify(body: bytes, headers: Headers, secrets: Secrets) -> None:
    key = signing.secret(secrets, "webhook_key", NAME)
    url = signing.secret(secrets, "webhook_url", NAME)
    given = signing.header(headers, SIGNATURE)
    try:
        fields = _fields(body)
    except errors.PayloadError as exc:
        raise errors.SignatureError(str(exc)) from None
    if not signing.same(given, signature(key, url, fields)):
        raise errors.SignatureError("the X-Mandrill-Signature does not match (is mandrill_"
                                  "webhook_url exactly the URL configured in Mandrill?)")


def parse(body: bytes, headers: Headers) -> list[Event]:
    if body.lstrip().startswith((b"[", b"{")):
        document = reading.decode_json(body)      # an import file: the events array itself
    else:
        values = dict(_fields(body))
        if "mandrill_events" not in values:
            raise reading.payload_error("is missing", field="mandrill_events")
        document = reading.decode_json(values["mandrill_events"].encode("utf-8"))
    events: list[Event] = []
    for index, record in enumerate(reading.as_list(document, "an array of Mandrill events")):
        with normalize.one_record(NAME, index, record, events):
            if not isinstance(record, dict):
                raise reading.payload_error("is not an object", record=index)
            kind = record.get("event") or record.get("type")
            if not isinstance(kind, str):
                raise reading.payload_error("is missing", record=index, field="event")
            msg = reading.obj(record.get("msg"))
            message = ids.text_id(record.get("_id") or msg.get("_id"))
            raw_time = reading.need(record, "ts", index, (int, float, str))
            events.append(normalize.build(
                NAME, kind, record, types=TYPES, index=index,
                event_id=ids.stable_id(NAME, message, kind, raw_time, record.get("url"),
                                        record.get("ip"), record.get("user_agent"),
                                        record.get("action")),
                message_id=message,
                timestamp=times.seconds(raw_time, index, "ts"),
                recipient=msg.get("email"),
                campaign_id=ids.metadata_campaign(msg.get("metadata"))
                or ids.campaign_of(msg.get("tags")),
                url=record.get("url"), ip=record.get("ip"), user_agent=record.get("user_agent")))
    return normalize.readable(normalize.number_repeats(events))


SETTINGS = (
    base.esp_setting(
        "mandrill_webhook_key",
        "", "The Mandrill webhook's key (signs X-Mandrill-Signature).", secret=True),
    base.esp_setting(
        "mandrill_webhook_url",
        "", "The webhook URL exactly as configured in Mandrill (it is part of the signature). "
        "Empty: base_url + /webhooks/mandrill."),
)


GUIDE = base.Guide(
    setup="In Mandrill (Mailchimp Transactional) open **Settings → Webhooks → Add a "
          "webhook**, enter the URL below and tick the events. Mandrill checks the URL "
          "with a HEAD request, which the server answers 200.",
    signature="`X-Mandrill-Signature` is the base64 HMAC-SHA1, keyed with the webhook's "
              "key, of the webhook URL exactly as configured in Mandrill followed by each "
              "POST field's name and value. Set the key in `mandrill_webhook_key`; if the "
              "URL Mandrill calls differs from `base_url` + `/webhooks/mandrill` (a "
              "proxy, another host name), set it in `mandrill_webhook_url`.",
    quirks=(
        "The body is a form whose `mandrill_events` field is a JSON array of events.",
        "`send` is Mandrill's delivery to the recipient's server: it is `delivered`. "
        "`soft_bounce`, `deferral` and `reject` stay `unknown`; sync events (allowlist "
        "and denylist changes) have no `event` and stay `unknown`.",
        "The campaign is the `campaign_id` metadata field or the first tag.",
    ),
    docs=("https://mailchimp.com/developer/transactional/guides/track-respond-activity-"
          "webhooks/",
          "https://mailchimp.com/developer/transactional/guides/"
          "authenticate-webhook-requests/"),
)


ADAPTER = base.Adapter(
    name=NAME, title="Mandrill", types=TYPES, parse=parse, verify=verify,
    secrets={"webhook_key": "mandrill_webhook_key", "webhook_url": "mandrill_webhook_url"},
    optional=("webhook_url",), url_field="webhook_url",
    content_types=("application/x-www-form-urlencoded",), carries=("ip", "user_agent"),
    guide=GUIDE, settings=SETTINGS)
