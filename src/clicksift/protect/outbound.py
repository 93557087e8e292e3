"""Outbound webhooks: events sent to automations, people's only by default.

A hook names a URL and the event types it wants (``click``, ``open``, ``unsubscribe``,
``conversion``). An event is considered once it has settled (``hook_settle_seconds`` after
it arrived, so that later context such as a honeypot hit or a burst over every link can
still change its verdict); it is then judged with its message's context (or its final
verdict, when a re-score gave one) and, for a people-only hook, dropped unless a person did
it. What passes goes to the outbox, a table, in the same transaction that moves the hook's
cursor: nothing is lost or sent twice when the server stops. Deliveries are POSTs signed
with the hook's secret::

    Clicksift-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>

retried with growing waits (``hook_retry_seconds``, times three each time, at most an hour)
until the receiver answers 2xx or ``hook_max_attempts`` is reached (then ``failed``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit

import httpx

from clicksift import __version__
from clicksift.classify.engine import Engine
from clicksift.errors import ClicksiftError, InputError, NotFoundError
from clicksift.events import Event, EventType, LinkKind, event_from_dict, format_timestamp
from clicksift.protect.confidence import machine_for_action
from clicksift.protect.judge import judge_events
from clicksift.settings import Settings
from clicksift.storage import SqlStore
from clicksift.storage.queries import hooks as sql

log = logging.getLogger("clicksift.hooks")
EVENT_TYPES = ("click", "open", "unsubscribe", "conversion")
SIGNATURE_HEADER = "Clicksift-Signature"
SIGNATURE_TOLERANCE = 300
MAX_WAIT = 3600.0


@dataclass(frozen=True)
class Hook:
    id: str
    url: str
    secret: str
    events: tuple[str, ...]
    humans_only: bool
    created_at: float
    cursor: int
    active: bool


@dataclass(frozen=True)
class Delivery:
    seq: int
    hook_id: str
    event_id: str
    status: str               # pending, delivered, failed
    attempts: int
    created_at: float
    due_at: float
    delivered_at: float | None
    last_error: str | None

    def to_json(self) -> dict[str, Any]:
        return {"seq": self.seq, "hook": self.hook_id, "event_id": self.event_id,
                "status": self.status, "attempts": self.attempts,
                "created_at": self.created_at, "next_attempt_at":
                self.due_at if self.status == "pending" else None,
                "delivered_at": self.delivered_at, "last_error": self.last_error}


# -- signatures ----------------------------------------------------------------------------------

def sign(secret: str, body: bytes, timestamp: int) -> str:
    mac = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify_signature(secret: str, header: str, body: bytes, *, now: float | None = None,
                     tolerance: float = SIGNATURE_TOLERANCE) -> bool:
    """What a receiver runs: the signature matches and is recent."""
    parts = dict(item.split("=", 1) for item in header.split(",") if "=" in item)
    try:
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        return False
    expected = sign(secret, body, timestamp).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))


# -- hooks ---------------------------------------------------------------------------------------

def _hook(row: sql.HookRow) -> Hook:
    return Hook(row.id, row.url, row.secret, tuple(json.loads(row.events)),
                bool(row.humans_only), row.created_at, int(row.cursor), bool(row.active))


def create_hook(store: SqlStore, url: str, events: Sequence[str], *, humans_only: bool = True,
                from_now: bool = True) -> Hook:
    """A new hook (in its own transaction); it starts with events arriving from now on
    unless FROM_NOW is false (then it also gets what is stored)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InputError(f"{url!r} is not an http(s) URL", field="url")
    unknown = [e for e in events if e not in EVENT_TYPES]
    if unknown or not events:
        raise InputError(f"event types must be some of {', '.join(EVENT_TYPES)}",
                         field="events")
    hook_id = "h" + secrets.token_hex(4)
    secret = "whsec_" + secrets.token_urlsafe(24)
    with store.transaction():
        cursor = store.value(sql.LAST_SEQ) if from_now else 0
        store.change(sql.INSERT_HOOK, (hook_id, url, secret,
                                       json.dumps(list(dict.fromkeys(events))),
                                       1 if humans_only else 0, time.time(), int(cursor)))
    return get_hook(store, hook_id)


def get_hook(store: SqlStore, hook_id: str) -> Hook:
    row = store.row(sql.HookRow, sql.HOOK, (hook_id,))
    if row is None:
        raise NotFoundError(f"no webhook with id {hook_id!r} (see clicksift hooks list)")
    return _hook(row)


def list_hooks(store: SqlStore, *, active_only: bool = True) -> list[Hook]:
    where = sql.ONLY_ACTIVE if active_only else ""
    return [_hook(r) for r in store.rows(sql.HookRow, sql.HOOKS.format(where=where))]


def delete_hook(store: SqlStore, hook_id: str) -> None:
    get_hook(store, hook_id)
    with store.transaction():
        store.change(sql.DEACTIVATE_HOOK, (hook_id,))
        store.change(sql.DROP_PENDING, (hook_id,))


def delivery_counts(store: SqlStore) -> dict[str, Counter[str]]:
    out: dict[str, Counter[str]] = defaultdict(Counter)
    for row in store.rows(sql.DeliveryCount, sql.DELIVERY_COUNTS):
        out[row.hook_id][row.status] = int(row.deliveries)
    return out


def deliveries(store: SqlStore, *, hook_id: str | None = None, status: str | None = None,
               limit: int = 50) -> list[Delivery]:
    where, params = sql.deliveries_where(hook_id, status)
    return store.rows(Delivery, sql.DELIVERIES.format(where=where, limit=int(limit)),
                      tuple(params))


def retry(store: SqlStore, seqs: Sequence[int]) -> int:
    """Send failed deliveries again, now."""
    with store.transaction():
        done = 0
        for seq in seqs:
            done += store.change(sql.RETRY, (time.time(), seq))
    return done


# -- the dispatcher ------------------------------------------------------------------------------

def payload(event: Event, verdict: dict[str, Any] | None) -> dict[str, Any]:
    raw = event.raw
    body: dict[str, Any] = {
        "id": event.id, "type": event.type, "timestamp": format_timestamp(event.ts),
        "message_id": event.message_id, "campaign_id": raw.get("campaign_id"),
        "recipient": raw.get("recipient"), "source": event.source, "verdict": verdict}
    for name in ("url", "link_kind", "value", "currency", "order_id", "click_id"):
        if raw.get(name) is not None:
            body[name] = raw[name]
    return body


class Dispatcher:
    """Moves settled events into the outbox and delivers what is due."""

    def __init__(self, settings: Settings, open_store: Callable[[], SqlStore],
                 engine: Engine, client: httpx.Client | None = None) -> None:
        self.settings = settings
        self.open_store = open_store
        self.engine = engine
        self.client = client or httpx.Client(timeout=10, follow_redirects=False, headers={
            "user-agent": f"clicksift/{__version__} (webhooks)"})
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- enqueue ------------------------------------------------------------------------------

    def _verdicts(self, store: SqlStore, events: list[Event]) -> dict[str, dict[str, Any]]:
        """Each event's verdict: final when a re-score gave one, else judged now with its
        message's context."""
        stored = store.verdict_rows([e.id for e in events])
        out = {i: v for i, v in stored.items() if v["final"]}
        todo = [e for e in events if e.id not in out and e.type != EventType.CONVERSION]
        if todo:
            for verdict in judge_events(store, self.engine, todo).values():
                out.setdefault(verdict.id, {
                    "verdict": verdict.verdict, "score": verdict.score, "kind": verdict.kind,
                    "vendor": verdict.vendor, "final": False,
                    "reasons": [{"rule": f.rule, "detail": f.detail} for f in verdict.reasons]})
        return out

    def enqueue(self, store: SqlStore, now: float | None = None) -> int:
        now = time.time() if now is None else now
        settled_before = now - self.settings.hook_settle_seconds
        queued = 0
        for hook in list_hooks(store):
            while True:
                rows = store.rows(sql.EventAfter, sql.EVENTS_AFTER, (hook.cursor, 500))
                settled = []
                for row in rows:
                    if row.received_at > settled_before:
                        break
                    settled.append(row)
                if not settled:
                    break
                events = []
                for row in settled:
                    raw = json.loads(row.data)
                    # A "click" is a click on the content; preference-page visits and
                    # honeypot fetches are not what automations mean by it.
                    if raw.get("type") == EventType.CLICK \
                            and raw.get("link_kind") not in (None, LinkKind.CONTENT):
                        continue
                    if raw.get("type") in hook.events:
                        raw.setdefault("campaign_id", row.campaign_id)
                        raw.setdefault("recipient", row.recipient)
                        events.append(event_from_dict(raw))
                verdicts = self._verdicts(store, events) if events else {}
                with store.transaction():
                    for event in events:
                        verdict = verdicts.get(event.id)
                        if hook.humans_only and event.type != EventType.CONVERSION and \
                                not self.settings.audit_mode and (
                                    verdict is None or machine_for_action(
                                        verdict["verdict"], verdict["score"],
                                        self.settings.webhook_machine_score)):
                            continue
                        body = json.dumps(payload(event, verdict), sort_keys=True)
                        queued += store.change(sql.QUEUE, (hook.id, event.id, body, now, now))
                    last = settled[-1].seq
                    store.change(sql.MOVE_CURSOR, (last, hook.id, last))
                hook = replace(hook, cursor=last)
                if len(settled) < len(rows) or len(rows) < 500:
                    break
        return queued

    # -- deliver ------------------------------------------------------------------------------

    def _wait(self, attempts: int) -> float:
        return float(min(MAX_WAIT, self.settings.hook_retry_seconds * 3.0 ** (attempts - 1)))

    def deliver(self, store: SqlStore, now: float | None = None) -> Counter[str]:
        now = time.time() if now is None else now
        outcome: Counter[str] = Counter()
        for seq, body, attempts, url, secret, event_id in store.rows(sql.Due, sql.DUE, (now,)):
            with store.transaction():          # claim it: another worker skips it
                claimed = store.change(sql.CLAIM, (now + 60, seq, now))
            if not claimed:
                continue
            data = body.encode("utf-8")
            error = None
            try:
                response = self.client.post(url, content=data, headers={
                    "content-type": "application/json",
                    SIGNATURE_HEADER: sign(secret, data, int(time.time())),
                    "clicksift-event-id": event_id, "clicksift-delivery": str(seq)})
                if not 200 <= response.status_code < 300:
                    error = f"HTTP {response.status_code}"
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__}: {exc}"[:300]
            attempts += 1
            with store.transaction():
                if error is None:
                    store.change(sql.DELIVERED, (attempts, time.time(), seq))
                    outcome["delivered"] += 1
                elif attempts >= self.settings.hook_max_attempts:
                    store.change(sql.FAILED, (attempts, error, seq))
                    outcome["failed"] += 1
                    log.warning("webhook delivery %s to %s failed for good: %s", seq, url,
                                error)
                else:
                    store.change(sql.RETRY_LATER,
                                 (attempts, error, now + self._wait(attempts), seq))
                    outcome["retrying"] += 1
        return outcome

    def run_once(self, now: float | None = None) -> dict[str, int]:
        store = self.open_store()
        try:
            queued = self.enqueue(store, now)
            outcome = self.deliver(store, now)
        finally:
            store.close()
        return {"queued": queued, **outcome}

    # -- background ---------------------------------------------------------------------------

    def start(self) -> None:
        if self.settings.hook_poll_seconds <= 0:
            return
        self._thread = threading.Thread(target=self._run, name="clicksift-hooks", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=15)

    def _run(self) -> None:
        while not self._stop.wait(self.settings.hook_poll_seconds):
            try:
                self.run_once()
            except ClicksiftError as exc:
                log.warning("outbound webhooks: a round failed (%s); trying again", exc)
            except Exception:
                log.exception("outbound webhooks: a round failed; trying again")
