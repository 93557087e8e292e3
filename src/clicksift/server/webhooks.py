"""``POST /webhooks/{esp}``: ESP events in, verified, normalized, stored, judged.

Status codes are what ESPs act on: 200 once every event of the body is committed (a body
delivered twice stores its events once: ids come from the ESP's ids); 400 for a bad
signature or a malformed body (the ESP stops retrying: retrying cannot fix it); 403 when no
secret is configured for that ESP and unsigned webhooks are not allowed; 404 for an ESP
clicksift does not know; 413 for a body over ``webhook_max_mb``; 500 when the store fails
(the ESP retries later, and nothing was half stored: one transaction per body).

GET and HEAD answer 200 with whether the endpoint is ready (Mandrill checks a new webhook
URL with HEAD).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import httpx
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from clicksift.classify.engine import Engine
from clicksift.classify.vocabulary import Verdict
from clicksift.events import ENGAGEMENT_TYPES, Event, loads
from clicksift.ingest import ADAPTERS, Adapter, PayloadError, SignatureError, esp_value
from clicksift.ingest.base import Handshake
from clicksift.ingest.normalize import unreadable
from clicksift.protect.esp_unsubscribes import mirror_unsubscribes
from clicksift.settings import Settings, as_text
from clicksift.web.collector import batch_work
from clicksift.web.handover import Handover

log = logging.getLogger("clicksift.webhooks")
StoreScope = Callable[[], Any]     # a context manager yielding a SqlStore


def configured_secrets(settings: Settings, adapter: Adapter) -> dict[str, str] | None:
    """The adapter's secrets from SETTINGS, or None when a required one is not set."""
    values: dict[str, str] = {}
    for name, setting_name in adapter.secrets.items():
        values[name] = as_text(esp_value(settings, setting_name))
    if adapter.url_field and not values.get(adapter.url_field):
        values[adapter.url_field] = f"{settings.base_url.rstrip('/')}/webhooks/{adapter.name}"
    required = [n for n in adapter.secrets if n not in adapter.optional]
    if any(not values[name] for name in required):
        return None
    return values


def unsigned_allowed(settings: Settings, name: str) -> bool:
    allowed = settings.allow_unsigned_webhooks
    return "all" in allowed or name in allowed


def startup_warnings(settings: Settings) -> list[str]:
    """One line per ESP whose webhooks would be taken without a signature."""
    return [f"{adapter.title} webhooks (/webhooks/{name}) are accepted UNSIGNED: anyone who "
            f"knows the URL can post events (allow_unsigned_webhooks)"
            for name, adapter in ADAPTERS.items()
            if adapter.webhook and unsigned_allowed(settings, name)
            and configured_secrets(settings, adapter) is None]


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status,
                        headers={"cache-control": "no-store"})


class WebhookReceiver:
    def __init__(self, settings: Settings, store_scope: StoreScope,
                 handover: Handover | None = None) -> None:
        self.settings = settings
        self.store_scope = store_scope
        self.handover = handover or Handover(enabled=False)
        self.engine: Engine | None = None
        self.protect_engine: Engine | None = None
        self.max_bytes = int(settings.webhook_max_mb * 1024 * 1024)

    def start(self, engine: Engine | None, protect_engine: Engine | None = None) -> None:
        """ENGINE gives provisional verdicts at arrival (None: only store); PROTECT_ENGINE
        judges the unsubscribes ESPs report (docs/protect.md)."""
        self.engine = engine
        self.protect_engine = protect_engine
        for line in startup_warnings(self.settings):
            log.warning(line)

    async def handle(self, request: Request) -> Response:
        name = request.path_params["esp"]
        adapter = ADAPTERS.get(name)
        if adapter is None or not adapter.webhook:
            webhooks = ", ".join(n for n, a in ADAPTERS.items() if a.webhook)
            return _error(404, f"no webhook for {name!r}; clicksift takes webhooks from "
                               f"{webhooks}")
        secrets = configured_secrets(self.settings, adapter)
        ready = secrets is not None or unsigned_allowed(self.settings, name)
        if request.method in ("GET", "HEAD"):
            return JSONResponse({"esp": name, "ready": ready,
                                 "signed": secrets is not None})
        if not ready:
            settings_names = ", ".join(s for n, s in adapter.secrets.items()
                                       if n not in adapter.optional)
            return _error(403, f"no secret is configured for {adapter.title} webhooks: set "
                               f"{settings_names} (or allow_unsigned_webhooks)")
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type not in adapter.content_types:
            return _error(400, f"{adapter.title} webhooks are "
                               f"{' or '.join(adapter.content_types)}, not "
                               f"{content_type or 'without a content type'}")
        body = await _read_body(request, self.max_bytes)
        if body is None:
            return _error(413, f"the body is over {self.settings.webhook_max_mb:g} MB "
                               "(webhook_max_mb)")
        headers = {k.lower(): v for k, v in request.headers.items()}
        try:
            await run_in_threadpool(self._verify, adapter, body, headers, secrets)
        except SignatureError as exc:
            log.warning("%s webhook refused: %s", name, exc)
            return _error(400, f"signature check failed: {exc}")
        except Exception as exc:   # a body no check can read is not proven to be the ESP's
            log.warning("%s webhook refused: the signature cannot be checked (%s: %s)",
                        name, type(exc).__name__, exc)
            return _error(400, "signature check failed: the request cannot be checked")
        try:
            events = await run_in_threadpool(batch_work(adapter.parse), body, headers)
        except PayloadError as exc:   # not one record of it reads as the ESP's
            log.warning("%s webhook malformed: %s", name, exc)
            return _error(400, f"malformed {adapter.title} payload: {exc}")
        except Exception as exc:   # a bug of ours must not lose what the ESP sent
            log.exception("%s webhook: reading the body failed; kept whole", name)
            events = [unreadable_body(name, body, f"{type(exc).__name__}: {exc}")]
        if adapter.handshake is not None:
            handshake = adapter.handshake(body, secrets or {})
            if handshake is not None:
                return await self._answer_handshake(adapter, handshake)
        try:
            new, handed = await self.handover.take(
                request.scope, run_in_threadpool(batch_work(self._store), events))
        except Exception:
            log.exception("%s webhook: storing %d events failed", name, len(events))
            return _error(500, "the events could not be stored; retry later")
        return JSONResponse({"accepted": len(events), "new": new},
                            headers={"cache-control": "no-store", **handed})

    def _verify(self, adapter: Adapter, body: bytes, headers: dict[str, str],
                secrets: dict[str, str] | None) -> None:
        if secrets is not None:
            assert adapter.verify is not None
            if adapter.fetch is not None:
                adapter.fetch(body, secrets)
            adapter.verify(body, headers, secrets)

    async def _answer_handshake(self, adapter: Adapter, handshake: Handshake) -> Response:
        subject, url = handshake.subject, handshake.confirm_url
        if not handshake.confirm:
            log.warning("%s subscription to %s waits for confirmation: open %s (or %s)",
                        adapter.title, subject, url, handshake.hint)
            return JSONResponse({"subscription": subject, "confirmed": False,
                                 "confirm_url": url})
        try:
            response = await run_in_threadpool(httpx.get, url, timeout=10)
            response.raise_for_status()
        except httpx.HTTPError as exc:
            log.warning("confirming the %s subscription to %s failed: %s", adapter.title,
                        subject, exc)
            return _error(500, "the subscription could not be confirmed; the ESP will retry")
        log.info("confirmed the %s subscription to %s", adapter.title, subject)
        return JSONResponse({"subscription": subject, "confirmed": True})

    def _store(self, events: list[Event]) -> int:
        if not events:
            return 0
        verdicts = provisional_verdicts(events, self.engine)   # before taking the write lock
        with self.store_scope() as store:
            with store.transaction():
                new = int(store.add_events(events))
                if self.engine is not None:
                    store.save_verdicts(verdicts, self.engine.version)
            if self.protect_engine is not None:
                try:
                    mirror_unsubscribes(store, events, self.protect_engine,
                                        self.settings.audit_mode,
                                        self.settings.hold_unsubscribe_score)
                except Exception:      # stored already: a retry would change nothing more
                    log.exception("judging the unsubscribes of a webhook failed")
            return new


def unreadable_body(esp: str, body: bytes, reason: str) -> Event:
    """A signed body that cannot be read, as one ``unknown`` event holding it."""
    try:
        record: Any = loads(body)
    except ValueError:
        record = {"body": body.decode("utf-8", "replace")}
    return unreadable(esp, None, record, reason)


def provisional_verdicts(events: list[Event], engine: Engine | None) -> list[Verdict]:
    """The provisional verdicts of EVENTS' opens, clicks and unsubscribes (none without an
    ENGINE)."""
    if engine is None:
        return []
    return [engine.provisional(e) for e in events if e.type in ENGAGEMENT_TYPES]


async def _read_body(request: Request, limit: int) -> bytes | None:
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)
