"""DMARC (RFC 7489): the policy record, reporting addresses, and whether the SPF and DKIM
domains of a message align with its From domain."""

from __future__ import annotations

import functools
from email.message import Message
from email.utils import parseaddr

from publicsuffixlist import PublicSuffixList

from clicksift.doctor.findings import Finding, fail, ok, warn
from clicksift.lookup.resolver import LookupFailed, Resolver

CHECK = "dmarc"
_WHY = ("Gmail and Yahoo require a DMARC record of bulk senders since 2024; without an "
        "enforced policy anyone can send as you, and receivers (and their gateways) trust "
        "your mail less.")


@functools.cache
def _suffixes() -> PublicSuffixList:
    return PublicSuffixList()         # the list bundled with the package: no network


def organizational_domain(domain: str) -> str:
    """DOMAIN's registered domain (RFC 7489 3.2): 'mail.example.co.uk' -> 'example.co.uk'."""
    return _suffixes().privatesuffix(domain.lower().rstrip(".")) or domain.lower()


def aligned(one: str, other: str, strict: bool) -> bool:
    one, other = one.lower().rstrip("."), other.lower().rstrip(".")
    if strict:
        return one == other
    return organizational_domain(one) == organizational_domain(other)


def _tags(text: str) -> dict[str, str]:
    tags = {}
    for part in text.split(";"):
        name, sep, value = part.partition("=")
        if sep:
            tags[name.strip().lower()] = value.strip()
    return tags


def policy_record(domain: str, resolver: Resolver) -> tuple[str, list[str]]:
    """(where the policy was found, its DMARC records): the domain's own, else its
    organizational domain's."""
    for where in dict.fromkeys([domain, organizational_domain(domain)]):
        records = [t for t in resolver.txt(f"_dmarc.{where}")
                   if t.replace(" ", "").upper().startswith("V=DMARC1")]
        if records:
            return where, records
    return domain, []


def check_dmarc(domain: str, resolver: Resolver) -> tuple[list[Finding], dict[str, str]]:
    """Findings on the policy, and its tags (empty when there is none)."""
    try:
        where, records = policy_record(domain, resolver)
    except LookupFailed as exc:
        return [fail(CHECK, f"DMARC could not be looked up: {exc}",
                     "Make sure the name servers answer.", _WHY)], {}
    if not records:
        return [fail(CHECK, f"no DMARC record at _dmarc.{domain}",
                     f"Publish TXT at _dmarc.{domain}: 'v=DMARC1; p=none; rua=mailto:"
                     f"dmarc@{domain}', then move to p=quarantine once reports are clean.",
                     _WHY)], {}
    if len(records) > 1:
        return [fail(CHECK, f"_dmarc.{where} has {len(records)} DMARC records; receivers "
                     "ignore them all", "Keep one.", _WHY)], {}
    tags = _tags(records[0])
    policy = (tags["sp"] if where != domain and "sp" in tags else tags.get("p", "")).lower()
    findings: list[Finding] = []
    if policy not in ("none", "quarantine", "reject"):
        return [fail(CHECK, f"the DMARC record at _dmarc.{where} has no valid p= tag "
                     f"({tags.get('p', 'missing')!r})", "Add p=none, p=quarantine or p=reject.",
                     _WHY)], tags
    if policy == "none":
        findings.append(warn(CHECK, f"DMARC policy is p=none at _dmarc.{where}: monitoring "
                             "only, nothing is protected",
                             "Once the reports show your mail passing, set p=quarantine "
                             "(then p=reject).", _WHY))
    else:
        findings.append(ok(CHECK, f"DMARC policy p={policy} at _dmarc.{where}"))
    if "rua" not in tags:
        findings.append(warn(CHECK, "DMARC asks for no aggregate reports (no rua=)",
                             f"Add rua=mailto:dmarc-reports@{domain} to see who sends as you "
                             "and whether your mail passes."))
    pct = tags.get("pct", "100")
    if pct != "100" and policy != "none":
        findings.append(warn(CHECK, f"DMARC applies its policy to {pct} % of failing mail",
                             "Raise pct to 100 (or remove it)."))
    return findings, tags


def check_alignment(message: Message, tags: dict[str, str], dkim_domains: list[str],
                    dkim_valid: bool) -> list[Finding]:
    """Whether the message's DKIM d= and Return-Path domains align with its From domain."""
    sender = parseaddr(str(message.get("From", "")))[1]
    if "@" not in sender:
        return [fail(CHECK, "the message has no From address to align with",
                     "Give the message a From header.", _WHY)]
    from_domain = sender.rsplit("@", 1)[1].lower()
    path = parseaddr(str(message.get("Return-Path", "")))[1]
    path_domain = path.rsplit("@", 1)[1].lower() if "@" in path else None
    dkim_ok = dkim_valid and any(aligned(d, from_domain, tags.get("adkim") == "s")
                                 for d in dkim_domains if d)
    spf_ok = path_domain is not None and aligned(path_domain, from_domain,
                                                  tags.get("aspf") == "s")
    if dkim_ok or spf_ok:
        how = " and ".join(n for n, good in (("DKIM", dkim_ok), ("SPF", spf_ok)) if good)
        return [ok(CHECK, f"the message aligns with From ({from_domain}) through {how}")]
    signers = ", ".join(d for d in dkim_domains if d) or "none"
    return [fail(CHECK, f"neither DKIM (d={signers}) nor the Return-Path "
                 f"({path_domain or 'absent'}) aligns with From ({from_domain}): DMARC fails",
                 f"Set up your ESP's branded sending (DKIM with d={from_domain} and a "
                 f"bounce domain under {from_domain}).", _WHY)]
