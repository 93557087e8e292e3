"""The knowledge base checks itself: every entry against its examples, and a corpus of real
people's user agents against false alarms."""

from __future__ import annotations

import csv
import ipaddress
import json
import re
from datetime import date
from pathlib import Path

import pytest

from clicksift.classify import BatchClassifier, Engine
from clicksift.classify.gateways import load_gateways
from clicksift.classify.knowledge import load_knowledge
from clicksift.events import event_from_dict
from tests.support import FIXTURES

KNOWLEDGE = load_knowledge()
AGENTS = KNOWLEDGE.raw_agents
NETWORKS = KNOWLEDGE.raw_networks
CORPUS = FIXTURES / "useragents"
# Browsers people use (beside the parser fixtures), in the form they took in late 2025, and
# the time at which they were current there.
MODERN_BROWSERS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/142.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/142.0.0.0 Safari/537.36 Edg/142.0.0.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/26.1 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Version/18.6 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:145.0) Gecko/20100101 Firefox/145.0",
    "Mozilla/5.0 (Linux; Android 15; Pixel 9) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/142.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) "
    "SamsungBrowser/28.0 Chrome/140.0.0.0 Mobile Safari/537.36",
]
NOW = "2025-11-24T12:00:00Z"
#: Rules about a browser's age: not about what the agent is, so not false alarms here.
_VERSION_RULES = {"ua.outdated-browser", "ua.very-outdated-browser"}


def _rows(name: str) -> list[dict[str, str]]:
    with open(CORPUS / name, encoding="utf-8") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


@pytest.mark.parametrize("entry", AGENTS, ids=lambda e: e["id"])
def test_user_agent_entry_matches_its_examples(entry: dict) -> None:
    pattern = re.compile(entry["pattern"], re.IGNORECASE)
    for example in entry["examples"]:
        assert pattern.search(example), f"{entry['id']} misses {example!r}"
        assert KNOWLEDGE.match_agent(example).id == entry["id"], example
    for counter in entry["counter_examples"]:
        assert not pattern.search(counter), f"{entry['id']} wrongly matches {counter!r}"


@pytest.mark.parametrize("entry", NETWORKS, ids=lambda e: e["id"])
def test_network_entry_contains_its_examples(entry: dict) -> None:
    for example in entry["examples"]:
        found = KNOWLEDGE.match_network(ipaddress.ip_address(example))
        assert found is not None and found.id == entry["id"], example
    for counter in entry["counter_examples"]:
        found = KNOWLEDGE.match_network(ipaddress.ip_address(counter))
        assert found is None or found.id != entry["id"], counter


@pytest.mark.parametrize("entry", AGENTS + NETWORKS, ids=lambda e: e["id"])
def test_every_entry_has_a_source_and_a_date(entry: dict) -> None:
    assert entry["source"].strip()
    assert date.fromisoformat(entry["date"]) <= date(2026, 12, 31)
    assert entry["certainty"] in {"certain", "probable"}


def test_ids_are_unique() -> None:
    ids = [e["id"] for e in AGENTS + NETWORKS]
    assert len(ids) == len(set(ids))


def _click(user_agent: str) -> dict:
    return {"type": "click", "id": "c1", "message_id": "m1", "timestamp": NOW,
            "url": "https://x.example/", "user_agent": user_agent}


def _open(user_agent: str) -> dict:
    return {"type": "open", "id": "o1", "message_id": "m1", "timestamp": NOW,
            "user_agent": user_agent}


HUMAN_AGENTS = [row["user_agent"] for row in _rows("fixture_human_user_agents.tsv")]


@pytest.mark.parametrize("user_agent", HUMAN_AGENTS + MODERN_BROWSERS)
def test_people_s_user_agents_raise_no_alarm(user_agent: str) -> None:
    engine = Engine()
    for event in (_open(user_agent),):
        verdict = engine.provisional(event_from_dict(event))
        alarms = [r.rule for r in verdict.reasons if r.weight > 0 and r.rule.startswith("ua.")
                  and r.rule not in _VERSION_RULES]
        assert alarms == [], f"{user_agent!r}: {alarms}"
        assert verdict.verdict == "human"


@pytest.mark.parametrize("user_agent", MODERN_BROWSERS)
def test_people_s_browsers_raise_no_alarm_on_clicks(user_agent: str) -> None:
    verdict = Engine().provisional(event_from_dict(_click(user_agent)))
    assert [r.rule for r in verdict.reasons if r.rule.startswith("ua.")] == []


@pytest.mark.parametrize("row", _rows("fixture_scanner_user_agents.tsv"), ids=lambda r: r["vendor"])
def test_previewers_and_proxies_from_parser_fixtures_are_recognised(row: dict) -> None:
    info = Engine().agents.analyse(row["user_agent"])
    expected = {"link_preview": "preview", "image_proxy": "image_proxy"}[row["category"]]
    assert info.entry is not None and info.entry.role == expected, row["user_agent"]


@pytest.mark.parametrize(("major", "when", "rule"), [
    (142, "2025-11-24T00:00:00Z", None),
    (125, "2025-11-24T00:00:00Z", "ua.outdated-browser"),
    (103, "2025-11-24T00:00:00Z", "ua.very-outdated-browser"),
    (103, "2022-08-01T00:00:00Z", None),
])
def test_browser_age_is_judged_at_the_time_of_the_request(major: int, when: str,
                                                          rule: str | None) -> None:
    agent = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
             f"Chrome/{major}.0.0.0 Safari/537.36")
    verdict = Engine().provisional(event_from_dict({**_click(agent), "timestamp": when}))
    found = [r.rule for r in verdict.reasons if r.rule in _VERSION_RULES]
    assert found == ([rule] if rule else [])


def test_crawler_list_is_overridden_for_mail_programs() -> None:
    outlook = "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.6326; Pro)"
    info = Engine().agents.analyse(outlook)
    assert info.crawler  # crawlerdetect alone would call Outlook a bot...
    verdict = Engine().provisional(event_from_dict(_open(outlook)))
    assert verdict.verdict == "human"  # ...the knowledge base knows better
    assert any(r.rule == "ua.mail-client" for r in verdict.reasons)


MAIL_PROGRAMS = _rows("mail_programs.tsv")
#: Where each kind of request comes from when a person makes it: the person's own line, or
#: (for a webmail image proxy) the provider's network.
_PERSON_LINE = "73.1.2.3"                    # a residential line (Comcast), in no list
_PROXY_LINES = {"GoogleImageProxy": "66.102.1.1", "YahooMailProxy": "98.136.1.1"}
_DELIVERED = 1_790_000_000.0                 # 2026-09-21


def _in_context(user_agent: str, kind: str) -> list[dict]:
    """A message delivered at _DELIVERED and a person's KIND of request two hours later."""
    ip = next((line for token, line in _PROXY_LINES.items() if token in user_agent),
              _PERSON_LINE)
    link = {"url": "https://shop.example/a", "kind": "content"}
    delivered = {"type": "delivered", "id": "d", "message_id": "m1", "campaign_id": "c",
                 "timestamp": _DELIVERED, "recipient": "ann@contoso.example",
                 "links": [link, {"url": "https://shop.example/b", "kind": "content"}]}
    event = {"type": kind, "id": "e", "message_id": "m1",
             "timestamp": _DELIVERED + 2 * 3600, "ip": ip, "user_agent": user_agent,
             "method": "GET", "headers": {"accept": "*/*", "accept-language": "en-US"}}
    if kind == "click":
        event |= {"url": link["url"], "link_index": 0, "link_kind": "content"}
    return [delivered, event]


@pytest.mark.parametrize(
    ("row", "kind"),
    [(row, kind) for row in MAIL_PROGRAMS for kind in row["requests"].split()],
    ids=lambda value: value if isinstance(value, str) else value["client"])
def test_mail_programs_people_read_with_are_judged_people(row: dict, kind: str) -> None:
    events = [event_from_dict(e) for e in _in_context(row["user_agent"], kind)]
    verdicts = {v.id: v for v in BatchClassifier().classify(events, expected=len(events))}
    verdict = verdicts["e"]
    alarms = [r.rule for r in verdict.reasons if r.weight > 0 and r.rule.startswith("ua.")
              and r.rule not in _VERSION_RULES]
    assert (verdict.verdict, alarms) == ("human", []), (row["client"], verdict.reasons)


@pytest.mark.parametrize("row", MAIL_PROGRAMS, ids=lambda row: row["client"])
def test_every_mail_program_is_known_even_where_a_crawler_list_calls_it_a_bot(
        row: dict) -> None:
    info = Engine().agents.analyse(row["user_agent"])
    assert info.entry is not None, row["client"]
    assert info.entry.role in {"mail_client", "image_proxy"}, (row["client"], info.entry.id)


def test_the_mail_program_corpus_is_sourced_and_dated() -> None:
    assert len(MAIL_PROGRAMS) >= 20
    for row in MAIL_PROGRAMS:
        assert row["source"].startswith("https://"), row
        date.fromisoformat(row["retrieved"])


def test_the_fast_ipv4_origin_is_iporigins_own_answer() -> None:
    """An IPv4 address outside the first octets the standard library holds non-global
    networks in is looked up in iporigin's table directly: the same answer as
    iporigin.classify, on random addresses and on the edges of the special ranges."""
    import random
    import socket

    import iporigin

    from clicksift.classify.networks import _origin_v4

    rng = random.Random(20261206)
    addresses = [socket.inet_ntoa(rng.getrandbits(32).to_bytes(4, "big"))
                 for _ in range(20_000)]
    addresses += ["10.1.2.3", "100.63.255.255", "100.64.0.1", "100.127.255.255",
                  "100.128.0.0", "192.0.0.9", "192.0.0.170", "192.0.0.172", "198.18.0.1",
                  "198.51.100.5", "203.0.113.9", "224.0.0.1", "255.255.255.255", "8.8.8.8",
                  "3.80.1.1", "17.58.1.1", "172.225.40.5", "40.107.1.1"]
    for address in addresses:
        origin = iporigin.classify(address)
        value = int.from_bytes(socket.inet_aton(address), "big")
        assert _origin_v4(address, value) == (origin.kind, origin.provider or ""), address


def test_every_gateway_entry_is_sourced_and_its_examples_match() -> None:
    table = load_gateways()
    assert {"microsoft_defender", "proofpoint", "mimecast", "barracuda", "cisco",
            "trend_micro", "forcepoint", "symantec", "sophos", "google_workspace",
            "gmail", "yahoo"} <= {entry.vendor for entry in table.entries}
    raw = json.loads((Path(__file__).parents[1] / "src/clicksift/data/knowledge/"
                      "gateways.json").read_text())
    for entry in raw["entries"]:
        assert entry["source"] and entry["date"] >= "2026-01-01", entry["id"]
        assert entry["role"] in ("gateway", "mailbox_provider")
        for host in entry["examples"]:
            matched = table.match_host(host)
            assert matched is not None and matched.id == entry["id"], (entry["id"], host)
        for host in entry["counter_examples"]:
            matched = table.match_host(host)
            assert matched is None or matched.id != entry["id"], (entry["id"], host)
