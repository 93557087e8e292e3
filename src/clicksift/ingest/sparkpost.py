"""SparkPost webhooks: a JSON array of ``{"msys": {"<class>_event": {...}}}`` records.

SparkPost authenticates webhooks with HTTP basic auth (or OAuth 2, not supported here);
the credentials configured in SparkPost are checked in constant time. A new webhook is
tested with ``[{"msys": {}}]``, which holds no events.
Source: https://developers.sparkpost.com/api/webhooks/ and https://developers.sparkpost.com/api/events/
"""

from __future__ import annotations

from clicksift.events import Event
from clicksift.ingest import base, ids, normalize, reading, signing, times
from clicksift.ingest.base import Headers, Secrets

NAME = "sparkpost"

TYPES = {
    "injection": "sent",
    "delivery": "delivered",
    "open": "open",
    "initial_open": "open",
    "amp_open": "open",
    "amp_initial_open": "open",
    "click": "click",
    "amp_click": "click",
    "bounce": "bounce",
    "out_of_band": "bounce",
    "spam_complaint": "complaint",
    "list_unsubscribe": "unsubscribe",
    "link_unsubscribe": "unsubscribe",
}
#: Bounce classes that are permanent (hard, admin, block, unsubscribe); soft, delay and
#: undetermined classes (1, 20-24, 40, 60, 70, 80, 100) are not bounces.
PERMANENT_CLASSES = frozenset({"10", "25", "26", "30", "50", "51", "52", "53", "54", "90"})


def verify(body: bytes, headers: Headers, secrets: Secrets) -> None:
    signing.check_basic_auth(headers, signing.secret(secrets, "basic_auth", NAME), NAME)


def parse(body: bytes, headers: Headers) -> list[Event]:
    events: list[Event] = []
    for index, wrapper in enumerate(reading.as_list(reading.decode_json(body), "an array of msys")):
        with normalize.one_record(NAME, index, wrapper, events):
            if not isinstance(wrapper, dict) or not isinstance(wrapper.get("msys"), dict):
                raise reading.payload_error("is missing", record=index, field="msys")
            msys = wrapper["msys"]               # {} is SparkPost's test ping
            for record in msys.values():
                if not isinstance(record, dict):
                    raise reading.payload_error("is not an object", record=index, field="msys")
                kind = reading.need(record, "type", index)
                canonical = None
                if TYPES.get(kind) == "bounce" and \
                        str(record.get("bounce_class")) not in PERMANENT_CLASSES:
                    canonical = "unknown"
                raw_time = reading.need(record, "timestamp", index, (str, int, float))
                event_id = ids.text_id(record.get("event_id"))
                events.append(normalize.build(
                    NAME, kind, wrapper, types=TYPES, index=index, canonical=canonical,
                    event_id=ids.stable_id(NAME, event_id) if event_id else
                    ids.stable_id(NAME, record.get("message_id"), kind, raw_time),
                    message_id=ids.text_id(record.get("message_id")),
                    timestamp=times.instant(raw_time, index, "timestamp"),
                    recipient=record.get("rcpt_to"),
                    campaign_id=ids.campaign_of(record.get("campaign_id")),
                    url=record.get("target_link_url"), ip=record.get("ip_address"),
                    user_agent=record.get("user_agent")))
    return normalize.readable(events)


SETTINGS = (
    base.esp_setting(
        "sparkpost_basic_auth",
        "", "'user:password' configured as the SparkPost webhook's basic authentication.",
        secret=True),
)


GUIDE = base.Guide(
    setup="In SparkPost open **Configuration → Webhooks → New webhook**, enter the URL "
          "below, choose **Basic Authentication** with a user and password, and select "
          "the message, engagement and unsubscribe events.",
    signature="SparkPost does not sign webhooks; it sends the basic-auth credentials "
              "configured on the webhook. Set the same `USER:PASSWORD` in "
              "`sparkpost_basic_auth` (compared in constant time). OAuth 2 is not "
              "supported.",
    quirks=(
        "One POST carries an array of `{\"msys\": {...}}` records (up to thousands); "
        "SparkPost tests a new webhook with `[{\"msys\": {}}]`, which holds no events "
        "and is answered 200.",
        "Every kind of open is an open: `open`, `initial_open`, `amp_open`, "
        "`amp_initial_open`; `click` and `amp_click` are clicks.",
        "`bounce` and `out_of_band` are bounces only for permanent bounce classes (10, "
        "25, 26, 30, 50-54, 90); soft classes and `delay` stay `unknown`.",
        "`timestamp` is a string of Unix seconds; `event_id` is a big number kept as "
        "text.",
    ),
    docs=("https://developers.sparkpost.com/api/webhooks/",
          "https://developers.sparkpost.com/api/events/",
          "https://support.sparkpost.com/docs/deliverability/bounce-classification-codes"),
)


ADAPTER = base.Adapter(
    name=NAME, title="SparkPost", types=TYPES, parse=parse, verify=verify,
    secrets={"basic_auth": "sparkpost_basic_auth"}, carries=("ip", "user_agent"),
    guide=GUIDE, settings=SETTINGS)
