from __future__ import annotations

import re
from pathlib import Path

import pytest

from clicksift.errors import PrepareError
from clicksift.links import TrackingUrls
from clicksift.prepare import PrepareOptions, Preparer
from clicksift.tokens import Action, Signer, SigningKey
from tests.support import EMAILS

BASE = "https://t.example.net"
SIGNER = Signer([SigningKey("k1", b"test-secret-of-enough-length")])
URLS = TrackingUrls(BASE, SIGNER)
CORPUS = sorted(EMAILS.glob("*.html"))
# Tracked content links per corpus email, counted by hand from the fixtures.
EXPECTED_CONTENT_LINKS = {
    "retail-newsletter.html": 100, "saas-product-update.html": 7, "receipt.html": 2,
    "fragment.html": 2, "broken.html": 4, "mjml-event.html": 4,
}
_HREF = re.compile(r"""(\bhref\s*=\s*)("[^"]*"|'[^']*'|[^\s>]+)""", re.IGNORECASE)
_ADDITION = re.compile(
    r'<a href="[^"]*" tabindex="-1" aria-hidden="true" style="display:none;[^"]*"></a>'
    r'|<img src="[^"]*/o/[^"]*" width="1" height="1" alt="" aria-hidden="true" [^>]*/>')


def prepare(html: str, **options: object) -> object:
    preparer = Preparer(URLS, PrepareOptions(**options))  # type: ignore[arg-type]
    return preparer.prepare(html, recipient="ann@example.com", campaign_id="june",
                            message_id="m-test", now=1_750_000_000)


def _unquote(value: str) -> str:
    return value[1:-1] if value[:1] in "\"'" else value


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.name)
def test_only_hrefs_change_and_every_change_is_a_signed_link_to_the_original(path: Path) -> None:
    original = path.read_text()
    prepared = prepare(original)
    without_additions = _ADDITION.sub("", prepared.html)
    original_parts = _HREF.split(original)
    prepared_parts = _HREF.split(without_additions)
    assert len(original_parts) == len(prepared_parts)
    changed = 0
    for index, (before, after) in enumerate(zip(original_parts, prepared_parts, strict=True)):
        if index % 3 != 2:  # text between href values: must be byte for byte the same
            assert before == after
        elif before != after:
            changed += 1
            url = _unquote(after).replace("&amp;", "&")
            assert url.startswith(BASE + "/")
            claims = SIGNER.verify(url.rsplit("/", 1)[1])
            if claims.action is Action.CLICK:
                destination = _unquote(before).replace("&amp;", "&").replace("&#38;", "&")
                assert claims.url == re.sub(r"[\t\n\r]", "", destination).strip()
            else:
                assert claims.action is Action.UNSUBSCRIBE
    kinds = [link.kind for link in prepared.links]
    assert kinds.count("content") == EXPECTED_CONTENT_LINKS[path.name]
    assert kinds.count("honeypot") == 1 and kinds.count("unsubscribe") == 1
    assert changed == kinds.count("content") + ("/u/" in without_additions)


def test_vml_buttons_inside_outlook_comments_are_rewritten() -> None:
    prepared = prepare((EMAILS / "retail-newsletter.html").read_text())
    conditional = re.findall(r"<!--\[if mso\]>.*?<!\[endif\]-->", prepared.html, re.DOTALL)
    vml = [block for block in conditional if "v:roundrect" in block]
    assert len(vml) == 19
    assert all(f'href="{BASE}/c/' in block for block in vml)
    assert "https://shop.example.com" not in "".join(vml)


def test_links_left_alone() -> None:
    html = ('<body><a href="mailto:a@b.example">m</a><a href="tel:+1">t</a><a href="#top">a</a>'
            '<a href="https://x.example/keep" data-clicksift="ignore">i</a>'
            '<a href="https://x.example/off" clicktracking=off>o</a>'
            '<a href="/relative">r</a><a href="ftp://x.example/f">f</a></body>')
    prepared = prepare(html, honeypot_links=0, open_pixel=False)
    assert prepared.html == html
    assert [link.kind for link in prepared.links] == ["unsubscribe"]


def test_unsubscribe_merge_tags_are_the_esps_unless_replacing_them_is_asked_for() -> None:
    """An ESP needs its own unsubscribe merge tag to accept the campaign and to handle the
    unsubscribes: it stays (with a warning that says how to replace it); the setting, or
    data-clicksift="unsubscribe" on one link, puts clicksift's signed link there."""
    html = ('<body><a href="{{ unsubscribe_url }}">u</a><a href="*|UNSUB|*">u2</a>'
            '<a href="https://sender.example/leave" data-clicksift="unsubscribe">u3</a></body>')
    kept = prepare(html)
    unsubscribe = kept.headers["List-Unsubscribe"].strip("<>")
    assert 'href="{{ unsubscribe_url }}"' in kept.html and 'href="*|UNSUB|*"' in kept.html
    assert kept.html.count(f'href="{unsubscribe}"') == 1                 # the marked link
    assert any("*|UNSUB|*" in w and "replace_unsubscribe_merge_tags" in w
               for w in kept.warnings)
    replaced = prepare(html, replace_unsubscribe_merge_tags=True)
    unsubscribe = replaced.headers["List-Unsubscribe"].strip("<>")
    assert replaced.html.count(f'href="{unsubscribe}"') == 3
    assert next(link for link in replaced.links
                if link.kind == "unsubscribe").url == unsubscribe


def test_additions_pixel_and_honeypots() -> None:
    prepared = prepare("<html><body><p>x</p></body></html>", honeypot_links=2)
    body = prepared.html
    assert body.startswith('<html><body><a href="https://t.example.net/c/')
    assert body.endswith('/></body></html>')
    honeypots = re.findall(r'<a href="([^"]+)" tabindex="-1" aria-hidden="true"', body)
    assert len(honeypots) == 2
    for url in honeypots:
        claims = SIGNER.verify(url.rsplit("/", 1)[1])
        assert claims.link_kind == "honeypot"
    pixel = re.search(r'<img src="([^"]+)"', body).group(1)
    assert pixel.endswith(".gif")
    assert SIGNER.verify(pixel.rsplit("/", 1)[1][:-4]).action is Action.OPEN


def test_honeypot_goes_to_the_senders_home_page_or_the_configured_url() -> None:
    html = '<body><a href="https://shop.example.com/p/1?x=y">p</a></body>'
    assert prepare(html).links[1].url == "https://shop.example.com/"
    assert prepare(html, honeypot_url="https://x.example/hp").links[1].url == "https://x.example/hp"


def test_fragment_gets_additions_at_the_end() -> None:
    prepared = prepare("<p>Hello <a href='https://x.example'>x</a></p>")
    assert prepared.html.startswith("<p>Hello <a href='https://t.example.net/c/")
    assert prepared.html.endswith("/>")


def test_list_unsubscribe_headers_follow_rfc_8058() -> None:
    prepared = prepare("<p>x</p>", unsubscribe_mailto="leave@sender.example")
    https, mailto = prepared.headers["List-Unsubscribe"].split(", ")
    assert https.startswith(f"<{BASE}/u/") and https.endswith(">")
    assert mailto.startswith("<mailto:leave@sender.example?subject=unsubscribe%20")
    assert prepared.headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "mailto" not in prepare("<p>x</p>").headers["List-Unsubscribe"]


def test_warnings_name_plain_http_merge_tags_and_http_base() -> None:
    html = '<body>\n<a href="http://old.example/">a</a>\n<a href="https://x.example/{{id}}">b</a></body>'
    prepared = Preparer(TrackingUrls("http://t.example", SIGNER)).prepare(
        html, recipient="a@b.example", campaign_id="c")
    text = "\n".join(prepared.warnings)
    assert "line 2: http://old.example/ is plain http" in text
    assert "line 3: https://x.example/{{id}} contains a merge tag" in text
    assert "tracking base URL http://t.example is not https" in text


def test_text_part_links_reuse_the_html_links() -> None:
    html = '<body><a href="https://x.example/a">a</a></body>'
    text = "Read https://x.example/a. Or https://x.example/b, then {{unsubscribe_url}}\n"
    prepared = Preparer(URLS, PrepareOptions(replace_unsubscribe_merge_tags=True)).prepare(
        html, recipient="a@b.example", campaign_id="c", text=text, message_id="m1")
    kept = Preparer(URLS).prepare(html, recipient="a@b.example", campaign_id="c", text=text,
                                  message_id="m1")
    assert kept.text.endswith("then {{unsubscribe_url}}\n")
    urls = re.findall(r"https://t\.example\.net/[cu]/[A-Za-z0-9_-]+", prepared.text)
    assert len(urls) == 3
    assert f'href="{urls[0]}"' in prepared.html
    assert prepared.text.endswith(".\n") is False and prepared.text.count(". Or ") == 1
    assert [SIGNER.verify(u.rsplit("/", 1)[1]).url for u in urls[:2]] == [
        "https://x.example/a", "https://x.example/b"]
    assert "/u/" in urls[2]


def test_delivered_event_lists_links_in_order() -> None:
    prepared = prepare('<body><a href="https://x.example/1">1</a><a href="https://x.example/2">2</a></body>')
    event = prepared.delivered_event()
    assert event["type"] == "delivered" and event["message_id"] == "m-test"
    assert [link["url"] for link in event["links"]][:2] == ["https://x.example/1", "https://x.example/2"]
    assert [link["kind"] for link in event["links"]] == [
        "content", "content", "honeypot", "unsubscribe"]


@pytest.mark.parametrize(("html", "recipient", "message"), [
    ("", "a@b.example", "empty"),
    ("<p>\x00</p>", "a@b.example", "NUL"),
    ("<p>x</p>", "not-an-address", "not an email address"),
])
def test_bad_input_is_a_clear_error(html: str, recipient: str, message: str) -> None:
    with pytest.raises(PrepareError, match=message):
        Preparer(URLS).prepare(html, recipient=recipient, campaign_id="c")


def test_over_long_links_are_left_untracked_with_a_warning() -> None:
    long_url = "https://x.example/" + "a" * 5000
    prepared = prepare(f'<body><a href="{long_url}">x</a></body>')
    assert long_url in prepared.html
    assert any("left untracked" in w for w in prepared.warnings)
