from __future__ import annotations

import pytest

from clicksift.markup import find_links, quote_value, splice


def hrefs(document: str) -> list[tuple[str, str, bool]]:
    tags, _ = find_links(document)
    return [(tag.name, tag.href.value, tag.in_conditional) for tag in tags if tag.href]


def test_finds_links_in_tags_and_outlook_conditional_comments() -> None:
    doc = ('<body><!--[if mso]><v:roundrect href="https://a.example/?x=1&amp;y=2">'
           '</v:roundrect><![endif]--><!--[if !mso]><!-- --><a HREF=\'https://b.example\'>b</a>'
           '<!--<![endif]--><AREA href=https://c.example/x></body>')
    assert hrefs(doc) == [("v:roundrect", "https://a.example/?x=1&y=2", True),
                          ("a", "https://b.example", False), ("area", "https://c.example/x", False)]


@pytest.mark.parametrize("container", [
    '<!-- <a href="https://x.example">x</a> -->',
    '<style>/* <a href="https://x.example"> */ a{color:red}</style>',
    '<script type="application/ld+json">{"u":"<a href=\'https://x.example\'>"}</script>',
    '<title>Order <a href="https://x.example">1</a></title>',
    '<textarea><a href="https://x.example"></textarea>',
    '<div title="<a href=https://x.example>">text</div>',
    '<![CDATA[ <a href="https://x.example"> ]]>',
])
def test_ignores_links_that_are_not_markup(container: str) -> None:
    assert hrefs(f"<body>{container}</body>") == []


def test_quotes_open_a_value_only_after_equals_like_browsers() -> None:
    # The unquoted value ends at whitespace: the stray quote belongs to it.
    doc = '<a href=https://x.example/?a=1">one</a> <a href="https://y.example">two</a>'
    assert hrefs(doc) == [("a", 'https://x.example/?a=1"', False),
                          ("a", "https://y.example", False)]


def test_first_of_duplicate_attributes_wins() -> None:
    assert hrefs('<a href="https://one.example" href="https://two.example">x</a>') == [
        ("a", "https://one.example", False)]


def test_a_tag_without_closing_bracket_does_not_swallow_the_document() -> None:
    doc = '<p>text</p><a href="https://x.example' + " filler" * 20000
    assert hrefs(doc) == []


def test_landmarks_ignore_body_tags_inside_comments() -> None:
    doc = '<html><!-- <body> --><BODY class="x"><p>hi</p><!-- </body> --></BODY></html>'
    _, landmarks = find_links(doc)
    assert doc[:landmarks.body_open_end].endswith('<BODY class="x">')
    assert doc[landmarks.body_close_start:].startswith("</BODY>")


def test_attribute_offsets_point_inside_quotes() -> None:
    doc = '<a class=x href = "https://x.example/&amp;" >'
    tag = find_links(doc)[0][0]
    assert doc[tag.href.start:tag.href.end] == "https://x.example/&amp;"
    assert tag.href.quote == '"'


def test_quote_value_escapes_for_each_quote_style() -> None:
    assert quote_value('a&b"c', '"') == "a&amp;b&quot;c"
    assert quote_value("a&b'c", "'") == "a&amp;b&#39;c"
    assert quote_value("a&b", "") == '"a&amp;b"'


def test_splice_replaces_ranges_and_rejects_overlaps() -> None:
    assert splice("abcdef", [(4, 5, "E"), (1, 2, "B"), (3, 3, "+")]) == "aBc+dEf"
    with pytest.raises(ValueError, match="overlapping"):
        splice("abcdef", [(1, 3, "x"), (2, 4, "y")])
