"""Small raw-ASGI responses for the hot tracking paths (no framework objects per request)."""

from __future__ import annotations

import base64
import functools
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

Send = Any

#: The classic 43-byte transparent 1x1 GIF.
PIXEL_GIF = base64.b64decode("R0lGODlhAQABAIAAAP///wAAACH5BAEAAAAALAAAAAABAAEAAAICRAEAOw==")

NO_STORE = (b"cache-control", b"no-store, no-cache, must-revalidate, max-age=0, private")
NO_INDEX = (b"x-robots-tag", b"noindex, nofollow")
_SAFE_URL_CHARS = "!#$%&'()*+,/:;=?@[]~-._"


async def send_response(send: Send, status: int, headers: list[tuple[bytes, bytes]],
                        body: bytes = b"", *, head: bool = False) -> None:
    headers = [*headers, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if head else body})


async def send_text(send: Send, status: int, text: str,
                    extra: list[tuple[bytes, bytes]] | None = None, *, head: bool = False) -> None:
    await send_response(send, status, [(b"content-type", b"text/plain; charset=utf-8"),
                                       NO_STORE, *(extra or [])], text.encode(), head=head)


@functools.lru_cache(maxsize=8192)
def header_url(url: str) -> bytes | None:
    """URL as a safe Location header value (IRI to URI), or None when it is not http(s).

    Cached: many recipients' clicks share one destination."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    if parts.scheme.lower() not in {"http", "https"} or not parts.netloc:
        return None
    if url.isascii() and url.isprintable() and " " not in url:
        return url.strip().encode("ascii")
    host = parts.hostname or ""
    try:
        netloc = parts.netloc.replace(host, host.encode("idna").decode("ascii"), 1)
    except UnicodeError:
        return None
    rebuilt = urlunsplit((parts.scheme, netloc, quote(parts.path, safe=_SAFE_URL_CHARS),
                          quote(parts.query, safe=_SAFE_URL_CHARS),
                          quote(parts.fragment, safe=_SAFE_URL_CHARS)))
    return rebuilt.encode("ascii")
