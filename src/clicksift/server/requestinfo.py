"""What a tracking request tells about its sender: address, user agent, telling headers."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from clicksift.events import SCHEME_HEADER

#: Request headers kept with every tracked event: what browsers, prefetchers and scanners
#: send differently (content negotiation, fetch metadata, client hints, prefetch markers).
RECORDED_HEADERS = frozenset({
    "accept", "accept-language", "accept-encoding", "cache-control", "pragma", "connection",
    "dnt", "from", "referer", "upgrade-insecure-requests", "via", "x-forwarded-for",
    "x-requested-with", "purpose", "sec-purpose", "x-purpose", "x-moz",
    "sec-fetch-site", "sec-fetch-mode", "sec-fetch-dest", "sec-fetch-user",
    "sec-ch-ua", "sec-ch-ua-mobile", "sec-ch-ua-platform", "content-type", "origin",
    "x-clicksift-simulated-time",
})
MAX_HEADER_VALUE = 1024
_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class RequestInfo:
    ip: str | None
    user_agent: str
    method: str
    headers: dict[str, str]


class ClientAddress:
    """Finds the client's address, believing X-Forwarded-For only from trusted proxies."""

    def __init__(self, trusted_proxies: Iterable[str]) -> None:
        self._trusted: list[_Network] = [ipaddress.ip_network(p, strict=False)
                                         for p in trusted_proxies]

    def _is_trusted(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self._trusted)

    def scheme(self, peer: str | None, own: str, forwarded_proto: str | None) -> str:
        """The scheme the client used: a trusted proxy's X-Forwarded-Proto, else OWN."""
        if forwarded_proto and peer is not None and self._trusted and self._is_trusted(peer):
            first = forwarded_proto.split(",", 1)[0].strip().lower()
            if first in ("http", "https"):
                return first
        return own

    def resolve(self, peer: str | None, forwarded_for: str | None) -> str | None:
        if not self._trusted or peer is None or forwarded_for is None or not self._is_trusted(peer):
            return peer
        hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
        for hop in reversed(hops):
            candidate = _clean(hop)
            if candidate is None:
                return peer  # a malformed hop: believe nothing further back
            if not self._is_trusted(candidate):
                return candidate
        return peer


def _clean(hop: str) -> str | None:
    """An address from one X-Forwarded-For hop ('1.2.3.4', '[::1]:80', '1.2.3.4:5'), or None."""
    text = hop
    if text.startswith("["):
        text = text[1:].split("]", 1)[0]
    elif text.count(":") == 1:
        text = text.split(":", 1)[0]
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


def request_info(scope: Mapping[str, Any], addresses: ClientAddress) -> RequestInfo:
    """Pull the recorded fields out of an ASGI HTTP scope."""
    headers: dict[str, str] = {}
    user_agent = ""
    forwarded_proto = None
    for raw_name, raw_value in scope["headers"]:
        name = raw_name.decode("latin-1").lower()
        if name == "user-agent":
            user_agent = raw_value.decode("latin-1")[:MAX_HEADER_VALUE]
        elif name == "x-forwarded-proto":
            forwarded_proto = raw_value.decode("latin-1")[:16]
        elif name in RECORDED_HEADERS:
            value = raw_value.decode("latin-1")[:MAX_HEADER_VALUE]
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
    client = scope.get("client")
    peer = client[0] if client else None
    # Browsers send fetch metadata to https origins only: the classifier needs the scheme.
    headers[SCHEME_HEADER] = addresses.scheme(peer, scope.get("scheme", "http"), forwarded_proto)
    return RequestInfo(addresses.resolve(peer, headers.get("x-forwarded-for")), user_agent,
                       scope["method"], headers)
