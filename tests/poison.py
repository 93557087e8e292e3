"""Poisoned ESP bodies: the documented fixtures (tests/fixtures/esps/) with values swapped
for ones no ESP should send but some do (numbers and booleans where text belongs, empty
and impossible addresses, lone surrogates, NUL characters, huge and non-finite numbers,
nested values, very long runs of letters). Shared by tests/test_poison.py and
scripts/fuzz_webhooks.py."""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "esps"

#: Values seen in ESPs' documentation and bug reports, and the classic breakers.
POISON: list[Any] = [
    0, 1, -1, 2**64, 10**30, 1e308, -0.0, 1.5, True, False, None, "", " ", "\x00",
    "a\x00b", "\ud800", "x\udfffy", "000.000.000.000", "888.222.444.111", "not-an-ip",
    "::ffff:1.2.3.4", [], {}, [1, "a"], {"a": {"b": None}}, "a" * 5000,
    "2026-13-45T99:99:99Z", "1e400", "NaN", "-1", "9" * 40, "\u202e\u0000\u2028",
    "=HYPERLINK(\"https://evil.example\")",
    "b1" * 8000,   # 16,000 letters and digits: a crawler-list search once took 38 s on it
]

Path_ = tuple[Any, ...]


def fixture_paths(esp: str | None = None) -> list[Path]:
    return sorted(p for p in FIXTURES.glob("*.json")
                  if esp is None or p.name.startswith(esp + "-"))


def esp_of(path: Path) -> str:
    return path.stem.split("-")[0]


def load(path: Path) -> tuple[Any, Callable[[Any], bytes], str]:
    """A fixture's body as a document to mutate, the function that encodes a (mutated)
    document as the body the ESP would post, and its content type."""
    fixture = json.loads(path.read_text(encoding="utf-8"))
    content_type = fixture.get("content_type", "application/json")
    if "body_text" in fixture:
        return _text_body(fixture["body_text"], content_type)
    body = fixture["body"]
    if isinstance(body, dict) and isinstance(body.get("Message"), str):   # SNS envelope
        try:
            inner = json.loads(body["Message"])
        except ValueError:
            inner = None
        if inner is not None:
            document = {**body, "Message": inner}
            return (document, lambda d: json.dumps({**d, "Message": json.dumps(d["Message"])})
                    .encode(), content_type)
    return body, lambda d: json.dumps(d).encode(), content_type


def _text_body(text: str, content_type: str) -> tuple[Any, Callable[[Any], bytes], str]:
    """A body that is not one JSON document: JSON Lines (Braze), a multipart form or an
    urlencoded one (Mailgun's legacy webhooks), or a form with a JSON field (Mandrill)."""
    if content_type == "application/x-ndjson":
        records = [json.loads(line) for line in text.splitlines() if line.strip()]
        return (records, lambda d: "".join(json.dumps(r) + "\n" for r in d).encode(),
                content_type)
    if content_type.startswith("multipart/"):
        boundary = content_type.split("boundary=", 1)[1].strip('"')
        fields: dict[str, Any] = {}
        for part in text.split(f"--{boundary}")[1:-1]:
            head, _, value = part.strip("\r\n").partition("\r\n\r\n")
            fields[head.split('name="', 1)[1].split('"', 1)[0]] = value
        return (fields, lambda d: "".join(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'
            for k, v in d.items()).encode("utf-8", "surrogatepass") + f"--{boundary}--\r\n"
            .encode(), content_type)
    form = parse_qs(text, keep_blank_values=True)
    if all(values[0][:1] in "[{" for values in form.values()):   # Mandrill's JSON field
        document = {name: json.loads(values[0]) for name, values in form.items()}
        return (document, lambda d: urlencode({k: json.dumps(v) for k, v in d.items()})
                .encode(), content_type)
    plain = {name: values[0] if len(values) == 1 else values for name, values in form.items()}
    return (plain, lambda d: urlencode(d, doseq=True, encoding="utf-8",
                                       errors="surrogatepass").encode(), content_type)


def paths(document: Any, prefix: Path_ = ()) -> list[Path_]:
    """Every place in DOCUMENT that holds a value."""
    out: list[Path_] = []
    items = (document.items() if isinstance(document, dict) else
             enumerate(document) if isinstance(document, list) else ())
    for key, value in items:
        out.append((*prefix, key))
        out.extend(paths(value, (*prefix, key)))
    return out


def replaced(document: Any, path: Path_, value: Any) -> Any:
    """A copy of DOCUMENT with the value at PATH replaced by VALUE."""
    out = copy.deepcopy(document)
    target = out
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return out


def poisoned(document: Any, swaps: list[tuple[int, Any]]) -> Any:
    """DOCUMENT with each (place number, value) of SWAPS applied in turn."""
    for place, value in swaps:
        places = paths(document)
        if not places:
            break
        document = replaced(document, places[place % len(places)], value)
    return document


def random_bodies(rng: random.Random, count: int) -> list[tuple[str, bytes, str]]:
    """COUNT poisoned bodies over every fixture: (esp, body, content type)."""
    loaded = [(esp_of(p), *load(p)) for p in fixture_paths()]
    out = []
    for _ in range(count):
        esp, document, encode, content_type = rng.choice(loaded)
        swaps = [(rng.randrange(1 << 20), rng.choice(POISON))
                 for _ in range(rng.randint(1, 3))]
        out.append((esp, encode(poisoned(document, swaps)), content_type))
    return out
