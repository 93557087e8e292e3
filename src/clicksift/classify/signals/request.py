"""Request-shape signals: HEAD, prefetch markers, and headers every browser sends."""

from __future__ import annotations

from clicksift.classify.observe import Observed
from clicksift.classify.vocabulary import Finding, Kind, finding

_PURPOSE_HEADERS = ("purpose", "sec-purpose", "x-purpose", "x-moz")
#: Every request header these signals read (batches spill no others).
READ_HEADERS = frozenset((*_PURPOSE_HEADERS, "sec-fetch-user", "accept-language", "accept"))


def findings(obs: Observed) -> list[Finding]:
    out: list[Finding] = []
    event = obs.event
    if event.method == "HEAD":
        out.append(finding("req.head", 1.0,
                           "the link was requested with HEAD", Kind.SECURITY_SCANNER))
    if "headers" not in event.raw:
        return out
    headers = event.headers
    for name in _PURPOSE_HEADERS:
        value = headers.get(name, "").lower()
        if "prefetch" in value or "preview" in value:
            kind = Kind.IMAGE_PREFETCH if obs.is_open else Kind.LINK_PREVIEW
            out.append(finding("req.prefetch", 1.0, f"the request says '{name}: {value}'", kind))
            break
    if headers.get("sec-fetch-user") == "?1":
        out.append(finding("req.user-activation", 1.0,
                           "the browser marked the navigation as started "
                           "by the user (Sec-Fetch-User: ?1)"))
    agent = obs.agent
    if agent is None or not agent.claims_browser:
        return out
    if obs.is_click and "accept-language" not in headers:
        out.append(finding("req.no-accept-language", 1.0,
                           f"a {agent.family} user agent without the "
                           "Accept-Language header browsers send", Kind.UNKNOWN_AUTOMATION))
    if obs.is_click and headers.get("accept", "*/*").strip() == "*/*":
        out.append(finding("req.wildcard-accept", 1.0,
                           f"a {agent.family} user agent followed a link "
                           "with 'Accept: */*'", Kind.UNKNOWN_AUTOMATION))
    return out
