"""Prepare an outgoing message: tracked links, open pixel, honeypot links, unsubscribe headers.

>>> prepared = preparer.prepare(html, recipient="ann@example.com", campaign_id="spring")

The HTML keeps every byte except the rewritten href values and the additions (pixel and
honeypot links), see :mod:`clicksift.markup`. The result carries the message's link list,
which becomes its ``delivered`` event, and the ``List-Unsubscribe`` headers of RFC 8058.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from clicksift import markup
from clicksift.errors import PrepareError
from clicksift.events import Link, LinkKind, format_timestamp
from clicksift.ids import new_message_id
from clicksift.links import TrackingUrls
from clicksift.settings import Settings

#: Placeholders ESPs and templates use for "the unsubscribe link"; they become ours.
_PLACEHOLDER = (r"(?:\{\{\s*unsubscribe(?:_url|_link)?\s*\}\}|\*\|UNSUB\|\*|%unsubscribe_url%"
                r"|\[unsubscribe\]|<%asm_group_unsubscribe_raw_url%>|\{\$unsubscribe\}"
                r"|\$unsubscribe\$)")
UNSUBSCRIBE_PLACEHOLDERS = re.compile(rf"^\s*{_PLACEHOLDER}\s*$", re.IGNORECASE)
_PLACEHOLDER_IN_TEXT = re.compile(_PLACEHOLDER, re.IGNORECASE)
_MERGE_TAG = re.compile(r"\{\{|\}\}|\*\||\|\*|%%|\[\[|\{\$|<%")
_TEXT_URL = re.compile(r"""https?://[^\s<>"'`]+""", re.IGNORECASE)
_TRAILING_PUNCTUATION = ".,;:!?)]}'\""
#: Marks on a link tag that keep it as it is, or make it the unsubscribe link.
IGNORE_MARKS = {"data-clicksift": "ignore", "clicktracking": "off"}
MAX_DESTINATION_CHARS = 4000
_URL_NOISE = re.compile(r"[\t\n\r]")
_C0_AND_SPACE = "".join(chr(c) for c in range(0x21))
MAX_MESSAGE_ID_BYTES = 200


@dataclass(frozen=True)
class PrepareOptions:
    honeypot_links: int = 1
    honeypot_url: str = ""
    open_pixel: bool = True
    unsubscribe_mailto: str = ""
    #: An ESP's unsubscribe merge tag used as a link ({{unsubscribe_url}}, *|UNSUB|*):
    #: replaced with clicksift's unsubscribe link only when asked (the sending ESP needs
    #: its own to accept the campaign and to handle its unsubscribes).
    replace_unsubscribe_merge_tags: bool = False

    @classmethod
    def from_settings(cls, settings: Settings) -> PrepareOptions:
        return cls(settings.honeypot_links, settings.honeypot_url, settings.open_pixel,
                   settings.unsubscribe_mailto, settings.replace_unsubscribe_merge_tags)


@dataclass(frozen=True)
class PreparedMessage:
    message_id: str
    campaign_id: str
    recipient: str
    html: str
    text: str | None
    headers: dict[str, str]
    links: tuple[Link, ...]
    prepared_at: float
    warnings: tuple[str, ...] = ()
    #: The tracking URL of each link (same order as LINKS), and of the open pixel.
    tracking_urls: tuple[str, ...] = ()
    open_url: str | None = None

    def delivered_event(self) -> dict[str, Any]:
        """The message's ``delivered`` event in the canonical shape (docs/events.md)."""
        return {
            "type": "delivered",
            "id": f"{self.message_id}:delivered",
            "message_id": self.message_id,
            "campaign_id": self.campaign_id,
            "recipient": self.recipient,
            "timestamp": format_timestamp(self.prepared_at),
            "links": [{"url": link.url, "kind": link.kind} for link in self.links],
            "source": "prepare",
        }


@dataclass
class _Builder:
    """Collects links and warnings while one message is prepared."""

    urls: TrackingUrls
    message_id: str
    issued_at: int
    unsubscribe_url: str
    replace_merge_tags: bool = False
    links: list[Link] = field(default_factory=list)
    link_urls: list[str] = field(default_factory=list)      # tracking URL of each link
    tracked: dict[str, str] = field(default_factory=dict)   # content destination -> its first URL
    open_url: str | None = None
    warnings: list[str] = field(default_factory=list)
    _seen_warnings: set[str] = field(default_factory=set)

    def warn(self, text: str) -> None:
        if text not in self._seen_warnings:
            self._seen_warnings.add(text)
            self.warnings.append(text)

    def track(self, destination: str, kind: str) -> str:
        """Add a link to the message and return the URL that replaces it."""
        if kind == LinkKind.UNSUBSCRIBE:
            if not any(link.kind == kind for link in self.links):
                self.links.append(Link(self.unsubscribe_url, kind))
                self.link_urls.append(self.unsubscribe_url)
            return self.unsubscribe_url
        index = len(self.links)
        self.links.append(Link(destination, kind))
        url = self.urls.click(self.message_id, index, kind, destination, self.issued_at)
        self.link_urls.append(url)
        if kind == LinkKind.CONTENT:
            self.tracked.setdefault(destination, url)
        return url

    def check_destination(self, destination: str, locate: Callable[[], str]) -> bool:
        """Warn about a destination; False when it cannot be tracked and stays as it is.

        LOCATE says where the link stands (only called when there is something to say)."""
        problems = _problems(destination)
        if not problems:
            return True
        where = locate()
        if len(destination) > MAX_DESTINATION_CHARS:
            self.warn(f"{where}: link of {len(destination)} characters left untracked "
                      f"(at most {MAX_DESTINATION_CHARS})")
            return False
        parts = urlsplit(destination)
        if not parts.netloc:
            self.warn(f"{where}: link {destination!r} has no host; left untracked")
            return False
        if parts.scheme.lower() == "http":
            self.warn(f"{where}: {destination} is plain http; https links draw less suspicion "
                      "from security scanners and spam filters")
        if _MERGE_TAG.search(destination):
            self.warn(f"{where}: {destination} contains a merge tag; prepare each recipient's "
                      "final HTML, after the ESP fills merge tags")
        return True


def _problems(destination: str) -> bool:
    """A cheap first look: does this destination deserve a warning or a refusal?"""
    return (len(destination) > MAX_DESTINATION_CHARS or destination[:5].lower() == "http:"
            or _MERGE_TAG.search(destination) is not None or not urlsplit(destination).netloc)


def normalize_destination(value: str) -> str:
    """The URL a browser would follow for this href: tabs and newlines removed, ends trimmed."""
    return _URL_NOISE.sub("", value).strip(_C0_AND_SPACE)


def _classify_href(tag: markup.LinkTag, replace_merge_tags: bool) -> str | None:
    """The link kind to give this tag, or None to leave it alone."""
    attrs = tag.attributes
    for name, value in IGNORE_MARKS.items():
        if name in attrs and attrs[name].value.strip().lower() == value:
            return None
    href = attrs["href"].value.strip()
    marked = attrs.get("data-clicksift")
    if (marked is not None and marked.value.strip().lower() == "unsubscribe") or (
            replace_merge_tags and UNSUBSCRIBE_PLACEHOLDERS.match(href)):
        return LinkKind.UNSUBSCRIBE.value
    if href[:7].lower() == "http://" or href[:8].lower() == "https://":
        return LinkKind.CONTENT.value
    return None


def _rewrite_html(document: str, builder: _Builder
                  ) -> tuple[list[tuple[int, int, str]], markup.Landmarks]:
    tags, landmarks = markup.find_links(document)
    edits = []
    for tag in tags:
        kind = _classify_href(tag, builder.replace_merge_tags)
        href = tag.href
        if kind is None or href is None:
            if href is not None and UNSUBSCRIBE_PLACEHOLDERS.match(href.value):
                builder.warn(f"line {document.count(chr(10), 0, tag.start) + 1}: "
                             f"{href.value.strip()} is the ESP's unsubscribe merge tag: left "
                             "for the ESP (set replace_unsubscribe_merge_tags to use "
                             "clicksift's unsubscribe link there)")
            continue
        destination = normalize_destination(href.value)
        def locate(offset: int = tag.start) -> str:
            return f"line {document.count(chr(10), 0, offset) + 1}"

        if kind == LinkKind.CONTENT and not builder.check_destination(destination, locate):
            continue
        new = builder.track(destination, kind)
        edits.append((href.start, href.end, markup.quote_value(new, href.quote)))
    return edits, landmarks


def _rewrite_text(text: str, builder: _Builder) -> str:
    """Track the URLs of a plain-text part, reusing the HTML part's links for the same URL."""

    def replace(match: re.Match[str]) -> str:
        url = match.group(0)
        trailing = ""
        while url and url[-1] in _TRAILING_PUNCTUATION:
            trailing = url[-1] + trailing
            url = url[:-1]
        if url not in builder.tracked:
            if not builder.check_destination(url, lambda: "text part"):
                return match.group(0)
            builder.track(url, LinkKind.CONTENT.value)
        return builder.tracked[url] + trailing

    text = _TEXT_URL.sub(replace, text)
    if not builder.replace_merge_tags:
        return text
    return _PLACEHOLDER_IN_TEXT.sub(lambda _: builder.track("", LinkKind.UNSUBSCRIBE), text)


def _honeypot_destination(options: PrepareOptions, links: list[Link], base_url: str) -> str:
    if options.honeypot_url:
        return options.honeypot_url
    for link in links:
        if link.kind == LinkKind.CONTENT:
            parts = urlsplit(link.url)
            return f"{parts.scheme}://{parts.netloc}/"
    return base_url + "/"


def honeypot_markup(url: str) -> str:
    """A link no person can see, reach by keyboard or hear: empty, hidden, out of tab order."""
    return (f'<a href="{markup.quote_value(url, chr(34))}" tabindex="-1" aria-hidden="true" '
            'style="display:none;mso-hide:all;font-size:0;line-height:0"></a>')


def pixel_markup(url: str) -> str:
    """A 1x1 transparent image that takes no room in the layout."""
    return (f'<img src="{markup.quote_value(url, chr(34))}" width="1" height="1" alt="" '
            'aria-hidden="true" style="position:absolute;top:0;left:0;display:block;'
            'width:1px;height:1px;margin:-1px 0 0 0;padding:0;border:0;opacity:0" />')


class Preparer:
    """Prepares messages with one set of tracking URLs and options."""

    def __init__(self, urls: TrackingUrls, options: PrepareOptions | None = None) -> None:
        self.urls = urls
        self.options = options or PrepareOptions()

    def prepare(self, html: str, *, recipient: str, campaign_id: str,
                message_id: str | None = None, text: str | None = None,
                now: float | None = None) -> PreparedMessage:
        _check_inputs(html, recipient, campaign_id, message_id)
        message_id = message_id or new_message_id()
        prepared_at = time.time() if now is None else now
        issued_at = int(prepared_at)
        builder = _Builder(self.urls, message_id, issued_at,
                           self.urls.unsubscribe(message_id, issued_at),
                           self.options.replace_unsubscribe_merge_tags)
        if not self.urls.is_https:
            builder.warn(f"the tracking base URL {self.urls.base_url} is not https; set "
                         "base_url to an https address before sending real mail")
        edits, landmarks = _rewrite_html(html, builder)
        tracked_text = _rewrite_text(text, builder) if text is not None else None
        edits += self._additions(len(html), landmarks, builder)
        if not any(link.kind == LinkKind.UNSUBSCRIBE for link in builder.links):
            builder.track("", LinkKind.UNSUBSCRIBE)
        return PreparedMessage(message_id, campaign_id, recipient, markup.splice(html, edits),
                               tracked_text, self._headers(builder), tuple(builder.links),
                               prepared_at, tuple(builder.warnings),
                               tuple(builder.link_urls), builder.open_url)

    def _additions(self, length: int, landmarks: markup.Landmarks,
                   builder: _Builder) -> list[tuple[int, int, str]]:
        start = landmarks.body_open_end
        end = landmarks.body_close_start if landmarks.body_close_start is not None else length
        additions: list[tuple[int, int, str]] = []
        if self.options.honeypot_links:
            target = _honeypot_destination(self.options, builder.links, self.urls.base_url)
            for number in range(self.options.honeypot_links):
                url = builder.track(target, LinkKind.HONEYPOT.value)
                at = start if number % 2 == 0 and start is not None else end
                additions.append((at, at, honeypot_markup(url)))
        if self.options.open_pixel:
            builder.open_url = self.urls.open(builder.message_id, builder.issued_at)
            additions.append((end, end, pixel_markup(builder.open_url)))
        return additions

    def _headers(self, builder: _Builder) -> dict[str, str]:
        """RFC 2369 List-Unsubscribe (https first, then mailto) and RFC 8058's
        List-Unsubscribe-Post."""
        targets = [f"<{builder.unsubscribe_url}>"]
        if self.options.unsubscribe_mailto:
            token = builder.unsubscribe_url.rsplit("/", 1)[-1]
            targets.append(f"<mailto:{self.options.unsubscribe_mailto}"
                           f"?subject=unsubscribe%20{token}>")
        return {"List-Unsubscribe": ", ".join(targets),
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}


def _check_inputs(html: str, recipient: str, campaign_id: str, message_id: str | None) -> None:
    if not html.strip():
        raise PrepareError("the HTML body is empty")
    if "\x00" in html:
        raise PrepareError("the HTML body contains NUL characters; is it a binary file?")
    if "@" not in recipient or recipient.strip() != recipient or not recipient:
        raise PrepareError(f"recipient {recipient!r} is not an email address")
    if not campaign_id.strip():
        raise PrepareError("the campaign id is empty")
    if message_id is not None and (
            not message_id or len(message_id.encode()) > MAX_MESSAGE_ID_BYTES):
        raise PrepareError(f"message id must be 1 to {MAX_MESSAGE_ID_BYTES} bytes")
