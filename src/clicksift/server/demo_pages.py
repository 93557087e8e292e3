"""The demo's pages: the prepared messages, so a person can open them and click."""

from __future__ import annotations

import html
import re
from pathlib import Path

from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Route

from clicksift.server import pages

_MESSAGE_FILE = re.compile(r"^m[0-9a-z]{20}\.html$")


def routes(folder: str) -> list[Route]:
    messages = Path(folder) / "messages"

    async def index(request: Request) -> Response:
        files = sorted(p.name for p in messages.glob("*.html"))
        items = "".join(
            f'<li><a href="/demo/{html.escape(name)}">{html.escape(name[:-5])}</a></li>'
            for name in files)
        return HTMLResponse(pages.page("clicksift demo", (
            "<h1>clicksift demo</h1><p>Each message below is the demo newsletter as prepared "
            "for one recipient: its links are signed tracking links to this server. Open one "
            "and click; every request is recorded.</p>"
            f"<ul>{items}</ul>")))

    async def message(request: Request) -> Response:
        name = request.path_params["name"]
        path = messages / name
        if not _MESSAGE_FILE.match(name) or not path.is_file():
            return PlainTextResponse("no such demo message\n", status_code=404)
        return HTMLResponse(path.read_text("utf-8"))

    return [Route("/demo/", index, methods=["GET"]),
            Route("/demo/{name}", message, methods=["GET"])]
