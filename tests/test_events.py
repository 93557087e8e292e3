from __future__ import annotations

import json
from pathlib import Path

import pytest

from clicksift.errors import InputError, InvalidEventError
from clicksift.events import (
    ReadStats,
    event_from_dict,
    format_timestamp,
    parse_timestamp,
    read_events,
)

BASE = {"type": "click", "id": "e1", "message_id": "m1", "timestamp": 1_750_000_000,
        "url": "https://x.example/"}


@pytest.mark.parametrize(("value", "expected"), [
    ("2025-06-15T15:06:40Z", 1_750_000_000.0),
    ("2025-06-15T15:06:40.5Z", 1_750_000_000.5),
    ("2025-06-15T17:06:40.1234567+02:00", 1_750_000_000.123456),
    ("2025-06-15T15:06:40.123456789z", 1_750_000_000.123456),
    ("2025-06-15 15:06:40+00:00", 1_750_000_000.0),
    (1_750_000_000, 1_750_000_000.0),
    (1_750_000_000.25, 1_750_000_000.25),
])
def test_timestamps_in_every_allowed_form(value: object, expected: float) -> None:
    assert parse_timestamp(value) == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize(("value", "message"), [
    ("2025-06-15T15:06:40", "no time zone"),
    ("15/06/2025", "not an RFC 3339"),
    (1_750_000_000_000, "milliseconds"),
    (True, "not true/false"),
    (float("nan"), "finite"),
    ("1970-01-01T00:00:00Z", "outside"),
    ([1], "date-time string or Unix seconds"),
])
def test_bad_timestamps_say_what_is_wrong(value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_timestamp(value)


def test_format_timestamp_round_trips() -> None:
    assert parse_timestamp(format_timestamp(1_750_000_000.123456)) == pytest.approx(
        1_750_000_000.123456, abs=1e-6)


def test_event_keeps_unknown_fields_and_normalises_known_ones() -> None:
    raw = {**BASE, "ip": " 2001:DB8::1 ", "method": "head", "headers": {"Accept": "*/*"},
           "x-custom": {"kept": True}, "user_agent": ""}
    event = event_from_dict(raw)
    assert event.ip == "2001:db8::1" and event.method == "HEAD"
    assert event.headers == {"accept": "*/*"} and event.user_agent == ""
    assert event.raw is raw and event.raw["x-custom"] == {"kept": True}


@pytest.mark.parametrize(("change", "field", "message"), [
    ({"type": None}, "type", "required"),
    ({"id": ""}, "id", "must not be empty"),
    ({"message_id": 5}, "message_id", "must be a string"),
    ({"type": "clik"}, "type", "not an event type"),
    ({"url": None}, "url", "required on a click"),
    ({"ip": "123.123.123.321"}, "ip", "not an IPv4 or IPv6 address"),
    ({"link_kind": "button"}, "link_kind", "not content, honeypot or unsubscribe"),
    ({"links": [{"url": "https://x", "kind": "footer"}]}, "links[0]", "kind"),
    ({"links": "https://x"}, "links", "array"),
    ({"headers": {"a": 1}}, "headers", "must be a string"),
    ({"headers": {"a": "x" * 70_000}}, "headers", "at most"),
    ({"form": "List-Unsubscribe=One-Click"}, "form", "object"),
])
def test_invalid_events_name_the_field(change: dict, field: str, message: str) -> None:
    with pytest.raises(InvalidEventError, match=message) as caught:
        event_from_dict({**BASE, **change})
    assert caught.value.field == field


def _write(tmp_path: Path, lines: list[str]) -> str:
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def test_reader_names_file_line_and_field(tmp_path: Path) -> None:
    path = _write(tmp_path, [json.dumps(BASE), "", json.dumps({**BASE, "timestamp": "yesterday"})])
    with pytest.raises(InputError) as caught:
        list(read_events([path]))
    assert str(caught.value) == (f"{path}, line 3, field 'timestamp': 'yesterday' is not an "
                                 "RFC 3339 date-time")


def test_reader_reports_broken_json_with_its_line(tmp_path: Path) -> None:
    path = _write(tmp_path, [json.dumps(BASE), "{not json"])
    with pytest.raises(InputError, match=r"line 2: is not valid JSON"):
        list(read_events([path]))


def test_reader_skips_and_counts_invalid_lines_when_asked(tmp_path: Path) -> None:
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(b"\n".join([json.dumps(BASE).encode(), b"[1, 2]", b"\xff\xfe",
                                 json.dumps({**BASE, "id": "e2"}).encode(), b"{"]) + b"\n")
    stats = ReadStats()
    events = list(read_events([str(path)], skip_invalid=True, stats=stats))
    assert [e.id for e in events] == ["e1", "e2"]
    assert stats.skipped == 3 and stats.events == 2
    assert "line 3: is not valid UTF-8" in stats.first_errors[1]


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read"):
        list(read_events([str(tmp_path / "nope.jsonl")]))


@pytest.mark.parametrize(("text", "spelled"), [
    ("192.0.2.7", "192.0.2.7"), (" 192.0.2.7 ", "192.0.2.7"),
    ("2001:DB8::1", "2001:db8::1"), ("::ffff:192.0.2.7", "::ffff:c000:207"),
    ("192.0.2", None), ("0300.0.2.7", None), ("192.0.2.7 x", None), ("256.0.2.7", None),
    ("1", None), ("", None)])
def test_an_address_is_read_in_its_canonical_spelling_or_refused(text: str,
                                                                  spelled: str | None) -> None:
    """The quick path (a dotted quad already canonical) takes no shorthand the C library
    would (192.0.2 as 192.0.0.2, octal 0300 as 192)."""
    from clicksift.events import normalize_ip

    if spelled is None:
        with pytest.raises(ValueError, match="does not appear to be an IPv4 or IPv6"):
            normalize_ip(text)
    else:
        assert normalize_ip(text) == spelled
