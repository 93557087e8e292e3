"""Surgical editing of email HTML: find link attributes, change only their values.

Email HTML is full of markup that parsers "repair" (Outlook conditional comments, VML,
XHTML doctypes, odd table nesting), so this module never builds a tree and never
re-serialises. A tokenizer walks the document the way a browser would split it into
comments, raw-text elements, declarations and tags; it reports each link attribute by its
byte offsets, and :func:`splice` writes replacement values in place. Everything else stays
byte for byte as it was.

Inside Outlook conditional comments (``<!--[if mso]> ... <![endif]-->``) the tokenizer
looks for tags too: that is where VML buttons (``<v:roundrect href=...>``) live, the links
Outlook desktop users actually click.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from dataclasses import dataclass

# Attribute grammar of the HTML tokenizer (WHATWG 13.2.5.32-40): a name runs to whitespace,
# '/', '>' or '='; a value is double-quoted, single-quoted, or runs to whitespace or '>'.
# A quote only opens a value right after '=', exactly as in browsers.
_NAME = r"[^\s/>][^\s/>=]*+"
_VALUE = r"\"[^\"]*+\"|'[^']*+'|[^\s>]++"
_ATTRS = rf"(?:\s++|/|{_NAME}(?:\s*+=\s*+(?:{_VALUE}))?+)*+"

# Elements whose tags the scanner must look at; every other tag is skipped in bulk.
_INTERESTING = (r"(?:a|area|body|style|script|textarea|title|xmp|iframe|noembed|noframes)"
                r"(?=[\s/>])|v:|/body[\s>]|!|\?")

# One alternative per construct, tried at each position. "skip" swallows text and
# uninteresting tags (still parsed attribute by attribute, so a '>' inside a quoted value
# does not end them) in one match, so Python only sees the constructs it acts on.
# Possessive quantifiers keep a tag with no closing '>' from backtracking through the rest
# of the document (browsers drop such a tag).
_TOKEN = re.compile(
    rf"""
    (?P<skip>(?:[^<]++|<(?!{_INTERESTING})(?:[A-Za-z][^\s/>]*+{_ATTRS}>|/[A-Za-z][^>]*+>
        |(?![A-Za-z/])|/(?![A-Za-z])[^>]*+>))++)
  | (?P<comment><!--(?:.*?-->|.*\Z))
  | (?P<cdata><!\[CDATA\[.*?(?:\]\]>|\Z))
  | (?P<raw><(?P<rawname>style|script|textarea|title|xmp|iframe|noembed|noframes)
        (?=[\s/>]){_ATTRS}>.*?(?:</(?P=rawname)\s*>|\Z))
  | (?P<decl><[!?][^>]*+>)
  | (?P<end></(?P<endname>[A-Za-z][^\s/>]*+)[^>]*+>)
  | (?P<tag><(?P<name>[A-Za-z][^\s/>]*+)(?P<attrs>{_ATTRS})>)
    """,
    re.IGNORECASE | re.DOTALL | re.VERBOSE,
)
_ATTR = re.compile(rf"({_NAME})(?:\s*+=\s*+({_VALUE}))?+", re.DOTALL)
_CONDITIONAL = re.compile(r"<!--\[if[^\]]*\]>(.*)<!\[endif\]-->\Z", re.IGNORECASE | re.DOTALL)
_LINK_TAGS = frozenset({"a", "area"})


@dataclass(frozen=True, slots=True)
class Attribute:
    name: str            # lower-cased
    raw: str             # as written, entities not resolved
    start: int           # offset of the value's first character, quotes excluded
    end: int             # offset just after the value
    quote: str           # '"', "'" or "" for an unquoted value

    @property
    def value(self) -> str:
        """The value with character references resolved, as a browser reads it."""
        return html.unescape(self.raw) if "&" in self.raw else self.raw


@dataclass(frozen=True, slots=True)
class LinkTag:
    """A tag that carries an href (a, area, VML shapes), with its attributes."""

    name: str
    start: int
    end: int
    attributes: dict[str, Attribute]
    in_conditional: bool

    @property
    def href(self) -> Attribute | None:
        return self.attributes.get("href")


@dataclass(frozen=True, slots=True)
class Landmarks:
    """Offsets where additions go: just after <body ...> and just before </body>."""

    body_open_end: int | None
    body_close_start: int | None


def _attributes(text: str, offset: int) -> dict[str, Attribute]:
    found: dict[str, Attribute] = {}
    for match in _ATTR.finditer(text):
        name = match.group(1).lower()
        if name in found:
            continue  # the first of duplicate attributes wins, as in browsers
        raw = match.group(2)
        if raw is None:
            found[name] = Attribute(name, "", offset + match.end(), offset + match.end(), "")
            continue
        quote = raw[0] if raw[0] in "\"'" else ""
        start, end = offset + match.start(2), offset + match.end(2)
        if quote:
            raw, start, end = raw[1:-1], start + 1, end - 1
        found[name] = Attribute(name, raw, start, end, quote)
    return found


def _is_link_tag(name: str) -> bool:
    lowered = name.lower()
    return lowered in _LINK_TAGS or lowered.startswith("v:")


def _scan(document: str, start: int, end: int, in_conditional: bool,
          landmarks: list[int | None]) -> Iterator[LinkTag]:
    for match in _TOKEN.finditer(document, start, end):
        if match.lastgroup == "skip":
            continue
        if match.group("tag") is not None:
            name = match.group("name")
            if _is_link_tag(name):
                attrs = _attributes(match.group("attrs"), match.start("attrs"))
                if "href" in attrs:
                    yield LinkTag(name.lower(), match.start(), match.end(), attrs, in_conditional)
            elif not in_conditional and name.lower() == "body" and landmarks[0] is None:
                landmarks[0] = match.end()
        elif match.group("end") is not None:
            if not in_conditional and match.group("endname").lower() == "body":
                landmarks[1] = match.start()
        elif match.group("comment") is not None:
            conditional = _CONDITIONAL.match(match.group())
            if conditional:
                base = match.start()
                yield from _scan(document, base + conditional.start(1),
                                 base + conditional.end(1), True, landmarks)


def find_links(document: str) -> tuple[list[LinkTag], Landmarks]:
    """Every tag with an href, in document order, and where the body starts and ends."""
    landmarks: list[int | None] = [None, None]
    tags = list(_scan(document, 0, len(document), False, landmarks))
    return tags, Landmarks(landmarks[0], landmarks[1])


def quote_value(value: str, quote: str) -> str:
    """VALUE escaped for an attribute written with QUOTE (an unquoted value gets double quotes)."""
    escaped = value.replace("&", "&amp;")
    if quote == "'":
        return escaped.replace("'", "&#39;")
    escaped = escaped.replace('"', "&quot;")
    return escaped if quote == '"' else f'"{escaped}"'


def splice(document: str, edits: list[tuple[int, int, str]]) -> str:
    """Replace each (start, end) range of DOCUMENT with its text; ranges must not overlap."""
    out: list[str] = []
    position = 0
    for start, end, text in sorted(edits, key=lambda edit: (edit[0], edit[1])):
        if start < position:
            raise ValueError("overlapping edits")
        out.append(document[position:start])
        out.append(text)
        position = end
    out.append(document[position:])
    return "".join(out)
