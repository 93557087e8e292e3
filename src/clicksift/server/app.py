"""The tracking server as one ASGI application.

The hot paths (``/c/`` click redirect, ``/o/`` open pixel) are plain ASGI coroutines:
verify the token, build the event, wait for its group commit, answer. Everything else
(unsubscribe, health, and what later modules mount) is a Starlette application.

Status codes are a contract: a forged, truncated or altered token is 404 (never a
redirect), a wrong method 405, an over-long URL 414, a malformed form 400.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from clicksift import __version__
from clicksift.classify import Engine, engine_from_settings
from clicksift.configuration import check, load_settings
from clicksift.errors import ClicksiftError, InputError, NotFoundError, TokenError
from clicksift.events import (
    Event,
    EventType,
    LinkKind,
    format_timestamp,
    parse_timestamp,
)
from clicksift.ids import new_event_id
from clicksift.links import (
    CLICK_PREFIX,
    OPEN_PREFIX,
    OPEN_SUFFIX,
    UNSUBSCRIBE_PREFIX,
    TrackingUrls,
    load_signer,
)
from clicksift.protect import conversions
from clicksift.protect.conversions import add_click_id, click_id_scope
from clicksift.server import demo_pages
from clicksift.server.housekeeping import Housekeeping, external_state, runs_elsewhere
from clicksift.server.preferences import PreferenceCenter
from clicksift.server.recorder import Recorder
from clicksift.server.requestinfo import ClientAddress, RequestInfo, request_info
from clicksift.server.responses import (
    NO_INDEX,
    NO_STORE,
    PIXEL_GIF,
    header_url,
    send_response,
    send_text,
)
from clicksift.server.security_headers import SecurityHeaders
from clicksift.server.spool import Spool
from clicksift.server.webhooks import WebhookReceiver, provisional_verdicts
from clicksift.settings import Settings
from clicksift.storage import SqlStore, is_postgres, open_store
from clicksift.storage.pool import StorePool
from clicksift.tokens import Action, Claims, Signer
from clicksift.web import api
from clicksift.web.dashboard import Dashboard
from clicksift.web.handover import Handover
from clicksift.web.service import StoreWork

log = logging.getLogger("clicksift.server")
MAX_PATH = 8192
MAX_FORM_BYTES = 16 * 1024
SIMULATED_TIME_HEADER = "x-clicksift-simulated-time"
SESSION_SECRET_META = "dashboard.session_secret"  # noqa: S105 (a meta key name)
_GIF_HEADERS = [(b"content-type", b"image/gif"), NO_STORE, (b"pragma", b"no-cache"),
                (b"expires", b"0"), NO_INDEX]


def spool_folder(settings: Settings) -> str:
    if settings.spool_dir:
        return settings.spool_dir
    if "://" in settings.database:
        return "clicksift-spool"
    return settings.database + ".spool"


@dataclass
class Runtime:
    """What the app holds while it runs (made at startup, in the worker process)."""

    signer: Signer
    urls: TrackingUrls
    recorder: Recorder
    addresses: ClientAddress


class TrackingApp:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.runtime: Runtime | None = None
        self.housekeeping: Housekeeping | None = None
        self.started_at = time.time()
        self.engine: Engine | None = None        # made at start, in the worker
        self._click_id_param = settings.click_id_param.encode("ascii")
        self._click_id_scope = click_id_scope(settings.click_id_domains, settings.base_url)
        self.pool = StorePool(settings)
        self.work = StoreWork(self.pool)
        self.dashboard = Dashboard(self.work)
        routes: list[BaseRoute] = [
            Route("/", self.home, methods=["GET", "HEAD"]),
            Route("/healthz", self.health, methods=["GET", "HEAD"]),
            Route("/cv.gif", self.conversion_pixel, methods=["GET", "HEAD"]),
            Route(UNSUBSCRIBE_PREFIX + "{token}", self.unsubscribe,
                  methods=["GET", "HEAD", "POST"]),
        ]
        handover = Handover(enabled=settings.workers > 1)
        self.webhooks = WebhookReceiver(settings, self.pool.store, handover)
        self.preferences = PreferenceCenter(settings, self.pool.store)
        routes.append(Route("/webhooks/{esp}", self.webhooks.handle,
                            methods=["GET", "HEAD", "POST"]))
        routes += api.routes(self.work, self.verify_click_id, lambda: self.engine, handover)
        routes.append(Mount("/dashboard", app=self.dashboard))
        if settings.demo_folder:
            routes += demo_pages.routes(settings.demo_folder)
        framework = Starlette(routes=routes)
        framework.router.default = api.not_found
        framework.state.app = self
        self.web = SecurityHeaders(framework)

    # -- ASGI entry ---------------------------------------------------------------------------

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        path: str = scope["path"]
        if len(scope.get("raw_path") or path) > MAX_PATH:
            await send_text(send, 414, "URL too long\n")
        elif path.startswith(CLICK_PREFIX):
            await self._click(scope, send, path[len(CLICK_PREFIX):])
        elif path.startswith(OPEN_PREFIX):
            await self._open(scope, send, path[len(OPEN_PREFIX):])
        else:
            await self.web(scope, receive, send)

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    self.start(asyncio.get_running_loop())
                except ClicksiftError as exc:
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        settings = self.settings
        store = open_store(settings)
        try:
            signer = load_signer(settings.signing_keys, store)
            session_secret = settings.session_secret or store.get_meta(SESSION_SECRET_META) \
                or store.put_meta_if_absent(SESSION_SECRET_META, secrets.token_urlsafe(32))
            for name in getattr(store, "exposed_files", list)():
                log.warning("%s is readable by other local users; it holds the signing keys "
                            "and the session secret: run 'chmod 600 %s'", name, name)
        finally:
            store.close()
        sqlite = not is_postgres(settings.database)
        engine = self.engine = engine_from_settings(settings)
        engine.warm_up()

        def save_provisional_verdicts(store: SqlStore, events: list[Event]) -> None:
            store.save_verdicts(provisional_verdicts(events, engine), engine.version)

        recorder = Recorder(
            lambda: open_store(settings, migrate=False, checkpoint=not sqlite),
            Spool(spool_folder(settings), settings.spool_reserve_mb << 20),
            open_inline_store=(lambda: open_store(settings, migrate=False, timeout=0,
                                                  checkpoint=False))
            if sqlite and settings.commit_on_loop else None,
            batch_size=settings.commit_batch_size,
            after_insert=save_provisional_verdicts if settings.online_verdicts else None)
        recorder.start(loop)
        if not runs_elsewhere():  # else `clicksift serve` runs it in its own process
            self.housekeeping = Housekeeping(settings, self.pool)
            self.housekeeping.start()
        self.webhooks.start(engine if settings.online_verdicts else None, engine)
        self.preferences.start(engine)
        client_address = ClientAddress(self.settings.trusted_proxies)
        self.dashboard.start(session_secret, https=settings.base_url.startswith("https:"),
                             max_age=int(settings.session_hours * 3600),
                             client_address=client_address.resolve)
        self.runtime = Runtime(signer, TrackingUrls(self.settings.base_url, signer), recorder,
                               client_address)
        # What startup made (the knowledge base, the engine, the routes) lives as long as the
        # worker: keep it out of the cycle collector's full passes, which would otherwise
        # walk it all (about 12 ms) while requests wait.
        gc.collect()
        gc.freeze()
        log.info("clicksift %s tracking on %s (store %s)", __version__, self.settings.base_url,
                 self.settings.database)

    def stop(self) -> None:
        if self.runtime is not None:
            self.runtime.recorder.stop()
        if self.housekeeping is not None:
            self.housekeeping.stop()
        else:
            self.pool.close()

    # -- hot paths ----------------------------------------------------------------------------

    def _verify(self, token: str, action: Action) -> Claims | None:
        assert self.runtime is not None
        try:
            claims = self.runtime.signer.verify(token)
        except TokenError:
            return None
        return claims if claims.action is action else None

    async def _click(self, scope: dict[str, Any], send: Any, token: str) -> None:
        method = scope["method"]
        if method not in {"GET", "HEAD"}:
            await send_text(send, 405, "method not allowed\n", [(b"allow", b"GET, HEAD")])
            return
        claims = self._verify(token, Action.CLICK)
        location = header_url(claims.url) if claims is not None and claims.url else None
        if claims is None or location is None:
            await send_text(send, 404, "unknown link\n", head=method == "HEAD")
            return
        assert self.runtime is not None
        info = request_info(scope, self.runtime.addresses)
        event = self._event(EventType.CLICK, claims, info, url=claims.url,
                            link_kind=claims.link_kind, link_index=claims.link_index)
        if self._click_id_param and claims.link_kind == LinkKind.CONTENT \
                and self._click_id_scope.of(location):
            location = add_click_id(location, self._click_id_param,
                                    self.runtime.signer.sign_click_id(event.id))
        await self.runtime.recorder.record(event)
        await send_response(send, 302, [(b"location", location), NO_STORE, NO_INDEX])

    async def _open(self, scope: dict[str, Any], send: Any, rest: str) -> None:
        method = scope["method"]
        if method not in {"GET", "HEAD"}:
            await send_text(send, 405, "method not allowed\n", [(b"allow", b"GET, HEAD")])
            return
        token = rest[:-len(OPEN_SUFFIX)] if rest.endswith(OPEN_SUFFIX) else rest
        claims = self._verify(token, Action.OPEN)
        if claims is None:
            await send_text(send, 404, "unknown image\n", head=method == "HEAD")
            return
        assert self.runtime is not None
        info = request_info(scope, self.runtime.addresses)
        await self.runtime.recorder.record(self._event(EventType.OPEN, claims, info))
        await send_response(send, 200, _GIF_HEADERS, PIXEL_GIF, head=method == "HEAD")

    def _event(self, kind: EventType, claims: Claims, info: RequestInfo, *,
               url: str | None = None, link_kind: str | None = None,
               link_index: int | None = None, form: dict[str, str] | None = None) -> Event:
        now = time.time()
        if self.settings.accept_simulated_time:
            now = _simulated_time(info, now)
        raw: dict[str, Any] = {
            "type": kind.value, "id": new_event_id(now), "message_id": claims.message_id,
            "timestamp": format_timestamp(now), "ip": info.ip, "user_agent": info.user_agent,
            "method": info.method, "headers": info.headers, "source": "tracker",
            "prepared_at": format_timestamp(claims.issued_at),
        }
        if url is not None:
            raw.update(url=url, link_kind=link_kind)
            if link_index is not None:
                raw["link_index"] = link_index
        if form is not None:
            raw["form"] = form
        if info.ip is None:
            del raw["ip"]
        return Event(kind.value, raw["id"], claims.message_id, now, url=url,
                     link_kind=link_kind, ip=info.ip, user_agent=info.user_agent,
                     method=info.method, headers=info.headers, form=form, source="tracker",
                     raw=raw)

    # -- pages --------------------------------------------------------------------------------

    async def home(self, request: Request) -> Response:
        return PlainTextResponse("clicksift tracking server\n"
                                 "dashboard: /dashboard/   API: /api/v1/openapi.json\n")

    async def health(self, request: Request) -> Response:
        runtime = self.runtime
        body = {"status": "ok", "version": __version__, "pid": os.getpid(),
                "uptime_seconds": round(time.time() - self.started_at, 1)}
        if runtime is not None:
            recorder = runtime.recorder
            body.update(queued=recorder.queued, **recorder.stats,
                        spool_reserve_bytes=recorder.spool.reserve_bytes,
                        spool_reserve_left=recorder.spool.reserve_left)
            body["status"] = recorder.health()
        if self.housekeeping is None and runs_elsewhere():
            body["housekeeper"] = external_state()
            if body["housekeeper"] != "running" and body["status"] == "ok":
                body["status"] = "degraded"
        # A load balancer takes a failing server (it lost answered events) out of rotation.
        return JSONResponse(body, status_code=503 if body["status"] == "failing" else 200,
                            headers={"cache-control": "no-store"})

    def verify_click_id(self, signed: str) -> str | None:
        """The click id a signed one carries (None: forged, or the server not started)."""
        return self.runtime.signer.verify_click_id(signed) if self.runtime else None

    async def conversion_pixel(self, request: Request) -> Response:
        """A conversion reported by an image on the thank-you page; always the GIF."""
        recorded = "0"
        try:
            parsed = conversions.parse_request(dict(request.query_params),
                                               self.verify_click_id, signed_only=True)
            _event, new = await self.work.run(conversions.record, parsed, "pixel",
                                                 refresh=False)
            recorded = "1" if new else "0"
        except (InputError, NotFoundError) as exc:
            log.info("conversion pixel not recorded: %s", exc)
        return Response(PIXEL_GIF, media_type="image/gif",
                        headers={"cache-control": "no-store", "x-clicksift-recorded": recorded})

    async def unsubscribe(self, request: Request) -> Response:
        token = request.path_params["token"]
        claims = self._verify(token, Action.UNSUBSCRIBE)
        if claims is None:
            return PlainTextResponse("unknown link\n", status_code=404)
        assert self.runtime is not None
        url = self.runtime.urls.base_url + UNSUBSCRIBE_PREFIX + token
        info = request_info(request.scope, self.runtime.addresses)
        if request.method in {"GET", "HEAD"}:
            event = self._event(EventType.CLICK, claims, info, url=url,
                                link_kind=LinkKind.UNSUBSCRIBE.value)
            await self.runtime.recorder.record(event)
            return await self.preferences.show(claims.message_id, url)
        form = await _read_form(request)
        if form is None:
            return PlainTextResponse("the form could not be read\n", status_code=400)
        one_click = form.get("List-Unsubscribe") == "One-Click"
        try:
            change = self.preferences.change_for(form)
        except InputError as exc:
            return self.preferences.bad_form(url, exc)
        # A POST that takes the person off any mail is an unsubscribe; other preference
        # changes are recorded as a request to the preference page.
        kind = EventType.UNSUBSCRIBE if change.unsubscribes else EventType.CLICK
        event = self._event(kind, claims, info, url=url, link_kind=LinkKind.UNSUBSCRIBE.value,
                            form=form)
        await self.runtime.recorder.record(event)
        return await self.preferences.submit(event, change, form, url, one_click)


def _simulated_time(info: RequestInfo, now: float) -> float:
    """The X-Clicksift-Simulated-Time of a request (demos and tests), else NOW."""
    text = info.headers.pop(SIMULATED_TIME_HEADER, None)
    if text is None:
        return now
    try:
        return parse_timestamp(text)
    except ValueError:
        return now


async def _read_form(request: Request) -> dict[str, str] | None:
    """The POSTed form as a dict, or None when it is too large or cannot be decoded."""
    content_type = request.headers.get("content-type", "")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            return None
    if content_type.startswith("multipart/form-data"):
        request._body = body  # Starlette's form parser reads the cached body
        try:
            form = await request.form(max_files=0, max_fields=50)
        except Exception:
            return None
        return {key: value for key, value in form.items() if isinstance(value, str)}
    try:
        return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=50))
    except (UnicodeDecodeError, ValueError):
        return None


def create_app(settings: Settings | None = None) -> TrackingApp:
    """The ASGI app; without SETTINGS it reads them from the environment (server workers)."""
    chosen = settings if settings is not None else load_settings().settings
    check(chosen)
    return TrackingApp(chosen)
