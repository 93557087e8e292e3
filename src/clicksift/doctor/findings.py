"""What the doctor reports: findings with a status, a meaning and a fix."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    OK = "ok"
    WARN = "warn"
    FAIL = "fail"


#: The checks, in the order they are reported (the JSON document's "check" values).
CHECKS = ("spf", "dkim", "dmarc", "mx", "tracking_host", "list_unsubscribe")


@dataclass(frozen=True, slots=True)
class Finding:
    check: str
    status: Status
    message: str
    fix: str = ""
    why: str = ""          # what it means for machine clicks and deliverability

    def as_dict(self) -> dict[str, str]:
        out = {"check": self.check, "status": self.status.value, "message": self.message,
               "fix": self.fix}
        if self.why:
            out["why"] = self.why
        return out


def ok(check: str, message: str) -> Finding:
    return Finding(check, Status.OK, message)


def warn(check: str, message: str, fix: str, why: str = "") -> Finding:
    return Finding(check, Status.WARN, message, fix, why)


def fail(check: str, message: str, fix: str, why: str = "") -> Finding:
    return Finding(check, Status.FAIL, message, fix, why)


@dataclass
class Report:
    domain: str
    findings: list[Finding] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return any(f.status is Status.FAIL for f in self.findings)

    def counts(self) -> dict[str, int]:
        return {status.value: sum(f.status is status for f in self.findings)
                for status in Status}

    def as_dict(self) -> dict[str, Any]:
        order = {check: index for index, check in enumerate(CHECKS)}
        findings = sorted(self.findings, key=lambda f: order.get(f.check, len(order)))
        return {"domain": self.domain, "findings": [f.as_dict() for f in findings]}
