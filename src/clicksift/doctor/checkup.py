"""Run every check the doctor knows on one sending domain (and optionally a message)."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Sequence
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path

from clicksift.classify.gateways import GatewayTable, load_gateways
from clicksift.doctor import dkim, dmarc, message, spf, tracking
from clicksift.doctor.findings import Finding, Report, Status, ok, warn
from clicksift.errors import InputError
from clicksift.lookup.resolver import LookupFailed, Resolver

MX = "mx"


@dataclass(frozen=True)
class Checkup:
    domain: str
    tracking_host: str | None = None
    selectors: Sequence[str] = ()
    message_path: Path | None = None
    ca_file: str | None = None
    timeout: float = 5.0
    gateways: GatewayTable = field(default_factory=load_gateways)


def read_message(path: Path) -> tuple[bytes, Message]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(exc.strerror or str(exc), source=str(path)) from None
    parsed = email.message_from_bytes(raw, policy=email.policy.compat32)
    if not parsed.keys():
        raise InputError("not an email message (no headers)", source=str(path))
    return raw, parsed


def check_mx(domain: str, resolver: Resolver, gateways: GatewayTable) -> list[Finding]:
    try:
        hosts, _ = resolver.mx(domain)
    except LookupFailed as exc:
        return [warn(MX, f"MX could not be looked up: {exc}", "Make sure the name servers "
                     "answer.")]
    names = [host for _, host in hosts]
    if not names:
        return [warn(MX, f"{domain} has no MX record: replies and bounces to it go nowhere",
                     f"Publish MX records for {domain} (where replies should go).",
                     "Receivers trust domains that can take mail back; DMARC reports and "
                     "replies need somewhere to go.")]
    if names in (["."], [""]):
        return [warn(MX, f"{domain} publishes a null MX (RFC 7505): it takes no mail",
                     "Send from a domain that takes replies, or publish real MX records.")]
    entry = gateways.match(names)
    behind = f" ({entry.name})" if entry is not None else ""
    return [ok(MX, f"MX: {', '.join(names[:3])}{behind}")]


def examine(checkup: Checkup, resolver: Resolver) -> Report:
    domain = checkup.domain.lower().rstrip(".")
    try:
        resolver.txt(domain)            # a resolver that does not answer stops here, once
    except LookupFailed as exc:
        raise LookupFailed(f"cannot ask DNS about {domain}: {exc}") from None
    report = Report(domain)
    report.findings.extend(spf.check_spf(domain, resolver))
    report.findings.extend(dkim.check_keys(domain, checkup.selectors, resolver))
    dmarc_findings, dmarc_tags = dmarc.check_dmarc(domain, resolver)
    report.findings.extend(dmarc_findings)
    report.findings.extend(check_mx(domain, resolver, checkup.gateways))
    if checkup.tracking_host:
        report.findings.extend(tracking.check_tracking_host(
            checkup.tracking_host, domain, resolver, ca_file=checkup.ca_file,
            timeout=checkup.timeout))
    if checkup.message_path is not None:
        raw, parsed = read_message(checkup.message_path)
        signatures = dkim.check_message(raw, parsed, domain, resolver)
        report.findings.extend(signatures)
        if dmarc_tags:
            valid = any(f.status is Status.OK for f in signatures)
            report.findings.extend(dmarc.check_alignment(
                parsed, dmarc_tags, dkim.signing_domains(parsed), valid))
        report.findings.extend(message.check_list_unsubscribe(parsed))
        report.findings.extend(message.check_links(parsed))
    return report
