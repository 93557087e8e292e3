"""The classifier's words: verdicts, kinds of machine, findings."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Final, NamedTuple

import orjson


class Label(StrEnum):
    HUMAN = "human"
    NHI = "nhi"


class Kind:
    """The kinds of machine (plain strings, not an enum: findings carry millions of them
    and spill files and JSON take plain strings as they are)."""

    SECURITY_SCANNER: Final = "security_scanner"
    PRIVACY_PREFETCH: Final = "privacy_prefetch"
    IMAGE_PREFETCH: Final = "image_prefetch"
    LINK_PREVIEW: Final = "link_preview"
    GENERIC_BOT: Final = "generic_bot"
    UNKNOWN_AUTOMATION: Final = "unknown_automation"


#: Every kind, in the order reports list them.
KINDS = (Kind.SECURITY_SCANNER, Kind.PRIVACY_PREFETCH, Kind.IMAGE_PREFETCH, Kind.LINK_PREVIEW,
         Kind.GENERIC_BOT, Kind.UNKNOWN_AUTOMATION)


class Finding(NamedTuple):
    """One piece of evidence: a rule that fired for an event (a named tuple: millions are
    made in a batch).

    Signals report WEIGHT as a scale of the rule's configured weight (1.0 for full
    strength); the engine turns it into log-odds (positive: machine, negative: person).
    KIND and VENDOR say what kind of machine the evidence suggests, when it says that much.
    A DECISIVE finding settles the verdict on its own (a honeypot fetch, a one-click POST).
    """

    rule: str
    weight: float
    detail: str
    kind: str | None = None
    vendor: str | None = None
    decisive: bool = False
    evidence: str | None = None   # how a context rule fired (for other rules to weigh it)


def finding(rule: str, weight: float, detail: str, kind: str | None = None,
            vendor: str | None = None, decisive: bool = False,
            evidence: str | None = None) -> Finding:
    """A :class:`Finding`, made the quick way (signals make millions of them: this function
    is compiled, a named tuple's own constructor is not)."""
    return tuple.__new__(Finding, (rule, weight, detail, kind, vendor, decisive, evidence))


class Verdict(NamedTuple):
    id: str
    verdict: str
    score: float
    kind: str | None
    vendor: str | None
    reasons: tuple[Finding, ...]
    final: bool = True

    def json_line(self) -> str:
        """The verdict line of docs/events.md, with its newline."""
        return orjson.dumps(self.to_json()).decode("utf-8") + "\n"

    def to_json(self) -> dict[str, Any]:
        """The verdict line of docs/events.md."""
        return {"id": self.id, "verdict": self.verdict, "score": self.score,
                "kind": self.kind, "vendor": self.vendor,
                "reasons": [{"rule": f.rule, "detail": f.detail} for f in self.reasons]}
