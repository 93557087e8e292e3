"""A prepared message's RFC 8058 readiness and its plain-http links."""

from __future__ import annotations

import re
from email.message import Message

from clicksift import markup
from clicksift.doctor.findings import Finding, fail, ok, warn

CHECK = "list_unsubscribe"
TRACKING = "tracking_host"
ONE_CLICK = "List-Unsubscribe=One-Click"
_URI = re.compile(r"<([^>]*)>")
_WHY = ("Gmail and Yahoo require one-click unsubscribe (RFC 8058) of bulk senders. A "
        "scanner that follows an unsubscribe link cannot unsubscribe anyone through the "
        "POST, so people stay subscribed whatever gateways fetch.")


def check_list_unsubscribe(message: Message) -> list[Finding]:
    header = message.get("List-Unsubscribe")
    if header is None:
        return [fail(CHECK, "the message has no List-Unsubscribe header",
                     "Prepare it with clicksift (it adds List-Unsubscribe and "
                     "List-Unsubscribe-Post), or turn on your ESP's one-click unsubscribe.",
                     _WHY)]
    uris = [uri.strip() for uri in _URI.findall(str(header))]
    findings = []
    https = [u for u in uris if u.lower().startswith("https://")]
    if https:
        findings.append(ok(CHECK, f"List-Unsubscribe has an https URI ({https[0][:60]})"))
    elif any(u.lower().startswith("http://") for u in uris):
        findings.append(fail(CHECK, "List-Unsubscribe's web address is plain http",
                             "Use an https unsubscribe URI (RFC 8058 requires it for "
                             "one-click).", _WHY))
    else:
        findings.append(fail(CHECK, "List-Unsubscribe has no https URI",
                             "Add an https unsubscribe URI in angle brackets.", _WHY))
    if any(u.lower().startswith("mailto:") for u in uris):
        findings.append(ok(CHECK, "List-Unsubscribe has a mailto alternative"))
    else:
        findings.append(warn(CHECK, "List-Unsubscribe has no mailto alternative",
                             "Add <mailto:unsubscribe@your-domain> (the unsubscribe_mailto "
                             "setting) for mail programs that do not POST."))
    post = str(message.get("List-Unsubscribe-Post", "")).strip()
    if post != ONE_CLICK:
        findings.append(fail(CHECK, "List-Unsubscribe-Post is " + (
                             f"{post!r}" if post else "missing"),
                             f"Add 'List-Unsubscribe-Post: {ONE_CLICK}'.", _WHY))
    else:
        findings.append(ok(CHECK, "List-Unsubscribe-Post announces one-click unsubscribe"))
    return findings


def plain_http_links(message: Message) -> list[str]:
    """The http:// (not https) link targets in the message's HTML parts."""
    found: list[str] = []
    for part in message.walk():
        if part.get_content_type() != "text/html":
            continue
        payload = part.get_payload(decode=True)
        if not isinstance(payload, bytes):
            continue
        document = payload.decode(part.get_content_charset() or "utf-8", "replace")
        tags, _ = markup.find_links(document)
        for tag in tags:
            href = tag.href
            if href is not None and href.value.strip().lower().startswith("http://"):
                found.append(href.value.strip())
    return list(dict.fromkeys(found))


def check_links(message: Message) -> list[Finding]:
    links = plain_http_links(message)
    if not links:
        return []
    shown = ", ".join(links[:3]) + (f" and {len(links) - 3} more" if len(links) > 3 else "")
    return [warn(TRACKING, f"{len(links)} link(s) in the message are plain http: {shown}",
                 "Use https links (clicksift prepare signs https tracking links when "
                 "base_url is https).",
                 "Gateways treat plain-http links as riskier and rewrite or detonate them; "
                 "some mail programs warn people before opening them.")]
