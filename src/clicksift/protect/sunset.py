"""Sunsetting on human engagement: who has not opened, clicked or bought as a person.

Raw engagement keeps almost everyone: Apple's proxy opens every message and gateways click
every link, so a list built on raw opens and clicks sunsets only the few whom no machine
touched. The human list counts only events judged human (a person's open or click) and
conversions; events not judged yet count as engagement, so nobody is sunset for lack of a
verdict.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass

from clicksift.events import EventType
from clicksift.protect.confidence import machine_for_action
from clicksift.storage import SqlStore
from clicksift.storage.queries import sunset as sql


@dataclass
class Row:
    recipient: str
    sends: int = 0
    raw_opens: int = 0
    raw_clicks: int = 0
    human_opens: int = 0
    human_clicks: int = 0
    conversions: int = 0
    last_human: float | None = None

    @property
    def human_engaged(self) -> bool:
        return bool(self.human_opens or self.human_clicks or self.conversions)

    @property
    def raw_engaged(self) -> bool:
        return bool(self.raw_opens or self.raw_clicks or self.conversions)


@dataclass
class Sunset:
    rule: str
    considered: int
    human: list[Row]           # no human engagement: the sunset list
    raw: list[Row]             # no raw engagement: what raw numbers would sunset
    machine_only: int          # on the human list but engaged by raw numbers


def _window(store: SqlStore, days: int | None, sends: int | None, now: float
            ) -> dict[str, str]:
    """Message id -> recipient for the messages in each recipient's window."""
    per_recipient: dict[str, list[tuple[float, str]]] = defaultdict(list)
    for message_id, recipient, sent_at in store.rows(sql.MessageRow, sql.MESSAGES):
        per_recipient[recipient.lower()].append((sent_at or 0.0, message_id))
    excluded = set(store.column(sql.NOT_MAILED))
    window: dict[str, str] = {}
    for recipient, messages in per_recipient.items():
        if recipient in excluded:
            continue
        messages.sort(reverse=True)
        if days is not None:
            chosen = [m for at, m in messages if at >= now - days * 86400]
        else:
            assert sends is not None
            chosen = [m for _, m in messages[:sends]] if len(messages) >= sends else []
        for message_id in chosen:
            window[message_id] = recipient
    return window


def sunset_list(store: SqlStore, *, days: int | None = None, sends: int | None = None,
                now: float | None = None, audit: bool = False,
                machine_score: float = 0.9) -> Sunset:
    """AUDIT (the audit_mode setting): verdicts change nothing, every event counts; an
    event judged non-human counts as a person's unless its score reaches MACHINE_SCORE (the
    sunset_machine_score setting)."""
    now = time.time() if now is None else now
    window = _window(store, days, sends, now)
    rows: dict[str, Row] = {}
    for recipient in window.values():
        rows.setdefault(recipient, Row(recipient)).sends += 1
    ids = list(window)
    since = now - days * 86400 if days is not None else 0.0
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        marks = ", ".join("?" for _ in chunk)
        found = store.rows(sql.Engagement, sql.ENGAGEMENT.format(marks=marks),
                           (*chunk, since))
        for message_id, kind, ts, verdict, score in found:
            row = rows[window[message_id]]
            # human, not judged yet, or not sure enough to stop mailing a person for it
            person = audit or not machine_for_action(verdict, score, machine_score)
            if kind == EventType.CONVERSION:
                row.conversions += 1
            elif kind == EventType.OPEN:
                row.raw_opens += 1
                row.human_opens += person
            else:
                row.raw_clicks += 1
                row.human_clicks += person
            if person:
                row.last_human = max(row.last_human or 0.0, ts)
    human = sorted((r for r in rows.values() if not r.human_engaged),
                   key=lambda r: (-r.sends, r.recipient))
    raw = [r for r in human if not r.raw_engaged]
    rule = f"last {days} days" if days is not None else f"last {sends} sends"
    return Sunset(rule, len(rows), human, raw, len(human) - len(raw))
