"""What the ESP adapters could not read: records kept whole as ``unknown`` events (with
their ``parse_error``) and fields left out of events (their ``parse_notes``), counted per
ESP and per problem with a few examples, for ``clicksift ingest problems``."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from clicksift.errors import InputError
from clicksift.events import EventType
from clicksift.storage import SqlStore
from clicksift.storage.queries import ingest as sql

#: "record 3: " at the start of a note (which record of the body it was).
_RECORD = re.compile(r"^record \d+: ")
#: The problem a note names: its field, or for a whole record, its reason without values.
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"|\b\d+(\.\d+)?\b")
EXAMPLES = 3


@dataclass
class Problem:
    esp: str
    kind: str                  # "unread record" (an unknown event) or "field left out"
    what: str                  # the field, or the reason a record could not be read
    count: int = 0
    examples: list[dict[str, str]] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        return {"esp": self.esp, "kind": self.kind, "what": self.what, "count": self.count,
                "examples": self.examples}


def _subject(note: str) -> str:
    """What a note is about: its field ('ip', 'timestamp'), whatever the record and value."""
    text = _RECORD.sub("", note)
    name, colon, _ = text.partition(":")
    return name.strip() if colon and " " not in name.strip() else _QUOTED.sub("…", text)


def problems(store: SqlStore, esp: str | None = None, *, limit: int = 100_000
             ) -> list[Problem]:
    """Problems of the newest LIMIT events with notes (of ESP, or of every ESP), the most
    frequent first."""
    notes = store.json_field("data", "parse_notes")
    statement = sql.NOTED_EVENTS.format(notes=notes, esp=sql.OF_ESP if esp else "")
    found: dict[tuple[str, str, str], Problem] = {}
    for source, kind, event_id, message_id, data in store.rows(
            sql.NotedEvent, statement, ((esp,) if esp else ()) + (limit,)):
        raw = json.loads(data)
        error = raw.get("parse_error")
        if kind == EventType.UNKNOWN and isinstance(error, dict):
            reason = str(error.get("reason") or "unreadable")
            subject = f"{error['field']}: " if error.get("field") else ""
            entries = [("unread record", subject + _QUOTED.sub("…", reason),
                        f"record {error.get('record')}: {subject}{reason}")]
        else:
            entries = [("field left out", _subject(note), note)
                       for note in raw.get("parse_notes") or [] if isinstance(note, str)]
        for problem_kind, what, text in entries:
            key = (source or "?", problem_kind, what)
            problem = found.setdefault(key, Problem(*key))
            problem.count += 1
            if len(problem.examples) < EXAMPLES:
                problem.examples.append({"event": event_id, "message": message_id,
                                         "note": text})
    return sorted(found.values(), key=lambda p: (-p.count, p.esp, p.kind, p.what))


def esp_filter(value: str | None) -> str | None:
    """An ESP filter as a person typed it: empty means every ESP; an unknown name is an
    InputError naming the known ones."""
    from clicksift.ingest import ADAPTERS

    name = (value or "").strip().lower()
    if not name:
        return None
    if name not in ADAPTERS:
        raise InputError(f"no ESP is called {value!r}; one of {', '.join(sorted(ADAPTERS))}",
                         field="esp")
    return name
