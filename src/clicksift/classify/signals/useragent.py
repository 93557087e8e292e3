"""User-agent signals: the knowledge base, a crawler list, versions, and absence."""

from __future__ import annotations

import re

from clicksift.classify.agents import versions_behind
from clicksift.classify.observe import Observed
from clicksift.classify.vocabulary import Finding, Kind, finding

OUTDATED = 12          # majors behind (about a year on four-week trains)
VERY_OUTDATED = 40     # about three years
_OFFICE = re.compile(r"Microsoft Office|ms-office|MSOffice", re.IGNORECASE)

_BY_ROLE = {
    "scanner": ("ua.known-scanner", "the user agent '{ua}' is {vendor}'s scanner"),
    "preview": ("ua.link-preview", "the user agent '{ua}' is a link previewer"),
    "library": ("ua.http-library", "the user agent '{ua}' is an HTTP library, not a browser"),
    "automation": ("ua.headless-browser", "the user agent '{ua}' is an automated browser"),
}


def _short(user_agent: str) -> str:
    return user_agent if len(user_agent) <= 80 else user_agent[:77] + "..."


def findings(obs: Observed) -> list[Finding]:
    out: list[Finding] = []
    event, info = obs.event, obs.agent
    if event.user_agent is None:
        return out
    if event.user_agent == "":
        out.append(finding("ua.empty", 1.0, "the request had no User-Agent header",
                           Kind.UNKNOWN_AUTOMATION))
        return out
    assert info is not None
    ua = _short(event.user_agent)
    entry = info.entry
    if entry is None:
        out.extend(_unlisted(obs, ua))
        return out
    role = entry.role
    if role in _BY_ROLE:
        rule, text = _BY_ROLE[role]
        out.append(finding(rule, 1.0, text.format(ua=ua, vendor=entry.vendor or "a vendor"),
                           entry.kind, entry.vendor))
    elif role == "prefetch":
        if obs.is_open:
            out.append(finding("ua.bare-mozilla", 1.0,
                               "the user agent is the bare 'Mozilla/5.0' of Apple Mail "
                               "Privacy Protection", Kind.PRIVACY_PREFETCH, entry.vendor))
        else:
            out.append(finding("ua.bare-mozilla", 1.0,
                               "a link was followed with the bare user agent "
                               "'Mozilla/5.0', which no browser sends", Kind.UNKNOWN_AUTOMATION))
    elif role == "mail_client":
        if obs.is_open:
            out.append(finding("ua.mail-client", 1.0,
                               f"a mail program fetched the images ('{ua}')"))
        elif _OFFICE.search(event.user_agent):
            out.append(finding("ua.office-link-check", 1.0,
                               f"an Office application fetched the link "
                               f"itself ('{ua}'), as it does before handing it to a browser",
                               Kind.LINK_PREVIEW, "microsoft_office"))
    elif role == "image_proxy":
        if obs.is_open:
            out.append(finding("ua.image-proxy", 1.0, f"{entry.vendor or 'a webmail image proxy'} "
                               "fetched the pixel for the reader"))
        else:
            out.append(finding("ua.crawler", 1.0, f"an image proxy ('{ua}') followed a link",
                               Kind.GENERIC_BOT, entry.vendor))
    return out


def _unlisted(obs: Observed, ua: str) -> list[Finding]:
    """A user agent the knowledge base does not know: crawler lists and browser versions."""
    out: list[Finding] = []
    info = obs.agent
    assert info is not None
    if info.crawler:
        out.append(finding("ua.crawler", 1.0, f"the crawler list knows '{ua}' as a bot",
                           Kind.GENERIC_BOT))
    elif info.engine is not None:
        event = obs.event
        scale = 1.0 if obs.is_click else 0.5   # an old browser loading images is still a reader
        behind = versions_behind(info, event.ts)
        if behind is not None and behind >= VERY_OUTDATED:
            out.append(finding("ua.very-outdated-browser", scale, f"{info.family} {info.major} was "
                               "years out of date when this request came", Kind.SECURITY_SCANNER))
        elif behind is not None and behind >= OUTDATED:
            out.append(finding("ua.outdated-browser", scale,
                               f"{info.family} {info.major} was {behind} "
                               "releases behind when this request came", Kind.SECURITY_SCANNER))
    return out
