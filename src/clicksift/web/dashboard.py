"""The dashboard, ``/dashboard/``: campaigns, a campaign's report with charts, recipient
domains, the event explorer and one message's events.

People log in with a password (``clicksift users create``) or an API key. Sessions are
signed cookies (Starlette's SessionMiddleware, HttpOnly, SameSite=Lax, Secure on https);
every form carries a CSRF token bound to the session. Pages render the report dataclasses;
charts are SVG drawn on the server (:mod:`clicksift.web.charts`), so nothing loads from
elsewhere and the pages work offline.
"""

from __future__ import annotations

import hmac
import math
import secrets
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from clicksift import __version__, access, reports
from clicksift.classify.rules import RULES
from clicksift.classify.vocabulary import KINDS
from clicksift.errors import InputError, NotFoundError, StorageError
from clicksift.events import EventType, minute_text
from clicksift.ingest import ADAPTERS
from clicksift.ingest.problems import esp_filter, problems
from clicksift.protect import outbound, subscriptions
from clicksift.reports.explorer import VERDICTS, EventQuery
from clicksift.reports.model import CampaignReport, Overview
from clicksift.reports.summary import DELAY_LABELS
from clicksift.settings import topic_table
from clicksift.web import charts
from clicksift.web.api import campaign_export, domain_page
from clicksift.web.service import StoreWork
from clicksift.web.throttle import LoginThrottle

Handler = Callable[[Request], Awaitable[Response]]
PREFIX = "/dashboard"
SESSION_COOKIE = "clicksift_session"


def _pct(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:.{digits}%}"


def _num(value: float | None) -> str:
    return "–" if value is None else f"{value:,.0f}"


def _label(value: str | None) -> str:
    return "–" if not value else value.replace("_", " ")


def _share_items(shares: Any) -> list[tuple[str, float, float]]:
    return [(_label(s.name), s.events, s.share) for s in shares]


def make_templates() -> Environment:
    env = Environment(loader=PackageLoader("clicksift", "web/templates"),
                      autoescape=select_autoescape(["html"]), trim_blocks=True,
                      lstrip_blocks=True)
    env.filters.update(pct=_pct, num=_num, label=_label,
                       when=lambda seconds: minute_text(seconds or None))
    env.globals.update(version=__version__, prefix=PREFIX, share_items=_share_items)
    return env


class Dashboard:
    """The dashboard as an ASGI app; made at server start, when the session key is known."""

    def __init__(self, service: StoreWork) -> None:
        self.service = service
        self.templates = make_templates()
        self.app: Starlette | None = None
        self.throttle = LoginThrottle()
        self.client_address: Callable[[str | None, str | None], str | None] = \
            lambda peer, forwarded: peer

    def start(self, session_secret: str, https: bool, max_age: int,
              client_address: Callable[[str | None, str | None], str | None] | None = None
              ) -> None:
        """CLIENT_ADDRESS(peer, X-Forwarded-For) finds the client behind trusted proxies."""
        if client_address is not None:
            self.client_address = client_address
        static = StaticFiles(packages=[("clicksift", "web/static")])
        routes = [
            Route("/", self.guard(self.overview), methods=["GET"]),
            Route("/login", self.login, methods=["GET", "POST"]),
            Route("/logout", self.logout, methods=["POST"]),
            # Ids may hold '/': the path converter takes them whole (suffixed routes first).
            Route("/campaigns/{campaign:path}/domains", self.guard(self.domains),
                  methods=["GET"]),
            Route("/campaigns/{campaign:path}/events", self.guard(self.events),
                  methods=["GET"]),
            Route("/campaigns/{campaign:path}/export.{format:str}", self.guard(self.export),
                  methods=["GET"]),
            Route("/campaigns/{campaign:path}", self.guard(self.campaign), methods=["GET"]),
            Route("/events", self.guard(self.events), methods=["GET"]),
            Route("/messages/{message:path}", self.guard(self.message), methods=["GET"]),
            Route("/unsubscribes", self.guard(self.unsubscribes), methods=["GET", "POST"]),
            Route("/webhooks", self.guard(self.webhooks), methods=["GET"]),
            Route("/ingest", self.guard(self.ingest_problems), methods=["GET"]),
            Route("/subscriptions", self.guard(self.subscriptions), methods=["GET"]),
            Mount("/static", app=static, name="static"),
        ]
        self.app = Starlette(routes=routes, middleware=[Middleware(
            SessionMiddleware, secret_key=session_secret, session_cookie=SESSION_COOKIE,
            max_age=max_age, same_site="lax", https_only=https, path=PREFIX)])

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if self.app is None:
            response = HTMLResponse("starting", status_code=503)
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)

    # -- rendering ------------------------------------------------------------------------------

    def page(self, request: Request, template: str, status: int = 200,
             **values: Any) -> HTMLResponse:
        body = self.templates.get_template(template).render(
            user=request.session.get("user"), csrf=_csrf(request), charts=charts, **values)
        return HTMLResponse(body, status_code=status, headers={
            "cache-control": "no-store", "x-frame-options": "DENY",
            "referrer-policy": "same-origin",
            "content-security-policy": "default-src 'self'; style-src 'self'; "
                                       "img-src 'self' data:; frame-ancestors 'none'"})

    def problem(self, request: Request, status: int, message: str) -> HTMLResponse:
        titles = {400: "That did not work", 404: "Not found", 503: "Try again shortly"}
        return self.page(request, "error.html", status, title=titles.get(status, "Error"),
                         message=message)

    def guard(self, handler: Handler) -> Handler:
        async def endpoint(request: Request) -> Response:
            user, session_id = request.session.get("user"), request.session.get("sid")
            if not user or not session_id or not await self.service.run(
                    access.session_valid, user, session_id, refresh=False):
                # logged out, a deleted user, a revoked key (the form token stays)
                request.session.pop("user", None)
                request.session.pop("sid", None)
                target = request.url.path + (f"?{request.url.query}" if request.url.query
                                             else "")
                return RedirectResponse(f"{PREFIX}/login?{urlencode({'next': target})}", 303)
            try:
                return await handler(request)
            except InputError as exc:
                return self.problem(request, 400, str(exc))
            except NotFoundError as exc:
                return self.problem(request, 404, str(exc))
            except StorageError as exc:
                return self.problem(request, 503, f"The store is not available: {exc}")
        return endpoint

    # -- login ----------------------------------------------------------------------------------

    async def login(self, request: Request) -> Response:
        target = _safe_next(request.query_params.get("next"))
        if request.method == "GET":
            return self.page(request, "login.html", target=target, failed=False)
        form = await request.form()
        if not _csrf_ok(request, str(form.get("csrf_token", ""))):
            return self.problem(request, 400, "The form expired. Open the login page again.")
        name, password = str(form.get("name", "")).strip(), str(form.get("password", ""))
        key = str(form.get("api_key", "")).strip()
        who = name if not key else f"key {key[:12]}"
        address = self.client_address(request.client.host if request.client else None,
                                      request.headers.get("x-forwarded-for"))
        wait = self.throttle.wait(who, address)
        if wait > 0:
            response = self.page(request, "login.html", 429, target=target, failed=True,
                                 wait=math.ceil(wait))
            response.headers["retry-after"] = str(math.ceil(wait))
            return response
        user = None
        if key:
            found = await self.service.verify_key(key)
            user = f"key:{found.id}:{found.name}" if found else None
        elif name and password:
            user = f"user:{name}" if await self.service.verify_password(name, password) \
                else None
        if user is None:
            self.throttle.failed(who, address)
            return self.page(request, "login.html", 401, target=target, failed=True)
        self.throttle.succeeded(who)
        session_id = await self.service.run(access.open_session, user, refresh=False)
        request.session.clear()
        request.session.update(user=user, sid=session_id, csrf=secrets.token_urlsafe(24))
        return RedirectResponse(target, 303)

    async def logout(self, request: Request) -> Response:
        form = await request.form()
        if _csrf_ok(request, str(form.get("csrf_token", ""))):
            session_id = request.session.get("sid")
            if session_id:
                await self.service.run(access.close_session, session_id, refresh=False)
            request.session.clear()
        return RedirectResponse(f"{PREFIX}/login", 303)

    # -- pages ----------------------------------------------------------------------------------

    async def overview(self, request: Request) -> Response:
        view: Overview = await self.service.run(reports.overview)
        return self.page(request, "overview.html", view=view)

    async def campaign(self, request: Request) -> Response:
        report: CampaignReport = await self.service.run(reports.campaign_report,
                                                        request.path_params["campaign"])
        return self.page(request, "campaign.html", r=report, labels=DELAY_LABELS)

    async def domains(self, request: Request) -> Response:
        campaign = request.path_params["campaign"]
        found = await domain_page(self.service, campaign, request.query_params)
        return self.page(request, "domains.html", campaign=campaign, sort=found.sort,
                         rows=found.rows, page=found.page, per_page=found.per_page,
                         total=found.total, has_more=found.has_more)

    async def events(self, request: Request) -> Response:
        campaign = request.path_params.get("campaign")
        values = {k: v for k, v in request.query_params.items() if v != ""}
        fixed = {"campaign": campaign} if campaign else {}
        query = EventQuery.parse(values, **fixed)
        page = await self.service.run(reports.event_page, query, refresh=False)
        base = {k: v for k, v in values.items() if k != "page"}
        return self.page(request, "events.html", campaign=campaign, page=page, values=values,
                         rules=sorted(RULES), types=[t.value for t in EventType],
                         verdicts=VERDICTS, kinds=list(KINDS),
                         prev_url=_with_page(request, base, page.page - 1)
                         if page.page > 1 else None,
                         next_url=_with_page(request, base, page.page + 1)
                         if page.has_more else None)

    async def message(self, request: Request) -> Response:
        message_id = request.path_params["message"]
        rows = await self.service.run(reports.message_events, message_id, refresh=False)
        return self.page(request, "message.html", message_id=message_id, rows=rows)

    async def export(self, request: Request) -> Response:
        return await campaign_export(self.service, request)

    async def unsubscribes(self, request: Request) -> Response:
        """Held unsubscribes (judged non-human) with their reasons; apply or dismiss."""
        notice = ""
        if request.method == "POST":
            form = await request.form()
            if not _csrf_ok(request, str(form.get("csrf_token", ""))):
                return self.problem(request, 400, "The form expired. Open the page again.")
            decision = str(form.get("decision", ""))
            if decision not in ("apply", "dismiss"):
                raise InputError("choose apply or dismiss", field="decision")
            who = str(request.session.get("user", "dashboard")).split(":")[-1]
            review = await self.service.run(_decide, str(form.get("event_id", "")),
                                            decision == "apply", who, refresh=False)
            notice = f"{review.status}: {review.recipient}, {review.change.describe()}"
        status = request.query_params.get("status", subscriptions.ReviewStatus.HELD)
        if status not in (*subscriptions.ReviewStatus, "all"):
            raise InputError(f"unknown status {status!r}", field="status")
        found = await self.service.run(subscriptions.reviews, None if status == "all"
                                       else status, refresh=False)
        return self.page(request, "unsubscribes.html", reviews=found, tab=status,
                         notice=notice)

    async def subscriptions(self, request: Request) -> Response:
        """One recipient's subscriptions and history, or everyone whose changed."""
        topics = topic_table(self.service.pool.settings)
        address = request.query_params.get("address", "").strip()
        states, history = await self.service.run(_subscriptions, address,
                                                 [t for t, _ in topics], refresh=False)
        return self.page(request, "subscriptions.html", address=address, states=states,
                         history=history, topics=topics)

    async def ingest_problems(self, request: Request) -> Response:
        chosen = request.query_params.get("esp", "")
        try:
            esp = esp_filter(chosen)
        except InputError as exc:
            return self.page(request, "ingest.html", status=400, problems=[], esp=chosen,
                             esps=sorted(ADAPTERS), titles=_TITLES, error=exc.reason)
        found = await self.service.run(problems, esp)
        by_esp: dict[str, int] = {}
        for problem in found:
            by_esp[problem.esp] = by_esp.get(problem.esp, 0) + problem.count
        return self.page(request, "ingest.html", problems=found, esp=esp or "",
                         esps=sorted(ADAPTERS), titles=_TITLES, by_esp=by_esp, error=None)

    async def webhooks(self, request: Request) -> Response:
        hooks, counts, recent = await self.service.run(_hook_state, refresh=False)
        return self.page(request, "webhooks.html", hooks=hooks, counts=counts, recent=recent)


_TITLES = {name: adapter.title for name, adapter in ADAPTERS.items()}


def _decide(store: Any, event_id: str, apply_it: bool, who: str) -> subscriptions.Review:
    with store.transaction():
        return subscriptions.decide(store, event_id, apply_it=apply_it, operator=who)


def _subscriptions(store: Any, address: str, topic_ids: list[str]) -> tuple[Any, Any]:
    if address:
        return ([subscriptions.get_state(store, address, topic_ids)],
                subscriptions.history(store, address))
    return ([subscriptions.get_state(store, r, topic_ids)
             for r in subscriptions.changed_recipients(store)[:500]], [])


def _hook_state(store: Any) -> tuple[Any, Any, Any]:
    return (outbound.list_hooks(store), outbound.delivery_counts(store),
            outbound.deliveries(store, limit=100))


def _csrf(request: Request) -> str:
    token = request.session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(24)
        request.session["csrf"] = token
    return str(token)


def _csrf_ok(request: Request, presented: str) -> bool:
    expected = request.session.get("csrf")
    return bool(expected) and hmac.compare_digest(str(expected), presented)


def _safe_next(target: str | None) -> str:
    """Only ever redirect inside the dashboard after login."""
    if target and target.startswith(PREFIX + "/") and not target.startswith("//") \
            and "\\" not in target:
        return target
    return PREFIX + "/"


def _with_page(request: Request, values: dict[str, str], page: int) -> str:
    return f"{request.url.path}?{urlencode({**values, 'page': str(page)})}"
