"""The JSON API, ``/api/v1``: reports, the event explorer and streamed exports.

Every request needs an API key (``Authorization: Bearer KEY`` or ``X-API-Key: KEY``;
``clicksift keys create``) except the OpenAPI description. Client mistakes are 4xx with
``{"error": {"message": ..., "field": ...}}``; a store failure is 503.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Awaitable, Callable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from clicksift import reports
from clicksift.classify import Engine
from clicksift.csvcells import safe_row
from clicksift.errors import InputError, NotFoundError, StorageError
from clicksift.events import dumps, loads
from clicksift.ingest import canonical
from clicksift.ingest.problems import esp_filter, problems
from clicksift.protect import conversions
from clicksift.reports.explorer import EventQuery
from clicksift.reports.model import DomainRow, EventRow
from clicksift.storage import SqlStore
from clicksift.web.collector import batch_work
from clicksift.web.handover import Handover
from clicksift.web.openapi import openapi_document
from clicksift.web.service import StoreWork

Handler = Callable[[Request], Awaitable[Response]]
PREFIX = "/api/v1"
DOMAIN_SORTS = {"messages": lambda d: -d.messages, "nhi_share": lambda d: -(d.nhi_share or 0),
                "clicks": lambda d: -d.clicks.raw, "domain": lambda d: d.domain}
EXPORT_COLUMNS = ["seq", "id", "type", "timestamp", "message_id", "campaign_id", "recipient",
                  "link_index", "link_kind", "url", "ip", "user_agent", "method", "source",
                  "verdict", "score", "kind", "vendor", "final", "engine_version", "reasons"]


class JSONBody(JSONResponse):
    def render(self, content: Any) -> bytes:
        return dumps(content).encode("utf-8")


def error(status: int, message: str, field: str | None = None,
          headers: dict[str, str] | None = None) -> Response:
    body: dict[str, Any] = {"message": message}
    if field is not None:
        body["field"] = field
    return JSONBody({"error": body}, status_code=status, headers=headers)


def query_values(request: Request) -> dict[str, str]:
    """The query's parameters, each given once (a repeated one is refused, not half-read)."""
    items = request.query_params.multi_items()
    values = dict(items)
    if len(values) != len(items):
        names = [name for name, _ in items]
        twice = next(name for name in names if names.count(name) > 1)
        raise InputError("is given more than once", field=twice)
    return values


async def not_found(scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
    """What no route matches: under /api/v1 a JSON error, as every API answer is; plain
    text elsewhere."""
    if str(scope.get("path", "")).startswith(PREFIX + "/"):
        response = error(404, "no such API path: see /api/v1/openapi.json")
    else:
        response = PlainTextResponse("Not Found", status_code=404)
    await response(scope, receive, send)


#: The largest body POST /api/v1/events reads (10,000 events of about 3 KB).
MAX_EVENTS_BODY = 32 << 20


def routes(service: StoreWork, verify_click_id: Callable[[str], str | None],
           current_engine: Callable[[], Engine | None] = lambda: None,
           handover: Handover | None = None) -> list[Route]:
    """The API's routes; VERIFY_CLICK_ID reads the signed click ids conversions name;
    CURRENT_ENGINE gives the running server's engine (POST /events judges with it);
    HANDOVER spreads batches over several workers (web/handover.py)."""
    handover = handover or Handover(enabled=False)

    def guarded(handler: Handler) -> Handler:
        async def endpoint(request: Request) -> Response:
            presented = _presented_key(request)
            if presented is None:
                return error(401, "an API key is required: send 'Authorization: Bearer KEY' "
                             "(make one with 'clicksift keys create NAME')",
                             headers={"www-authenticate": 'Bearer realm="clicksift"'})
            try:
                if await service.verify_key(presented) is None:
                    return error(401, "the API key is unknown or revoked",
                                 headers={"www-authenticate": 'Bearer error="invalid_token"'})
                return await handler(request)
            except InputError as exc:
                return error(400, exc.reason, exc.field)
            except NotFoundError as exc:
                return error(404, str(exc))
            except StorageError as exc:
                return error(503, f"the store is not available: {exc}",
                             headers={"retry-after": "5"})
        return endpoint

    async def document(request: Request) -> Response:
        return JSONBody(openapi_document())

    async def overview(request: Request) -> Response:
        _no_params(request)
        return JSONBody(reports.to_json(await service.run(reports.overview)))

    async def ingest_problems(request: Request) -> Response:
        esp = esp_filter(_params(request, {"esp"}).get("esp"))
        found = await service.run(problems, esp)
        return JSONBody({"problems": [p.to_json() for p in found]})

    async def campaigns(request: Request) -> Response:
        _no_params(request)
        view = await service.run(reports.overview)
        return JSONBody({"campaigns": reports.to_json(view.campaigns),
                         "freshness": reports.to_json(view.freshness)})

    async def campaign(request: Request) -> Response:
        _no_params(request)
        result = await service.run(reports.campaign_report, request.path_params["campaign"])
        return JSONBody(reports.to_json(result))

    async def links(request: Request) -> Response:
        _no_params(request)
        rows = await service.run(reports.link_report, request.path_params["campaign"])
        return JSONBody({"links": reports.to_json(rows)})

    async def domains(request: Request) -> Response:
        params = _params(request, {"page", "per_page", "sort"})
        found = await domain_page(service, request.path_params["campaign"], params)
        return JSONBody({"domains": reports.to_json(found.rows), "page": found.page,
                         "per_page": found.per_page, "total": found.total})

    async def events(request: Request) -> Response:
        fixed = {"campaign": request.path_params["campaign"]} \
            if "campaign" in request.path_params else {}
        query = EventQuery.parse(query_values(request), **fixed)
        result = await service.run(reports.event_page, query, refresh=False)
        return JSONBody(reports.to_json(result))

    async def message(request: Request) -> Response:
        _no_params(request)
        rows = await service.run(reports.message_events, request.path_params["message"],
                                 refresh=False)
        return JSONBody({"message_id": request.path_params["message"],
                         "events": reports.to_json(rows)})

    async def export(request: Request) -> Response:
        return await campaign_export(service, request)

    async def conversion(request: Request) -> Response:
        _no_params(request)
        try:
            data = loads(await request.body())
        except ValueError:
            raise InputError("the body must be a JSON object") from None
        if not isinstance(data, dict):
            raise InputError("the body must be a JSON object")
        parsed = conversions.parse_request(data, verify_click_id)
        event, new = await service.run(conversions.record, parsed, "api", refresh=False)
        return JSONBody({"id": event.id, "message_id": event.message_id,
                         "campaign_id": event.raw.get("campaign_id"), "new": new},
                        status_code=201 if new else 200)

    async def add_events(request: Request) -> Response:
        _no_params(request)
        engine = current_engine()
        if engine is None:
            return error(503, "the server is starting", headers={"retry-after": "1"})
        length = request.headers.get("content-length", "")
        if length.isdigit() and int(length) > MAX_EVENTS_BODY:
            return error(413, f"the body is larger than {MAX_EVENTS_BODY >> 20} MB: send "
                         f"at most {canonical.MAX_EVENTS:,} events at a time")
        body = await request.body()
        if len(body) > MAX_EVENTS_BODY:
            return error(413, f"the body is larger than {MAX_EVENTS_BODY >> 20} MB")
        array = request.headers.get("content-type", "").startswith("application/json")

        # Read, judged, stored and answered off the event loop (a body of 1,000 events
        # takes milliseconds to read), with the cycle collector paused (web/collector.py).
        @batch_work
        def take(store: SqlStore) -> dict[str, Any]:
            received = canonical.read_body(body, array=array)
            new, verdicts = canonical.store(store, received, engine.provisional,
                                            engine.version)
            return canonical.answer(received, new, verdicts)

        answer, headers = await handover.take(request.scope, service.run(take, refresh=False))
        return JSONBody(answer, headers=headers)

    async def read_or_add_events(request: Request) -> Response:
        return await (add_events(request) if request.method == "POST" else events(request))

    return [
        Route(f"{PREFIX}/openapi.json", document, methods=["GET"]),
        Route(f"{PREFIX}/overview", guarded(overview), methods=["GET"]),
        Route(f"{PREFIX}/campaigns", guarded(campaigns), methods=["GET"]),
        Route(f"{PREFIX}/ingest/problems", guarded(ingest_problems), methods=["GET"]),
        # Ids may hold '/' (Mailgun's, Brevo's and Postmark's message ids do): the path
        # converter takes them whole, so the routes with a suffix come first.
        Route(f"{PREFIX}/campaigns/{{campaign:path}}/links", guarded(links), methods=["GET"]),
        Route(f"{PREFIX}/campaigns/{{campaign:path}}/domains", guarded(domains),
              methods=["GET"]),
        Route(f"{PREFIX}/campaigns/{{campaign:path}}/events", guarded(events), methods=["GET"]),
        Route(f"{PREFIX}/campaigns/{{campaign:path}}/export.{{format:str}}", guarded(export),
              methods=["GET"]),
        Route(f"{PREFIX}/campaigns/{{campaign:path}}", guarded(campaign), methods=["GET"]),
        Route(f"{PREFIX}/events", guarded(read_or_add_events), methods=["GET", "POST"]),
        Route(f"{PREFIX}/conversions", guarded(conversion), methods=["POST"]),
        Route(f"{PREFIX}/messages/{{message:path}}/events", guarded(message),
              methods=["GET"]),
    ]


@dataclass(frozen=True, slots=True)
class DomainPage:
    rows: list[DomainRow]
    page: int
    per_page: int
    total: int
    sort: str

    @property
    def has_more(self) -> bool:
        return self.page * self.per_page < self.total


async def domain_page(service: StoreWork, campaign: str,
                      params: Mapping[str, str]) -> DomainPage:
    """One page of a campaign's domains, sorted by PARAMS' sort (the API and dashboard)."""
    page, per_page = _paging(params)
    sort = params.get("sort", "messages")
    if sort not in DOMAIN_SORTS:
        raise InputError(f"'{sort}' is not one of {', '.join(DOMAIN_SORTS)}", field="sort")
    rows = await service.run(reports.domain_report, campaign)
    rows.sort(key=DOMAIN_SORTS[sort])
    start = (page - 1) * per_page
    return DomainPage(rows[start:start + per_page], page, per_page, len(rows), sort)


async def campaign_export(service: StoreWork, request: Request) -> Response:
    """The export of /campaigns/{campaign}/export.{format} (the API and dashboard)."""
    campaign, fmt = request.path_params["campaign"], request.path_params["format"]
    query = EventQuery.parse(query_values(request), campaign=campaign, page=1)
    await service.run(reports.event_page, EventQuery(campaign=campaign, per_page=1),
                      refresh=False)   # 404 for an unknown campaign before streaming
    return export_response(service, query, fmt, f"{campaign}-events")


def export_response(service: StoreWork, query: EventQuery, fmt: str,
                    filename: str) -> Response:
    """Every event matching QUERY with its verdict, streamed as CSV or JSON Lines."""
    if fmt not in ("csv", "jsonl"):
        raise NotFoundError(f"no export format '{fmt}': use export.csv or export.jsonl")

    def lines() -> Iterator[str]:
        with service.pool.store() as store:
            rows = reports.iter_events(store, query)
            if fmt == "jsonl":
                for row in rows:
                    yield dumps(reports.to_json(row)) + "\n"
                return
            yield _csv_line(EXPORT_COLUMNS)
            for row in rows:
                yield _csv_line(_csv_values(row))

    media = "text/csv; charset=utf-8" if fmt == "csv" else "application/x-ndjson"
    return StreamingResponse(lines(), media_type=media, headers={
        "content-disposition": f'attachment; filename="{filename}.{fmt}"',
        "cache-control": "no-store"})


def _csv_values(row: EventRow) -> list[Any]:
    data = reports.to_json(row)
    data["reasons"] = " | ".join(r["rule"] for r in data["reasons"])
    return [data[column] for column in EXPORT_COLUMNS]


def _csv_line(values: list[Any]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(safe_row(values))
    return out.getvalue()


def _presented_key(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.headers.get("x-api-key") or None


def _params(request: Request, allowed: set[str]) -> dict[str, str]:
    params = query_values(request)
    for name in params:
        if name not in allowed:
            hint = f"; use {', '.join(sorted(allowed))}" if allowed else ""
            raise InputError(f"unknown parameter{hint}", field=name)
    return params


def _no_params(request: Request) -> None:
    _params(request, set())


def _paging(params: Mapping[str, str]) -> tuple[int, int]:
    values = EventQuery.parse({k: v for k, v in params.items() if k in ("page", "per_page")})
    return values.page, values.per_page
