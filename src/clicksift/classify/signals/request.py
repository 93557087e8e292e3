"""Request-shape signals: HEAD, prefetch markers, and headers every browser sends."""

from __future__ import annotations

from clicksift.classify.observe import Observed
from clicksift.classify.vocabulary import Finding, Kind, finding
from clicksift.events import SCHEME_HEADER

_PURPOSE_HEADERS = ("purpose", "sec-purpose", "x-purpose", "x-moz")
#: Every request header these signals read (batches spill no others).
_FETCH_METADATA = ("sec-fetch-site", "sec-fetch-mode", "sec-fetch-dest", "sec-fetch-user")
#: Every request header these signals read (batches spill no others).
READ_HEADERS = frozenset((*_PURPOSE_HEADERS, *_FETCH_METADATA, SCHEME_HEADER, "accept-language",
                          "accept"))
#: Of those, the headers whose presence alone the signals read (batches spill them empty).
PRESENCE_ONLY = frozenset(("accept-language", "sec-fetch-site", "sec-fetch-mode",
                           "sec-fetch-dest"))
#: Browser families -> the first major version that sends fetch metadata on navigations
#: (MDN browser-compat-data, http.headers.Sec-Fetch-*: Chrome 76 / Dest 80, Edge 79 / 80,
#: Firefox 90, Safari 16.4, taken as 17). Chrome and Firefox on iOS are WebKit underneath,
#: and their version says nothing about it, so they are not listed.
FETCH_METADATA_SINCE = {"Chrome": 80, "Chromium": 80, "Chrome Mobile": 80,
                        "Chrome Mobile WebView": 80, "Edge": 80, "Edge Mobile": 80,
                        "Firefox": 90, "Firefox Mobile": 90, "Safari": 17,
                        "Mobile Safari": 17}


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
    # a click or an unsubscribe form's post: both are navigations
    if not obs.is_open and _lacks_fetch_metadata(headers, agent.family, agent.major):
        out.append(finding("req.no-fetch-metadata", 1.0,
                           f"{agent.family} {agent.major} followed an https link without the "
                           "Sec-Fetch-* headers it sends", Kind.UNKNOWN_AUTOMATION))
    return out


def _lacks_fetch_metadata(headers: dict[str, str], family: str | None,
                          major: int | None) -> bool:
    """Whether a secure navigation came without the fetch metadata its browser sends."""
    if headers.get(SCHEME_HEADER) != "https" or family is None or major is None:
        return False
    since = FETCH_METADATA_SINCE.get(family)
    return since is not None and major >= since and not any(
        name in headers for name in _FETCH_METADATA)
