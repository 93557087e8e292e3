"""SPF (RFC 7208): one record, valid terms, at most ten DNS lookups, and how it ends."""

from __future__ import annotations

import ipaddress
import re

from clicksift.doctor.findings import Finding, fail, ok, warn
from clicksift.lookup.resolver import LookupFailed, Resolver

CHECK = "spf"
LOOKUP_LIMIT = 10                      # RFC 7208 section 4.6.4
_LOOKUP_MECHANISMS = frozenset({"include", "a", "mx", "ptr", "exists"})
_MECHANISM = re.compile(r"^([+\-~?]?)(all|include|a|mx|ptr|ip4|ip6|exists)(?:([:/])(.*))?$",
                        re.IGNORECASE)
_MODIFIER = re.compile(r"^([a-z][a-z0-9_.\-]*)=(.*)$", re.IGNORECASE)
_DOMAIN_SPEC = re.compile(r"^(?:[a-z0-9_\-]+\.)*[a-z0-9_\-]+\.?$|.*%\{", re.IGNORECASE)
_WHY = ("Receivers check SPF to decide whether mail really comes from you; without a pass, "
        "more of it lands in spam or is quarantined, where security gateways scan (and "
        "'click') every link before anyone reads it.")


def is_spf(text: str) -> bool:
    return text.lower() == "v=spf1" or text.lower().startswith("v=spf1 ")


def syntax_errors(record: str) -> list[str]:
    """The terms of RECORD that are not valid SPF (empty when it parses)."""
    errors = []
    for term in record.split()[1:]:
        mechanism = _MECHANISM.match(term)
        if mechanism:
            error = _mechanism_error(mechanism.group(2).lower(), mechanism.group(3),
                                     mechanism.group(4))
            if error:
                errors.append(f"{term!r}: {error}")
        elif not _MODIFIER.match(term):
            errors.append(f"{term!r} is neither a mechanism nor a modifier")
    return errors


def _mechanism_error(name: str, separator: str | None, value: str | None) -> str | None:
    if name == "all":
        return "'all' takes no value" if separator else None
    if name in ("ip4", "ip6"):
        if separator != ":" or not value:
            return f"{name} needs an address"
        try:
            network = ipaddress.ip_network(value, strict=False)
        except ValueError:
            return f"{value!r} is not an IP{name[-1]} address or network"
        if network.version != int(name[-1]):
            return f"{value!r} is not an IPv{name[-1]} address"
        return None
    if name in ("include", "exists") and (separator != ":" or not value):
        return f"{name} needs a domain"
    if separator == ":" and value:
        spec = value.split("/", 1)[0]
        if not _DOMAIN_SPEC.match(spec):
            return f"{spec!r} is not a domain"
    return None


def _record(domain: str, resolver: Resolver) -> list[str]:
    return [text for text in resolver.txt(domain) if is_spf(text)]


def count_lookups(record: str, resolver: Resolver, problems: list[str],
                  seen: set[str] | None = None, depth: int = 0) -> int:
    """The DNS lookups evaluating RECORD costs, includes and redirects followed."""
    seen = set() if seen is None else seen
    count = 0
    for term in record.split()[1:]:
        mechanism = _MECHANISM.match(term)
        modifier = None if mechanism else _MODIFIER.match(term)
        if mechanism and mechanism.group(2).lower() in _LOOKUP_MECHANISMS:
            count += 1
            if mechanism.group(2).lower() == "include" and mechanism.group(4):
                count += _follow(mechanism.group(4), resolver, problems, seen, depth, "include")
        elif modifier and modifier.group(1).lower() == "redirect":
            count += 1 + _follow(modifier.group(2), resolver, problems, seen, depth, "redirect")
    return count


def _follow(target: str, resolver: Resolver, problems: list[str], seen: set[str], depth: int,
            how: str) -> int:
    target = target.lower().rstrip(".")
    if "%{" in target or target in seen or depth >= LOOKUP_LIMIT:
        return 0
    seen.add(target)
    records = _record(target, resolver)
    if len(records) != 1:
        problems.append(f"{how}:{target} has {'no' if not records else len(records)} SPF "
                        "record" + ("s" if records else ""))
        return 0
    return count_lookups(records[0], resolver, problems, seen, depth + 1)


def check_spf(domain: str, resolver: Resolver) -> list[Finding]:
    try:
        records = _record(domain, resolver)
    except LookupFailed as exc:
        return [fail(CHECK, f"SPF could not be looked up: {exc}",
                     "Make sure the domain's name servers answer TXT queries.", _WHY)]
    if not records:
        return [fail(CHECK, f"{domain} publishes no SPF record",
                     f"Publish one TXT record at {domain}: 'v=spf1 include:<your ESP's "
                     "SPF domain> -all' (your ESP's set-up guide names it).", _WHY)]
    if len(records) > 1:
        return [fail(CHECK, f"{domain} publishes {len(records)} SPF records; receivers "
                     "treat that as a permanent error (RFC 7208 4.5)",
                     "Merge them into one TXT record starting 'v=spf1'.", _WHY)]
    record = records[0]
    errors = syntax_errors(record)
    if errors:
        return [fail(CHECK, f"the SPF record does not parse: {errors[0]}",
                     "Correct the term; see RFC 7208 section 5 for each mechanism's form.",
                     _WHY)]
    findings = []
    problems: list[str] = []
    try:
        lookups = count_lookups(record, resolver, problems, {domain.lower()})
    except LookupFailed as exc:
        return [fail(CHECK, f"an SPF include could not be looked up: {exc}",
                     "Check that every included domain's name servers answer.", _WHY)]
    for problem in problems:
        findings.append(fail(CHECK, f"SPF {problem}: receivers stop with a permanent error",
                             "Remove or correct that include.", _WHY))
    if lookups > LOOKUP_LIMIT:
        findings.append(fail(
            CHECK, f"SPF needs {lookups} DNS lookups; receivers stop at {LOOKUP_LIMIT} and "
            "fail it (RFC 7208 4.6.4)",
            "Remove includes of services you no longer send through, or replace includes "
            "with the ip4:/ip6: ranges they publish.", _WHY))
    findings.extend(_ending(record))
    if any(term.lower().lstrip("+-~?") .startswith("ptr") for term in record.split()[1:]):
        findings.append(warn(CHECK, "SPF uses 'ptr', which RFC 7208 asks senders not to use",
                             "Replace ptr with the ip4:/ip6: ranges or include it stands for."))
    if not findings or all(f.status == "ok" for f in findings):
        findings.insert(0, ok(CHECK, f"one valid SPF record, {lookups} of {LOOKUP_LIMIT} "
                                     f"DNS lookups: {record}"))
    return findings


def _ending(record: str) -> list[Finding]:
    terms = record.split()[1:]
    ending = next((t for t in terms if t.lower().lstrip("+-~?") == "all"), None)
    if ending is None:
        if any(t.lower().startswith("redirect=") for t in terms):
            return []
        return [warn(CHECK, "SPF does not end in '-all' or '~all': mail from anywhere is "
                     "'neutral'", "End the record with ' -all' (or '~all' while testing).",
                     _WHY)]
    qualifier = ending[0] if ending[0] in "+-~?" else "+"
    if qualifier == "+":
        return [fail(CHECK, f"SPF ends in '{ending}': every server on the internet may send "
                     "as you", "Replace it with '-all'.", _WHY)]
    if qualifier == "?":
        return [warn(CHECK, "SPF ends in '?all' (neutral): it protects nothing",
                     "Replace it with '-all' (or '~all').", _WHY)]
    return []
