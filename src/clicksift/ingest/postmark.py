"""Postmark webhooks: one JSON object per event, its kind in ``RecordType``.

Postmark does not sign webhooks; it sends the HTTP basic-auth credentials written into the
webhook URL (``https://user:password@host/webhooks/postmark``), which are checked here in
constant time.
Source: https://postmarkapp.com/developer/webhooks/webhooks-overview
"""

from __future__ import annotations

from typing import Any

from clicksift.events import Event
from clicksift.ingest import base, ids, normalize, reading, signing, times
from clicksift.ingest.base import Headers, Secrets

NAME = "postmark"

TYPES = {
    "Delivery": "delivered",
    "Open": "open",
    "Click": "click",
    "Bounce": "bounce",
    "SpamComplaint": "complaint",
    "SubscriptionChange": "unsubscribe",
}
#: Bounce types that are permanent; SoftBounce, Transient, DnsError, AutoResponder and the
#: rest are not bounces.
PERMANENT_BOUNCES = frozenset({"HardBounce", "BadEmailAddress", "Blocked", "DMARCPolicy",
                               "ManuallyDeactivated"})
#: The field that holds each record type's time.
TIME_FIELDS = {"Delivery": "DeliveredAt", "Open": "ReceivedAt", "Click": "ReceivedAt",
               "Bounce": "BouncedAt", "SpamComplaint": "BouncedAt",
               "SubscriptionChange": "ChangedAt"}


def verify(body: bytes, headers: Headers, secrets: Secrets) -> None:
    signing.check_basic_auth(headers, signing.secret(secrets, "basic_auth", NAME), NAME)


def _canonical(kind: str, record: dict[str, Any]) -> str | None:
    if kind == "Bounce":
        if record.get("Type") == "SpamComplaint":
            return "complaint"
        return None if record.get("Type") in PERMANENT_BOUNCES else "unknown"
    if kind == "SubscriptionChange":
        manual = record.get("SuppressionReason") in (None, "ManualSuppression")
        return None if record.get("SuppressSending") and manual else "unknown"
    return None


def parse(body: bytes, headers: Headers) -> list[Event]:
    events: list[Event] = []
    for index, record in enumerate(reading.as_list(reading.decode_json(body), "a Postmark event")):
        with normalize.one_record(NAME, index, record, events):
            kind = reading.need(record, "RecordType", index)
            recipient = record.get("Recipient") or record.get("Email")
            message = ids.text_id(record.get("MessageID"))
            time_field = TIME_FIELDS.get(kind, "ReceivedAt")
            raw_time = record.get(time_field) or record.get("ReceivedAt")
            if raw_time is None:
                raise reading.payload_error("is missing", record=index, field=time_field)
            ts = times.instant(raw_time, index, time_field)
            url = record.get("OriginalLink")
            events.append(normalize.build(
                NAME, kind, record, types=TYPES, index=index, canonical=_canonical(kind, record),
                event_id=ids.stable_id(NAME, message, kind, raw_time, recipient, url,
                                        ids.text_id(record.get("ID"))),
                message_id=ids.key(message, recipient) if message else None, timestamp=ts,
                recipient=recipient,
                campaign_id=ids.metadata_campaign(record.get("Metadata"))
                or ids.campaign_of(record.get("Tag")),
                url=url, ip=reading.dig(record, "Geo", "IP"), user_agent=record.get("UserAgent")))
    return normalize.readable(normalize.number_repeats(events))


SETTINGS = (
    base.esp_setting(
        "postmark_basic_auth",
        "", "'user:password' that Postmark sends (written into the webhook URL).", secret=True),
)


GUIDE = base.Guide(
    setup="In Postmark select the server and the message stream, open **Webhooks → Add "
          "webhook**, enter the URL below with credentials in it "
          "(`https://USER:PASSWORD@your-host/webhooks/postmark`) and tick Delivery, "
          "Bounce, Spam complaint, Open (with *post every open*), Link click and "
          "Subscription change.",
    signature="Postmark does not sign webhooks. It sends the HTTP basic-auth credentials "
              "written into the URL; set the same `USER:PASSWORD` in "
              "`postmark_basic_auth`. They are compared in constant time. Use https.",
    quirks=(
        "One POST is one record; the kind is in `RecordType`.",
        "Times carry seven fraction digits (`2019-11-05T16:33:54.9070259Z`); they are "
        "read to the microsecond.",
        "Only permanent bounce types (`HardBounce`, `BadEmailAddress`, `Blocked`, "
        "`DMARCPolicy`, `ManuallyDeactivated`) are bounces; `SoftBounce`, `Transient`, "
        "`DnsError`, `AutoResponder` and the rest stay `unknown`. A bounce of type "
        "`SpamComplaint` is a complaint.",
        "`SubscriptionChange` with `SuppressSending: true` for a manual suppression is "
        "an unsubscribe; a reactivation stays `unknown`.",
        "Bounce `ID`s exceed 2^53 and are kept exact in the stored payload.",
        "The message id is `MessageID` plus the recipient. The campaign is the "
        "`campaign_id` metadata field or the tag.",
    ),
    docs=("https://postmarkapp.com/developer/webhooks/webhooks-overview",
          "https://postmarkapp.com/developer/webhooks/open-tracking-webhook",
          "https://postmarkapp.com/developer/webhooks/click-webhook"),
)


ADAPTER = base.Adapter(
    name=NAME, title="Postmark", types=TYPES, parse=parse, verify=verify,
    secrets={"basic_auth": "postmark_basic_auth"}, carries=("ip", "user_agent"),
    guide=GUIDE, settings=SETTINGS)
