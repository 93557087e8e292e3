"""Mailjet Event API: one JSON object per event, or an array when grouping is on.

Mailjet does not sign events; it sends the basic-auth credentials written into the
endpoint URL, checked here in constant time. ``MessageID`` values exceed 2^53 and are kept
as exact text. Mailjet's ``sent`` means the recipient's server accepted the message:
that is ``delivered``.
Source: https://dev.mailjet.com/email/guides/webhooks/
"""

from __future__ import annotations

from clicksift.events import Event
from clicksift.ingest import base, ids, normalize, reading, signing, times
from clicksift.ingest.base import Headers, Secrets

NAME = "mailjet"

#: 'blocked' never left Mailjet, and a bounce with hard_bounce false is temporary:
#: both stay 'unknown'.
TYPES = {
    "sent": "delivered",
    "open": "open",
    "click": "click",
    "bounce": "bounce",
    "spam": "complaint",
    "unsub": "unsubscribe",
}


def verify(body: bytes, headers: Headers, secrets: Secrets) -> None:
    signing.check_basic_auth(headers, signing.secret(secrets, "basic_auth", NAME), NAME)


def parse(body: bytes, headers: Headers) -> list[Event]:
    events: list[Event] = []
    for index, record in enumerate(reading.as_list(reading.decode_json(body), "a Mailjet event")):
        with normalize.one_record(NAME, index, record, events):
            kind = reading.need(record, "event", index)
            raw_time = reading.need(record, "time", index, (int, float, str))
            message = ids.text_id(record.get("MessageID")) or ids.text_id(
                record.get("Message_GUID"))
            canonical = "unknown" if kind == "bounce" and not record.get("hard_bounce") else None
            events.append(normalize.build(
                NAME, kind, record, types=TYPES, index=index, canonical=canonical,
                event_id=ids.stable_id(NAME, message, kind, raw_time, record.get("url"),
                                        record.get("ip"), record.get("agent")),
                message_id=message, timestamp=times.seconds(raw_time, index, "time"),
                recipient=record.get("email"),
                campaign_id=ids.campaign_of(record.get("customcampaign"),
                                             record.get("mj_campaign_id")),
                url=record.get("url"), ip=record.get("ip"), user_agent=record.get("agent")))
    return normalize.readable(normalize.number_repeats(events))


SETTINGS = (
    base.esp_setting(
        "mailjet_basic_auth",
        "", "'user:password' written into the Mailjet event endpoint URL.", secret=True),
)


GUIDE = base.Guide(
    setup="In Mailjet open **Account settings → Event notifications (webhooks)**, enter "
          "the URL below with credentials in it "
          "(`https://USER:PASSWORD@your-host/webhooks/mailjet`) for sent, open, click, "
          "bounce, blocked, spam and unsub. Grouping events into arrays is fine.",
    signature="Mailjet does not sign events; it sends the basic-auth credentials written "
              "into the URL. Set the same `USER:PASSWORD` in `mailjet_basic_auth`.",
    quirks=(
        "Mailjet's `sent` means the recipient's server accepted the message: it is "
        "`delivered`.",
        "`bounce` is a bounce only with `hard_bounce: true`; `blocked` (never left "
        "Mailjet) stays `unknown`.",
        "`MessageID` exceeds 2^53 (`19421777396190490`); it is kept exact as text.",
        "Mailjet gives no event id: the id is derived from the message, type, time (whole "
        "seconds), URL, address and user agent, so two identical events in one second "
        "from separate POSTs are stored once.",
    ),
    docs=("https://dev.mailjet.com/email/guides/webhooks/",),
)


ADAPTER = base.Adapter(
    name=NAME, title="Mailjet", types=TYPES, parse=parse, verify=verify,
    secrets={"basic_auth": "mailjet_basic_auth"}, carries=("ip", "user_agent"),
    guide=GUIDE, settings=SETTINGS)
