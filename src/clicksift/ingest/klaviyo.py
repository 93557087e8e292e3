"""Klaviyo event exports: a file import, not a webhook.

Accepted: the pages of Klaviyo's Events API (``GET /api/events?include=metric,profile``,
JSON:API: ``data`` with each event's ``attributes`` and its ``metric`` and ``profile``
relationships, the metrics' names and the profiles' addresses in ``included``), saved as
they come (one page per file, or one per line); and the older v1 timeline pages (items
with ``event_name``, ``person`` and ``event_properties``).

The email metrics are mapped (Received, Opened, Clicked, Bounced Email, Marked Email as
Spam, Unsubscribed); Klaviyo's other metrics stay ``unknown``. Klaviyo's flags are kept in
``esp_flags``: ``Apple Privacy Open`` and ``Machine Open`` (opens without the person, taken
as the ESP's word) and ``Bot Click`` (Klaviyo's suspicion, kept for comparison and not used
as evidence). Klaviyo reports no client address and no user agent.

Sources: https://developers.klaviyo.com/en/reference/get_events (retrieved 2026-12-06),
https://help.klaviyo.com/hc/en-us/articles/4416791883163 (Apple Privacy Open) and
https://help.klaviyo.com/hc/en-us/articles/11118357030555 (bot clicks).
"""

from __future__ import annotations

from typing import Any

from clicksift.events import Event
from clicksift.ingest import base, ids, normalize, reading, times
from clicksift.ingest.base import Headers

NAME = "klaviyo"

#: Klaviyo metric -> canonical type; a dropped email (Klaviyo never sent it) is not one.
TYPES = {
    "Received Email": "delivered",
    "Opened Email": "open",
    "Clicked Email": "click",
    "Bounced Email": "bounce",
    "Marked Email as Spam": "complaint",
    "Unsubscribed": "unsubscribe",
    "Unsubscribed from Email Marketing": "unsubscribe",
}
#: Klaviyo's flags kept with the event.
FLAGS = ("Apple Privacy Open", "Machine Open", "Bot Click")


def _included(document: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(str(item.get("type")), str(item.get("id"))): item
            for item in document.get("included") or [] if isinstance(item, dict)}


def _related(item: dict[str, Any], name: str,
             included: dict[tuple[str, str], dict[str, Any]]) -> dict[str, Any]:
    """The attributes of ITEM's related NAME (metric, profile) from the page's included."""
    data = reading.obj(reading.dig(item, "relationships", name, "data"))
    found = included.get((str(data.get("type")), str(data.get("id"))))
    return reading.obj(found.get("attributes")) if found else {}


def _one(item: Any, included: dict[tuple[str, str], dict[str, Any]]) -> dict[str, Any]:
    """One event as a single-event page: the event and the metric and profile it names,
    so that the stored record can be read again on its own."""
    if not isinstance(item, dict) or "attributes" not in item:
        return item if isinstance(item, dict) else {"data": item}
    related = [included[key] for key in (
        (str(reading.dig(item, "relationships", name, "data", "type")),
         str(reading.dig(item, "relationships", name, "data", "id")))
        for name in ("metric", "profile")) if key in included]
    return {"data": [item], "included": related}


def _pages(document: Any) -> list[dict[str, Any]]:
    """The events of a page, each as a record that can be read alone."""
    if isinstance(document, dict) and isinstance(document.get("data"), list):
        included = _included(document)
        return [_one(item, included) for item in document["data"]]
    if isinstance(document, list):
        return [_one(item, {}) for item in document]
    if isinstance(document, dict):
        return [document]
    raise reading.payload_error(f"expected a Klaviyo events page, found {type(document).__name__}")


def _fields(record: dict[str, Any], index: int) -> tuple[Any, Any, Any, dict[str, Any], Any]:
    """(metric name, time, event id, properties, address) of one record, either form."""
    if isinstance(record.get("data"), list) and record["data"]:
        item = reading.obj(record["data"][0])
        included = _included(record)
        attributes = reading.obj(item.get("attributes"))
        metric = _related(item, "metric", included).get("name") or attributes.get("metric")
        address = _related(item, "profile", included).get("email")
        when = attributes.get("timestamp") or attributes.get("datetime")
        properties = reading.obj(attributes.get("event_properties"))
        return (metric, when, item.get("id") or attributes.get("uuid"), properties,
                address or properties.get("$email"))
    properties = reading.obj(record.get("event_properties"))
    person = reading.obj(record.get("person"))
    return (record.get("event_name"), record.get("timestamp") or record.get("datetime"),
            record.get("id") or record.get("uuid"), properties,
            person.get("$email") or person.get("email") or properties.get("$email"))


def parse(body: bytes, headers: Headers) -> list[Event]:
    events: list[Event] = []
    for index, record in enumerate(_pages(reading.decode_json(body))):
        with normalize.one_record(NAME, index, record, events):
            metric, when, event_id, properties, address = _fields(record, index)
            if not isinstance(metric, str) or not metric:
                raise reading.payload_error("names no metric (save the pages with "
                                         "include=metric,profile)", record=index,
                                         field="metric")
            if when is None:
                raise reading.payload_error("is missing", record=index, field="timestamp")
            message = ids.text_id(properties.get("$message"))
            flags = {name: properties[name] for name in FLAGS
                     if properties.get(name) is not None}
            events.append(normalize.build(
                NAME, metric, record, types=TYPES, index=index,
                event_id=ids.stable_id(NAME, event_id, metric, when, address),
                message_id=ids.key(message, address) if message else None,
                timestamp=times.instant(when, index, "timestamp"), recipient=address,
                campaign_id=ids.campaign_of(properties.get("$message"),
                                             properties.get("Campaign Name")),
                url=properties.get("URL"), esp_flags=flags or None))
    if not events:
        raise reading.payload_error("the page holds no events")
    return normalize.readable(normalize.number_repeats(events))


GUIDE = base.Guide(
    setup="Klaviyo does not post opens and clicks to webhooks. Save the pages of the "
          "Events API, `GET https://a.klaviyo.com/api/events?include=metric,profile` "
          "(filtered, for example, by `metric_id` of Opened Email and Clicked Email, and "
          "followed through `links.next`), one page per file or one per line, and import "
          "them: `clicksift import --esp klaviyo pages/`.",
    signature="Files are trusted: `clicksift import` checks no signature.",
    quirks=(
        "Formats read: Events API pages (JSON:API, with the metric names and profile "
        "addresses in `included`: save them with `include=metric,profile`), and the "
        "older v1 timeline pages (`event_name`, `person`).",
        "Received Email is a delivery; Opened and Clicked Email, Bounced Email, Marked "
        "Email as Spam and the unsubscribe metrics are mapped; Dropped Email and every "
        "other metric stay `unknown`.",
        "`Apple Privacy Open` and `Machine Open` are taken as the ESP's word for an open "
        "without the person; `Bot Click` is Klaviyo's suspicion, kept in `esp_flags` to "
        "compare with clicksift's verdicts and not used as evidence.",
        "Klaviyo reports no client address and no user agent: clicks are judged on "
        "timing and on the message's other requests.",
        "The message id is `$message` (the campaign or flow message) plus the address.",
    ),
    docs=("https://developers.klaviyo.com/en/reference/get_events",
          "https://help.klaviyo.com/hc/en-us/articles/4416791883163"),
)


ADAPTER = base.Adapter(name=NAME, title="Klaviyo", types=TYPES, parse=parse,
                       carries=("esp_flags",),
                       guide=GUIDE)
