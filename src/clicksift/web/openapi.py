"""The OpenAPI 3.1 description of ``/api/v1``, with schemas derived from the report
dataclasses themselves (so the description cannot drift from what the API returns)."""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from typing import Any

from clicksift import __version__
from clicksift.classify.rules import RULES
from clicksift.classify.vocabulary import KINDS
from clicksift.events import EventType
from clicksift.ingest import ADAPTERS
from clicksift.ingest.canonical import MAX_EVENTS
from clicksift.ingest.problems import Problem
from clicksift.protect.conversions import MAX_ORDER_ID, MAX_VALUE, OCCURRED_AT_PATTERN
from clicksift.reports import model
from clicksift.reports.explorer import MAX_PAGE, MAX_PER_PAGE, VERDICTS

JSON_TYPES = {int: {"type": "integer"}, float: {"type": "number"}, str: {"type": "string"},
              bool: {"type": "boolean"}}


def schema_of(annotation: Any, components: dict[str, Any]) -> dict[str, Any]:
    """JSON Schema of a type annotation; dataclasses become named components."""
    origin = typing.get_origin(annotation)
    if annotation in JSON_TYPES:
        return dict(JSON_TYPES[annotation])
    if annotation is Any:
        return {}
    if origin in (types.UnionType, typing.Union):
        options = [schema_of(arg, components) for arg in typing.get_args(annotation)
                   if arg is not type(None)]
        nullable = type(None) in typing.get_args(annotation)
        schema = options[0] if len(options) == 1 else {"anyOf": options}
        return {"anyOf": [schema, {"type": "null"}]} if nullable else schema
    if origin in (tuple, list):
        return {"type": "array", "items": schema_of(typing.get_args(annotation)[0],
                                                    components)}
    if origin is dict:
        return {"type": "object"}
    if isinstance(annotation, type) and dataclasses.is_dataclass(annotation):
        name = annotation.__name__
        if name not in components:
            components[name] = {}   # reserve (recursion)
            hints = typing.get_type_hints(annotation)
            props = {f.name: schema_of(hints[f.name], components)
                     for f in dataclasses.fields(annotation)}
            if name == "Counts":
                props["nhi_share"] = {"anyOf": [{"type": "number"}, {"type": "null"}],
                                      "description": "nhi / (human + nhi)"}
            components[name] = {"type": "object", "properties": props,
                                "required": sorted(props), "additionalProperties": False}
        return {"$ref": f"#/components/schemas/{name}"}
    raise TypeError(f"no JSON schema for {annotation!r}")


_PROBLEMS = {"400": {"$ref": "#/components/responses/BadRequest"},
             "401": {"$ref": "#/components/responses/Unauthorized"},
             "404": {"$ref": "#/components/responses/NotFound"},
             "503": {"$ref": "#/components/responses/Unavailable"}}


def _ok(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"200": {"description": description,
                    "content": {"application/json": {"schema": schema}}}, **_PROBLEMS}


def _param(name: str, description: str, schema: dict[str, Any], where: str = "query",
           required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": where, "required": required or where == "path",
            "description": description, "schema": schema}


def _filter(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    """A query filter; empty means no filter (what an HTML form sends for a blank field)."""
    return _param(name, description + " Empty: no filter.",
                  {"anyOf": [schema, {"type": "string", "maxLength": 0}]})


_CAMPAIGN = _param("campaign", "Campaign id.", {"type": "string"}, "path")
_PAGE = [_param("page", "Page number, from 1. Empty: the first.",
                {"anyOf": [{"type": "integer", "minimum": 1, "maximum": MAX_PAGE},
                           {"type": "string", "maxLength": 0}]}),
         _param("per_page", "Items per page. Empty: 50.",
                {"anyOf": [{"type": "integer", "minimum": 1, "maximum": MAX_PER_PAGE},
                           {"type": "string", "maxLength": 0}]})]
_FILTERS = [
    _filter("message", "Only this message.", {"type": "string"}),
    _filter("recipient", "Only this recipient address.", {"type": "string"}),
    _filter("domain", "Only recipients at this domain.", {"type": "string"}),
    _filter("type", "Only this event type.",
            {"type": "string", "enum": [t.value for t in EventType]}),
    _filter("verdict", "human, nhi or pending (not judged yet).",
            {"type": "string", "enum": list(VERDICTS)}),
    _filter("kind", "Only machines of this kind.", {"type": "string", "enum": list(KINDS)}),
    _filter("vendor", "Only machines of this vendor.", {"type": "string"}),
    _filter("rule", "Only events where this rule fired (docs/rules.md).",
            {"type": "string", "enum": sorted(RULES)}),
    _filter("since", "Only events at or after (RFC 3339).",
            {"type": "string", "format": "date-time"}),
    _filter("until", "Only events before (RFC 3339).",
            {"type": "string", "format": "date-time"}),
]


@functools.cache
def openapi_document() -> dict[str, Any]:
    components: dict[str, Any] = {}
    ref = functools.partial(schema_of, components=components)
    campaigns = {"type": "object", "properties": {
        "campaigns": {"type": "array", "items": ref(model.CampaignSummary)},
        "freshness": ref(model.Freshness)}, "required": ["campaigns", "freshness"]}
    domains = {"type": "object", "properties": {
        "domains": {"type": "array", "items": ref(model.DomainRow)},
        "page": {"type": "integer"}, "per_page": {"type": "integer"},
        "total": {"type": "integer"}}, "required": ["domains", "page", "per_page", "total"]}
    links = {"type": "object", "properties": {
        "links": {"type": "array", "items": ref(model.LinkRow)}}, "required": ["links"]}
    message = {"type": "object", "properties": {
        "message_id": {"type": "string"},
        "events": {"type": "array", "items": ref(model.EventRow)}},
        "required": ["message_id", "events"]}
    conversion = {"type": "object", "required": ["id", "message_id", "new"], "properties": {
        "id": {"type": "string"}, "message_id": {"type": "string"},
        "campaign_id": {"type": ["string", "null"]}, "new": {"type": "boolean"}}}
    explorer = {"summary": "Events with their verdicts and reasons, oldest first",
                "parameters": [*_FILTERS, *_PAGE],
                "responses": _ok(ref(model.EventPage), "One page of events")}
    paths = {
        "/overview": {"get": {"summary": "Every campaign and the workspace's totals",
                              "responses": _ok(ref(model.Overview), "The overview")}},
        "/campaigns": {"get": {"summary": "Campaigns, newest first, raw and human rates",
                               "responses": _ok(campaigns, "The campaigns")}},
        "/campaigns/{campaign}": {"get": {
            "summary": "A campaign's report: raw and human totals, machines by vendor and "
                       "kind, timeline after delivery, links, largest recipient domains",
            "parameters": [_CAMPAIGN], "responses": _ok(ref(model.CampaignReport),
                                                        "The report")}},
        "/campaigns/{campaign}/links": {"get": {
            "summary": "Clicks per link, raw and human, and honeypot hits",
            "parameters": [_CAMPAIGN], "responses": _ok(links, "The links")}},
        "/campaigns/{campaign}/domains": {"get": {
            "summary": "Recipient domains: machine share, gateway vendor and its timing",
            "parameters": [_CAMPAIGN, *_PAGE, _param(
                "sort", "Order.", {"type": "string",
                                   "enum": ["messages", "nhi_share", "clicks", "domain"]})],
            "responses": _ok(domains, "One page of domains")}},
        "/campaigns/{campaign}/events": {"get": {**explorer, "parameters": [
            _CAMPAIGN, *[p for p in _FILTERS], *_PAGE]}},
        "/campaigns/{campaign}/export.csv": {"get": {
            "summary": "Every event of the campaign with its verdict, as CSV (streamed)",
            "parameters": [_CAMPAIGN, *_FILTERS],
            "responses": {"200": {"description": "CSV", "content": {"text/csv": {}}},
                          **_PROBLEMS}}},
        "/campaigns/{campaign}/export.jsonl": {"get": {
            "summary": "Every event of the campaign with its verdict, as JSON Lines "
                       "(streamed)", "parameters": [_CAMPAIGN, *_FILTERS],
            "responses": {"200": {"description": "JSON Lines, one EventRow a line",
                                  "content": {"application/x-ndjson": {}}}, **_PROBLEMS}}},
        "/events": {"get": explorer, "post": {
            "summary": "Store canonical events (docs/events.md) from any tracker and judge "
                       "them: idempotent by event id; a record that does not follow the "
                       "contract is kept as an unknown event and named in the answer",
            "requestBody": {"required": True, "content": {
                "application/json": {"schema": {
                    "type": "array", "maxItems": MAX_EVENTS, "items": {},
                    "description": "Events; an item that is no event is kept as unknown"}},
                "application/x-ndjson": {"schema": {"type": "string"}}}},
            "responses": {"200": {"description": "Stored", "content": {"application/json": {
                "schema": {"type": "object", "required": ["accepted", "new", "verdicts",
                                                          "unreadable"],
                           "properties": {
                               "accepted": {"type": "integer"}, "new": {"type": "integer"},
                               "verdicts": {"type": "array", "items": {"type": "object"}},
                               "unreadable": {"type": "array",
                                              "items": {"type": "object"}}}}}}},
                          "413": {"$ref": "#/components/responses/BadRequest"},
                          **_PROBLEMS}}},
        "/conversions": {"post": {
            "summary": "Record a conversion of a click (its id came in the destination URL)",
            "requestBody": {"required": True, "content": {"application/json": {"schema": {
                "type": "object", "required": ["click_id"],
                # a value other than 0 needs its currency
                "if": {"required": ["value"], "properties": {"value": {"exclusiveMinimum": 0}}},
                "then": {"required": ["currency"]}, "properties": {
                    "click_id": {"type": "string", "pattern": "^[0-9a-f]{32}([0-9a-f]{20})?$",
                                 "description": "The signed click id from the destination "
                                                "URL (52 hex digits), or the click's event "
                                                "id (32)."},
                    "value": {"type": "number", "minimum": 0, "maximum": MAX_VALUE,
                              "description": "Needs a currency when it is not 0."},
                    "currency": {"type": "string", "pattern": "^[A-Za-z]{3}$"},
                    "order_id": {"type": "string", "minLength": 1,
                                 "maxLength": MAX_ORDER_ID,
                                 "description": "Reported twice: stored once."},
                    "occurred_at": {"type": "string", "format": "date-time",
                                    "pattern": OCCURRED_AT_PATTERN}}}}}},
            "responses": {
                "201": {"description": "Recorded", "content": {"application/json": {
                    "schema": conversion}}},
                "200": {"description": "Already recorded (same click and order id)",
                        "content": {"application/json": {"schema": conversion}}},
                **_PROBLEMS}}},
        "/ingest/problems": {"get": {
            "summary": "ESP records that could not be read (kept whole as unknown events) and "
                       "fields left out of events, counted per ESP and problem, with "
                       "examples (`clicksift ingest reparse` reads them again after an "
                       "upgrade)",
            "parameters": [_filter("esp", "Only this ESP's problems.",
                                   {"type": "string", "enum": sorted(ADAPTERS)})],
            "responses": _ok({"type": "object", "required": ["problems"], "properties": {
                "problems": {"type": "array", "items": schema_of(Problem, components)}}},
                "The problems, the most frequent first")}},
        "/messages/{message}/events": {"get": {
            "summary": "One message's events in time order, each with every reason",
            "parameters": [_param("message", "Message id.", {"type": "string"}, "path")],
            "responses": _ok(message, "The events")}},
    }
    error = {"type": "object", "properties": {"error": {
        "type": "object", "properties": {"message": {"type": "string"},
                                         "field": {"type": "string"}},
        "required": ["message"]}}, "required": ["error"]}
    responses = {name: {"description": text, "content": {"application/json": {
        "schema": {"$ref": "#/components/schemas/Error"}}}}
        for name, text in (("BadRequest", "A parameter is wrong (the error names it)"),
                           ("Unauthorized", "No API key, or an unknown or revoked one"),
                           ("NotFound", "No such campaign or message"),
                           ("Unavailable", "The store is not available now: try again after "
                                           "Retry-After seconds"))}
    return {
        "openapi": "3.1.0",
        "info": {"title": "clicksift reports API", "version": __version__,
                 "description": "Raw and human email engagement. Authenticate with "
                                "'Authorization: Bearer KEY' (clicksift keys create)."},
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {"schemas": {**components, "Error": error}, "responses": responses,
                       "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
    }
