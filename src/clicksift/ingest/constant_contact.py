"""Constant Contact (v3 API) email tracking reports: a file import, not a webhook.

Accepted: responses holding ``tracking_activities``, as returned by the campaign activity
reports (``GET /reports/email_reports/{campaign_activity_id}/tracking/{sends,opens,clicks,
bounces,optouts,forwards}``) and by a contact's ``activity_details``, saved as they come
(one response per file, or one per line). Constant Contact reports no IP address and no
user agent, only times to the second and the device type of opens.
Source: https://developer.constantcontact.com/api_reference/index.html#!/Email_Reporting
"""

from __future__ import annotations

from clicksift.events import Event, dumps
from clicksift.ingest import base, ids, normalize, reading, times
from clicksift.ingest.base import Headers

NAME = "constant_contact"

TYPES = {
    "em_sends": "sent",
    "em_opens": "open",
    "em_clicks": "click",
    "em_bounces": "bounce",
    "em_optouts": "unsubscribe",
}
#: Bounce codes that are permanent: B non-existent address, D undeliverable, S suspended.
#: F (mailbox full), V (vacation), X (other) and Z (blocked) are not bounces.
PERMANENT_BOUNCES = frozenset({"B", "D", "S"})


def parse(body: bytes, headers: Headers) -> list[Event]:
    document = reading.decode_json(body)
    activities = document.get("tracking_activities") if isinstance(document, dict) else None
    if activities is None:
        raise reading.payload_error("expected a report response with 'tracking_activities'")
    events: list[Event] = []
    for index, record in enumerate(reading.as_list(activities, "tracking_activities")):
        with normalize.one_record(NAME, index, record, events):
            kind = reading.need(record, "tracking_activity_type", index)
            campaign = ids.text_id(record.get("campaign_activity_id"))
            contact = ids.text_id(record.get("contact_id")) or record.get("email_address")
            if not contact:
                raise reading.payload_error("is missing", record=index, field="contact_id")
            raw_time = reading.need(record, "created_time", index)
            canonical = None
            if kind == "em_bounces" and record.get("bounce_code") not in PERMANENT_BOUNCES:
                canonical = "unknown"
            events.append(normalize.build(
                NAME, kind, record, types=TYPES, index=index, canonical=canonical,
                event_id=ids.stable_id(NAME, campaign, contact, kind, raw_time,
                                        record.get("link_url"), record.get("url_id")),
                message_id=f"{campaign}/{contact}",
                timestamp=times.instant(raw_time, index, "created_time"),
                recipient=record.get("email_address"), campaign_id=campaign,
                url=record.get("link_url")))
    return normalize.readable(normalize.number_repeats(events))


GUIDE = base.Guide(
    setup="Constant Contact does not post engagement webhooks. Save the responses of the "
          "v3 email tracking reports "
          "(`GET /v3/reports/email_reports/{campaign_activity_id}/tracking/sends`, "
          "`.../opens`, `.../clicks`, `.../bounces`, `.../optouts`, all pages) and "
          "import them; import the sends too, they give the timing a reference.",
    signature="Files are trusted: `clicksift import` checks no signature.",
    quirks=(
        "Constant Contact reports no IP address and no user agent: clicks are judged on "
        "timing and on bursts of many links within seconds, opens on timing alone.",
        "Bounce codes B, D and S are bounces; F (mailbox full), V, X and Z stay "
        "`unknown`.",
        "The message id is the campaign activity id plus the contact id.",
    ),
    docs=("https://developer.constantcontact.com/api_guide/email_click_report.html",
          "https://developer.constantcontact.com/api_guide/email_open_report.html"),
)


ADAPTER = base.Adapter(
    name=NAME, title="Constant Contact", types=TYPES, parse=parse, carries=(),
    reread=lambda record: (dumps({"tracking_activities": [record]}).encode(),
                           {"content-type": "application/json"}),
    guide=GUIDE)
