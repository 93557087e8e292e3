"""Security headers on every page and API answer the framework routes give.

The tracking paths (clicks, opens) answer with raw ASGI and a redirect or a pixel; every
other answer passes through :class:`SecurityHeaders`, which adds what a browser needs to
keep the page to itself where the handler did not say otherwise:

- every answer: ``x-content-type-options: nosniff`` (no guessing a type the answer does not
  declare);
- HTML (the preference page, the demo pages, error pages): a strict content security policy
  (no scripts, no framing: the unsubscribe button cannot be laid under another site's page,
  forms post only to this server), ``x-frame-options: DENY`` for browsers without CSP, and
  ``referrer-policy: no-referrer`` (the page's URL holds the recipient's token);
- JSON (the API): ``cache-control: no-store`` (campaign figures and recipients' addresses
  stay out of shared caches) and a policy that lets the answer run nothing;
- answers over HTTPS (the server's own TLS, ``tls_certificate``):
  ``strict-transport-security`` for a year, so a browser never fetches the tracking host in
  the clear again (a TLS proxy in front sets its own).

The dashboard sets its own, stricter-for-it headers; a header the handler set is kept.
"""

from __future__ import annotations

from typing import Any

HTML_POLICY = (b"default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
               b"form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
DATA_POLICY = b"default-src 'none'; frame-ancestors 'none'"
_ALWAYS = ((b"x-content-type-options", b"nosniff"),)
_HTML = ((b"content-security-policy", HTML_POLICY), (b"x-frame-options", b"DENY"),
         (b"referrer-policy", b"no-referrer"))
_JSON = ((b"cache-control", b"no-store"), (b"content-security-policy", DATA_POLICY))


_HSTS = ((b"strict-transport-security", b"max-age=31536000"),)


def with_security_headers(headers: list[tuple[bytes, bytes]], *, https: bool = False
                          ) -> list[tuple[bytes, bytes]]:
    """HEADERS with the security headers their content type calls for, where absent."""
    present = {name.lower() for name, _ in headers}
    kind = next((value for name, value in headers if name.lower() == b"content-type"), b"")
    extra = list(_ALWAYS) + (list(_HSTS) if https else [])
    if kind.startswith(b"text/html"):
        extra += _HTML
    elif kind.startswith((b"application/json", b"application/problem+json")):
        extra += _JSON
    return headers + [(name, value) for name, value in extra if name not in present]


class SecurityHeaders:
    """ASGI middleware: :func:`with_security_headers` on every HTTP answer of APP."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        https = scope.get("scheme") == "https"

        async def send_secured(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": with_security_headers(
                    list(message.get("headers", [])), https=https)}
            await send(message)

        await self.app(scope, receive, send_secured)
