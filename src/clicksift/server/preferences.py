"""The unsubscribe link: RFC 8058 one-click POSTs and the preference center.

- A GET never changes anything: it shows the recipient's preference center (the signed
  link is the credential; no login, no cookies, no JavaScript).
- ``List-Unsubscribe=One-Click`` POSTed to the link (the mailbox provider acting for the
  person, RFC 8058) unsubscribes at once and answers 200.
- Any other POST is judged with its message's context before it takes effect: a person's
  POST applies; a POST judged non-human changes nothing, lands in the review queue, and the
  page asks for a second, deliberate confirmation (itself judged the same way).

Every request is stored as an event before it is answered, and every attempt is logged.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.concurrency import run_in_threadpool
from starlette.responses import HTMLResponse, PlainTextResponse, Response

from clicksift.classify.engine import Engine
from clicksift.errors import InputError, StorageError
from clicksift.events import Event
from clicksift.protect import subscriptions as subs
from clicksift.protect.confidence import machine_for_action
from clicksift.protect.judge import judge_in_context, judgement
from clicksift.settings import Settings, topic_table

#: What became of a change for a message that is not ours.
UNKNOWN_MESSAGE = "unknown"
NO_STORE = {"cache-control": "no-store"}
FREQUENCY_LABELS = (("all", "Everything we send"), ("weekly", "At most once a week"),
                    ("monthly", "At most once a month"))

_templates = Environment(loader=PackageLoader("clicksift", "web/templates"),
                         autoescape=select_autoescape(["html"]))


class PreferenceCenter:
    def __init__(self, settings: Settings, store_scope: Callable[[], Any]) -> None:
        self.settings = settings
        self.store_scope = store_scope
        self.engine: Engine | None = None
        self.topics = topic_table(settings)
        self.sender = settings.sender_name or urlsplit(settings.base_url).hostname or ""

    def start(self, engine: Engine) -> None:
        self.engine = engine

    # -- pages --------------------------------------------------------------------------------

    def _page(self, view: str, action: str, state: subs.State | None, *, status: int = 200,
              notice: str = "", error: bool = False, request: str = "",
              fields: list[tuple[str, str]] | None = None) -> HTMLResponse:
        titles = {"confirm": "One more step", "unsubscribed": "You are unsubscribed",
                  "preferences": "Your email preferences",
                  "unknown": "Unknown link" if status != 503 else "Please try again"}
        paused = None
        if state and state.paused_until and state.paused_until > time.time():
            paused = datetime.fromtimestamp(state.paused_until, UTC).strftime("%d %B %Y")
        body = _templates.get_template("preferences/page.html").render(
            title=titles[view], view=view, action=action, sender=self.sender,
            color=self.settings.brand_color, recipient=state.recipient if state else None,
            topics=[{"id": t, "label": label,
                     "subscribed": (state.topics.get(t) if state else "subscribed")
                     == subs.SUBSCRIBED} for t, label in self.topics],
            frequencies=FREQUENCY_LABELS, frequency=state.frequency if state else "all",
            pauses=subs.PAUSES, paused_until=paused, notice=notice, error=error,
            request=request, fields=fields or [])
        return HTMLResponse(body, status_code=status, headers=NO_STORE)

    def _state(self, message_id: str) -> subs.State | None:
        with self.store_scope() as store:
            message = store.get_message(message_id)
            if message is None or not message.recipient:
                return None
            return subs.get_state(store, message.recipient, [t for t, _ in self.topics])

    def _unavailable(self, action: str) -> HTMLResponse:
        return self._page("unknown", action, None, status=503, error=True,
                          notice="We could not reach your preferences just now. Nothing was "
                                 "changed; please try again in a minute.")

    async def show(self, message_id: str, action: str) -> Response:
        try:
            state = await run_in_threadpool(self._state, message_id)
        except StorageError:
            return self._unavailable(action)
        if state is None:
            return self._page("unknown", action, None, status=404,
                              notice="This link does not belong to a message we sent.",
                              error=True)
        view = "unsubscribed" if state.overall == subs.UNSUBSCRIBED else "preferences"
        return self._page(view, action, state)

    # -- changes ------------------------------------------------------------------------------

    def change_for(self, form: dict[str, str]) -> subs.Change:
        return subs.Change.from_form(form, [t for t, _ in self.topics])

    def _decide(self, event: Event, change: subs.Change, one_click: bool
                ) -> tuple[str, subs.State | None]:
        """Apply CHANGE, or hold it; returns what became of it (applied, held, or unknown:
        no such message) and the recipient's state."""
        assert self.engine is not None
        with self.store_scope() as store:
            message = store.get_message(event.message_id)
            if message is None or not message.recipient:
                return UNKNOWN_MESSAGE, None
            verdict = judge_in_context(store, self.engine, event)
            # In audit mode verdicts are computed and logged but change nothing.
            human = self.settings.audit_mode or not machine_for_action(
                verdict.verdict, verdict.score, self.settings.hold_unsubscribe_score)
            attempt = subs.Attempt("one-click" if one_click else "recipient", event.id,
                                   verdict.verdict, verdict.score,
                                   "RFC 8058 one-click POST" if one_click else None)
            before = subs.get_state(store, message.recipient, [t for t, _ in self.topics])
            with store.transaction():
                # A change that changes nothing needs no protection (a scanner submitting
                # the form as it stands): it is logged and "saved".
                if one_click or human or not change.changes_anything(before):
                    subs.apply(store, message.recipient, change, attempt)
                    if change.unsubscribes:
                        subs.confirm_held(store, message.recipient)
                    outcome = subs.ReviewStatus.APPLIED
                else:
                    subs.hold(store, message.recipient, event.message_id, change, attempt,
                              judgement(verdict))
                    outcome = subs.ReviewStatus.HELD
            return outcome, subs.get_state(store, message.recipient,
                                           [t for t, _ in self.topics])

    async def submit(self, event: Event, change: subs.Change, form: dict[str, str],
                     action: str, one_click: bool) -> Response:
        try:
            outcome, state = await run_in_threadpool(self._decide, event, change, one_click)
        except StorageError:
            if one_click:
                return PlainTextResponse("try again later\n", status_code=503,
                                         headers={**NO_STORE, "retry-after": "60"})
            return self._unavailable(action)
        if one_click:
            applied = outcome == subs.ReviewStatus.APPLIED
            return PlainTextResponse("unsubscribed\n" if applied else "unknown message\n",
                                     status_code=200 if applied else 404,
                                     headers=NO_STORE)
        if outcome == UNKNOWN_MESSAGE:
            return self._page("unknown", action, None, status=404,
                              notice="This link does not belong to a message we sent.",
                              error=True)
        if outcome == subs.ReviewStatus.HELD:
            fields = [(k, v) for k, v in form.items() if k != "confirm"]
            return self._page("confirm", action, state,
                              request=change.describe(dict(self.topics)), fields=fields)
        assert state is not None
        if state.overall == subs.UNSUBSCRIBED:
            return self._page("unsubscribed", action, state)
        notice = ("Welcome back: you are subscribed again." if change.resubscribe
                  else "Your preferences are saved.")
        return self._page("preferences", action, state, notice=notice)

    def bad_form(self, action: str, error: InputError) -> Response:
        return self._page("unknown", action, None, status=400, error=True,
                          notice=f"The form could not be read: {error}")
