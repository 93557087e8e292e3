"""The smallest ASGI app: a static 302 and nothing else (the floor reference of redirect.py:
what granian and the event loop cost before clicksift does any work)."""

from __future__ import annotations

from typing import Any

_START = {"type": "http.response.start", "status": 302,
          "headers": [(b"location", b"https://shop.example.com/p/1"),
                      (b"cache-control", b"no-store")]}
_BODY = {"type": "http.response.body", "body": b""}


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "http":
        await send(_START)
        await send(_BODY)
