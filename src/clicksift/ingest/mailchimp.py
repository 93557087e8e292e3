"""Mailchimp (Marketing API) activity dumps: a file import, not a webhook.

Accepted: the responses of ``GET /reports/{campaign_id}/email-activity`` (``emails`` with
each recipient's ``activity``: open, click, bounce, with timestamp and IP) and of
``GET /reports/{campaign_id}/open-details`` (``members`` with ``opens``), saved as they
come (one response per file, or one per line). Mailchimp reports no user agent and no
delivery time, and the send itself is not in these reports.
Sources: https://mailchimp.com/developer/marketing/api/email-activity-reports/
https://mailchimp.com/developer/marketing/api/open-details/
"""

from __future__ import annotations

from typing import Any

from clicksift.events import Event
from clicksift.ingest import base, ids, normalize, reading, times
from clicksift.ingest.base import Headers

NAME = "mailchimp"

#: A soft bounce is not a bounce.
TYPES = {"open": "open", "click": "click", "bounce": "bounce"}


def _member_events(member: dict[str, Any], campaign: str | None, index: int,
                   actions: list[Any]) -> list[Event]:
    campaign = ids.text_id(member.get("campaign_id")) or campaign
    email_id = ids.text_id(member.get("email_id")) or member.get("email_address")
    if not email_id:
        raise reading.payload_error("is missing", record=index, field="email_id")
    recipient = member.get("email_address")
    events: list[Event] = []
    for action in actions:
        if not isinstance(action, dict):
            raise reading.payload_error("is not an object", record=index, field="activity")
        kind = action.get("action") or "open"
        raw_time = reading.need(action, "timestamp", index)
        canonical = "unknown" if kind == "bounce" and action.get("type") != "hard" else None
        events.append(normalize.build(
            NAME, kind, action, types=TYPES, index=index, canonical=canonical,
            event_id=ids.stable_id(NAME, campaign, email_id, kind, raw_time, action.get("url"),
                                    action.get("ip")),
            message_id=f"{campaign}/{email_id}", timestamp=times.instant(raw_time, index,
                                                                       "timestamp"),
            recipient=recipient, campaign_id=campaign, url=action.get("url"),
            ip=action.get("ip") or None))
    return events


def parse(body: bytes, headers: Headers) -> list[Event]:
    document = reading.decode_json(body)
    if not isinstance(document, dict):
        raise reading.payload_error("expected a Mailchimp report response (an object with "
                                 "'emails' or 'members')")
    campaign = ids.text_id(document.get("campaign_id"))
    events: list[Event] = []
    if "emails" in document or "activity" in document:
        members = document.get("emails", [document])
        for index, member in enumerate(reading.as_list(members, "emails")):
            with normalize.one_record(NAME, index, member, events):
                events += _member_events(member, campaign, index,
                                         reading.as_list(member.get("activity") or [], "activity"))
    elif "members" in document:
        for index, member in enumerate(reading.as_list(document["members"], "members")):
            with normalize.one_record(NAME, index, member, events):
                opens = [dict(o, action="open") for o in member.get("opens") or []
                         if isinstance(o, dict)]
                events += _member_events(member, campaign, index, opens)
    else:
        raise reading.payload_error("expected 'emails' (email-activity) or 'members' "
                                 "(open-details)")
    return normalize.readable(normalize.number_repeats(events))


# A stored activity lacks the member and campaign around it: it cannot be read again alone.
GUIDE = base.Guide(
    setup="Mailchimp (Marketing) does not post opens and clicks to webhooks. Save the "
          "responses of `GET /3.0/reports/{campaign_id}/email-activity` (all pages) or "
          "`GET /3.0/reports/{campaign_id}/open-details` and import them.",
    signature="Files are trusted: `clicksift import` checks no signature.",
    quirks=(
        "Each file holds one response, or one response per line (paged output).",
        "Activity carries a time to the second and an IP address, no user agent and no "
        "delivery time, so timing after delivery cannot be used.",
        "A soft bounce stays `unknown`.",
        "The message id is the campaign id plus Mailchimp's `email_id`.",
    ),
    docs=("https://mailchimp.com/developer/marketing/api/email-activity-reports/",
          "https://mailchimp.com/developer/marketing/api/open-details/"),
)


ADAPTER = base.Adapter(name=NAME, title="Mailchimp", types=TYPES, parse=parse,
                       carries=("ip",), reread=None,
                       guide=GUIDE)
