"""The engine's public calls and each signal at the edges of its thresholds.

tests/test_rules.py pins every rule with an example and a near miss; this file pins what
mutation testing (``make mutation``) found no test for: the edges of each threshold, the
spellings a signal accepts, and the engine's calls outside batch classification.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from clicksift.classify import Engine
from clicksift.classify.engine import engine_from_settings
from clicksift.classify.knowledge import KNOWLEDGE_PACKAGE
from clicksift.classify.vocabulary import Finding
from clicksift.events import event_from_dict, format_timestamp
from clicksift.settings import Settings

T0 = 1_790_000_000.0
CHROME = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
          "Chrome/131.0.0.0 Safari/537.36")
BROWSER = {"accept": "text/html,application/xhtml+xml", "accept-language": "en-GB"}


def event(at: float = 7200.0, **fields: Any) -> dict[str, Any]:
    return {"type": "click", "id": "e", "message_id": "m1", "timestamp": T0 + at,
            "url": "https://shop.example/1", "link_kind": "content", "ip": "73.1.2.3",
            "user_agent": CHROME, "method": "GET", "headers": dict(BROWSER), **fields}


def rules_of(verdict: Any) -> list[str]:
    return [reason.rule for reason in verdict.reasons]


# -- the engine's calls ----------------------------------------------------------------------

def test_judge_is_final_by_default_and_names_what_was_missing() -> None:
    engine = Engine()
    found = Finding("req.head", 2.5, "a HEAD request", None, None, False, None)
    verdict = engine.judge("x", [[*found]], ("user agent",))
    assert verdict.id == "x" and verdict.final is True
    missing = [r for r in verdict.reasons if r.rule == "evidence.missing"]
    assert missing and missing[0].detail == "not in the event: user agent"
    assert engine.judge("x", [[*found]], final=False).final is False


def test_provisional_times_the_request_from_the_token_and_is_not_final() -> None:
    engine = Engine()
    prepared = format_timestamp(T0)
    early = engine.provisional(event_from_dict(event(5.0, prepared_at=prepared)))
    assert early.id == "e" and early.final is False
    assert "timing.within-seconds-of-delivery" in rules_of(early)
    late = engine.provisional(event_from_dict(event(7200.0, prepared_at=prepared)))
    assert "timing.hours-after-delivery" in rules_of(late)
    # An unreadable issue time is no delivery time: no timing at all, and no error.
    blind = engine.provisional(event_from_dict(event(5.0, prepared_at="yesterday-ish")))
    assert not [r for r in rules_of(blind) if r.startswith("timing.")]
    bare = engine.provisional(event_from_dict(event(5.0, user_agent=None, ip=None)))
    missing = [r.detail for r in bare.reasons if r.rule == "evidence.missing"]
    assert missing and "user agent" in missing[0], bare


def test_uncorroborated_reason_names_the_bases_it_rested_on() -> None:
    """A crawler list's word alone: strong evidence on the identity basis only."""
    googlebot = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
    verdict = Engine().provisional(event_from_dict(event(user_agent=googlebot)))
    reason = [r for r in verdict.reasons if r.rule == "evidence.uncorroborated"]
    assert verdict.verdict == "human" and reason, verdict
    assert reason[0].detail == "the machine evidence rests on identity alone"


def test_engine_from_settings_takes_threshold_rules_and_knowledge(tmp_path: Path) -> None:
    from importlib import resources
    shipped = resources.files(KNOWLEDGE_PACKAGE)
    for name in ("user_agents.json", "networks.json"):
        data = json.loads((shipped / name).read_text("utf-8"))
        data["version"] = f"test-{name[:2]}"
        (tmp_path / name).write_text(json.dumps(data), "utf-8")
    engine = engine_from_settings(Settings(nhi_threshold=0.8, disabled_rules=["req.*"],
                                           knowledge_dir=str(tmp_path)))
    assert engine.config.threshold == 0.8
    assert engine.config.weight("req.head") is None
    assert engine.config.weight("ua.known-scanner") is not None
    assert "test-us" in engine.version and "test-ne" in engine.version
    assert "test-us" not in engine_from_settings(Settings()).version


# -- ESP hints -------------------------------------------------------------------------------

@pytest.mark.parametrize("value", [True, 1, "true", "Yes", " 1 ", "apple", "bot"])
def test_an_esp_flag_set_to_a_true_value_marks_a_machine(value: Any) -> None:
    verdict = Engine().provisional(event_from_dict(event(esp_flags={"is_bot": value})))
    assert "esp.machine-flag" in rules_of(verdict)
    reason = next(r for r in verdict.reasons if r.rule == "esp.machine-flag")
    assert reason.detail == f"the ESP marked it: is_bot={value!r}"


@pytest.mark.parametrize("value", [False, 0, None, "", "false", "0", "no", "None", "NULL",
                                   " False "])
def test_an_esp_flag_set_to_a_false_value_is_no_evidence(value: Any) -> None:
    verdict = Engine().provisional(event_from_dict(event(esp_flags={"is_bot": value})))
    assert "esp.machine-flag" not in rules_of(verdict)


def test_esp_flags_outside_the_list_say_nothing_and_apple_values_name_apple() -> None:
    quiet = Engine().provisional(event_from_dict(event(esp_flags={"campaign": "yes"})))
    assert "esp.machine-flag" not in rules_of(quiet)
    for key, value, kind, vendor in (
            ("sg_machine_open", True, "privacy_prefetch", "apple_mpp"),
            ("machine_open", True, "privacy_prefetch", None),
            ("proxy_open", "Apple-MPP", "privacy_prefetch", "apple_mpp"),
            ("bot", "yes", "unknown_automation", None),
            ("Apple Privacy Open", True, "privacy_prefetch", "apple_mpp")):    # Klaviyo
        flags = {"campaign": "x", key: value}
        verdict = Engine().provisional(event_from_dict(event(type="open", esp_flags=flags)))
        found = [r for r in verdict.reasons if r.rule == "esp.machine-flag"]
        assert found and (found[0].kind, found[0].vendor) == (kind, vendor), (key, verdict)


@pytest.mark.parametrize("flags", [{"Bot Click": True}, {"is_suspected_bot_click": True},
                                   {"Apple Privacy Open": False}])
def test_an_esps_suspicion_or_a_false_flag_is_no_evidence_but_its_report_counts_it(
        flags: dict[str, Any]) -> None:
    """Klaviyo's bot clicks and Braze's suspected bot clicks are the ESP's suspicion: the
    classifier does not take them as evidence; the report's comparison counts them as
    what the ESP calls a machine."""
    from clicksift.classify.signals.esp import esp_says_machine

    verdict = Engine().provisional(event_from_dict(event(esp_flags=flags)))
    assert "esp.machine-flag" not in rules_of(verdict)
    assert esp_says_machine(flags) is (True in flags.values())


# -- calibration -----------------------------------------------------------------------------

def test_calibration_sharpens_scores_without_moving_a_verdict() -> None:
    """Temperature scaling: one slope on the log-odds keeps the order of the events and the
    0.5 point, so labels stay; scores move away from 0.5 (docs/classifier.md)."""
    from clicksift.classify import BatchClassifier, ClassifierConfig
    from clicksift.errors import ConfigError
    from clicksift.simulate import SimulationConfig, events_and_truth, simulate

    events, _ = events_and_truth(simulate(SimulationConfig(recipients=120, campaigns=1,
                                                           seed=5)))
    parsed = [event_from_dict(e) for e in events]
    calibrated = {v.id: v for v in BatchClassifier().classify(parsed)}
    plain = {v.id: v for v in BatchClassifier(
        Engine(ClassifierConfig(calibration=1.0))).classify(parsed)}
    assert Engine().config.calibration > 1
    assert {k: v.verdict for k, v in calibrated.items()} == \
        {k: v.verdict for k, v in plain.items()}
    sharper = [k for k, v in plain.items()
               if abs(calibrated[k].score - 0.5) > abs(v.score - 0.5)]
    duller = [k for k, v in plain.items()
              if abs(calibrated[k].score - 0.5) < abs(v.score - 0.5) - 1e-4]
    assert sharper and not duller
    with pytest.raises(ConfigError, match="calibration slope"):
        ClassifierConfig(calibration=0.0)


# -- message context -------------------------------------------------------------------------

LINKS = [{"url": f"https://shop.example/{n}", "kind": "content"} for n in range(6)]


def message(*clicks: dict[str, Any]) -> list[Any]:
    delivered = {"type": "delivered", "id": "d", "message_id": "m1", "timestamp": T0,
                 "recipient": "ann@contoso.example", "links": LINKS, "campaign_id": "c"}
    return [event_from_dict(e) for e in (delivered, *clicks)]


def judged(*clicks: dict[str, Any]) -> dict[str, Any]:
    from clicksift.classify import BatchClassifier
    return {v.id: v for v in BatchClassifier().classify(message(*clicks))}


def link_click(event_id: str, at: float, link: int, ip: str,
               headers: dict[str, str] | None = None) -> dict[str, Any]:
    return event(at, id=event_id, url=LINKS[link]["url"], link_index=link, ip=ip,
                 headers=dict(BROWSER) if headers is None else headers)


def test_a_pool_of_addresses_on_most_links_is_a_farm_unless_people_navigated() -> None:
    """Four addresses on four of six links within seconds: a scanner's pool. People who
    each clicked one link (the browser says so: Sec-Fetch-User) are not."""
    farm = judged(*[link_click(f"f{n}", 3600.0 + n, n, f"198.51.{n}.7") for n in range(4)])
    assert all("context.all-links-burst" in rules_of(farm[f"f{n}"]) for n in range(4))
    people = dict(BROWSER, **{"sec-fetch-user": "?1", "sec-fetch-mode": "navigate"})
    crowd = judged(*[link_click(f"p{n}", 3600.0 + n, n, f"198.51.{n}.7", people)
                     for n in range(4)])
    assert not any("context.all-links-burst" in rules_of(v) for v in crowd.values())


def test_a_person_clicking_just_after_a_farm_scanned_the_message_is_not_in_the_farm() -> None:
    """The scan fetched four links from four addresses; seconds later the person's browser
    follows a link the scan had fetched already: it joined no farm."""
    clicks = [link_click(f"f{n}", 60.0 + n, n, f"198.51.{n}.7") for n in range(4)]
    follower = judged(*clicks, link_click("p", 66.0, 0, "73.1.2.3"))
    assert "context.all-links-burst" not in rules_of(follower["p"])
    assert all("context.all-links-burst" in rules_of(follower[f"f{n}"]) for n in range(4))
    # near miss: the same address fetching a link nobody had fetched yet is part of it
    fetcher = judged(*clicks, link_click("p", 66.0, 4, "73.1.2.3"))
    assert "context.all-links-burst" in rules_of(fetcher["p"])
    # a rescan hours later, from other addresses, over the links the scan had fetched: a
    # farm again (following is seconds, not hours)
    rescan = [link_click(f"r{n}", 7200.0 + n, n, f"203.0.{n}.9") for n in range(4)]
    again = judged(*clicks, *rescan)
    assert all("context.all-links-burst" in rules_of(again[f"r{n}"]) for n in range(4))


IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 "
          "(KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1")
FIREFOX = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0"


def test_a_person_clicking_while_a_farm_scans_is_no_part_of_the_farm() -> None:
    """A scanner's pool (one browser stack, one network) fetches four links within seconds;
    in the same seconds a person clicks the fifth on a phone, from a home address: that
    click shares neither the pool's user agent nor its network, and is no part of it."""
    farm = [link_click(f"f{n}", 3600.0 + n, n, f"198.51.{n}.7") for n in range(4)]
    person = dict(link_click("p", 3602.5, 4, "73.1.2.3"), user_agent=IPHONE)
    verdicts = judged(*farm, person)
    assert "context.all-links-burst" not in rules_of(verdicts["p"])
    assert all("context.all-links-burst" in rules_of(verdicts[f"f{n}"]) for n in range(4))
    # near miss: the same click with the pool's user agent is one more of its fetches
    same_stack = judged(*farm, dict(person, user_agent=CHROME))
    assert "context.all-links-burst" in rules_of(same_stack["p"])
    # near miss: from the pool's network with another user agent, it is one of them too
    same_network = judged(*farm, dict(person, ip="198.51.9.7"))
    assert "context.all-links-burst" in rules_of(same_network["p"])


def test_a_scan_that_changes_agent_and_network_on_every_fetch_is_still_a_farm() -> None:
    """Strays are the odd ones out of a pattern: when every fetch has its own user agent
    and network there is no pattern to stray from, and the burst is the evidence."""
    agents = [CHROME, IPHONE, FIREFOX, CHROME.replace("Chrome/131", "Chrome/130")]
    rotating = [dict(link_click(f"r{n}", 3600.0 + n, n, f"{198 + n}.51.0.7"),
                     user_agent=agents[n]) for n in range(4)]
    verdicts = judged(*rotating)
    assert all("context.all-links-burst" in rules_of(verdicts[f"r{n}"]) for n in range(4))


def test_a_person_opening_links_in_tabs_is_no_two_links_burst() -> None:
    """Two links from one address within three seconds, one of them a navigation the
    browser marks as the person's (Sec-Fetch-User): the same browser opening tabs."""
    person = dict(BROWSER, **{"sec-fetch-user": "?1", "sec-fetch-mode": "navigate"})
    first = link_click("a", 7200.0, 0, "40.115.13.205", person)
    second = link_click("b", 7201.5, 1, "40.115.13.205")
    tabs = judged(first, second)
    assert "context.two-links-burst" not in rules_of(tabs["a"])
    assert "context.two-links-burst" not in rules_of(tabs["b"])
    # near miss: the person's navigation came from another browser on that address
    other = judged(dict(first, user_agent=FIREFOX), second)
    assert "context.two-links-burst" in rules_of(other["b"])
    # near miss: no navigation marked as a person's
    plain = judged(link_click("a", 7200.0, 0, "40.115.13.205"), second)
    assert "context.two-links-burst" in rules_of(plain["b"])


SECURE = {**BROWSER, ":scheme": "https"}


@pytest.mark.parametrize(("agent", "headers", "fires"), [
    (CHROME, SECURE, True),
    (CHROME, {**SECURE, "sec-fetch-site": "cross-site"}, False),   # sent one of them
    (CHROME, BROWSER, False),                          # scheme unknown (an ESP's event)
    (CHROME.replace("Chrome/131", "Chrome/79"), SECURE, False),    # before Sec-Fetch-Dest
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:90.0) Gecko/20100101 Firefox/90.0",
     SECURE, True),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:89.0) Gecko/20100101 Firefox/89.0",
     SECURE, False),
    # Chrome on iOS is WebKit underneath: its own version says nothing about fetch metadata
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 15_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
     "like Gecko) CriOS/131.0.6778.73 Mobile/15E148 Safari/604.1", SECURE, False),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like "
     "Gecko) Version/17.1 Safari/605.1.15", SECURE, True),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like "
     "Gecko) Version/16.3 Safari/605.1.15", SECURE, False),
])
def test_a_secure_navigation_without_the_fetch_metadata_its_browser_sends(
        agent: str, headers: dict[str, str], fires: bool) -> None:
    verdict = judged(event(user_agent=agent, headers=headers))["e"]
    assert ("req.no-fetch-metadata" in rules_of(verdict)) is fires


def test_an_unsubscribe_form_posted_without_fetch_metadata_is_noted_and_an_open_is_not() -> None:
    posted = event(type="unsubscribe", method="POST", form={"confirm": "yes"}, headers=SECURE)
    image = {"type": "open", "id": "o", "message_id": "m1", "timestamp": T0 + 7200,
             "ip": "73.1.2.3", "user_agent": CHROME, "method": "GET", "headers": SECURE}
    verdicts = judged(posted, image)
    assert "req.no-fetch-metadata" in rules_of(verdicts["e"])
    assert "req.no-fetch-metadata" not in rules_of(verdicts["o"])


def test_a_finding_is_added_once_however_many_patterns_find_it() -> None:
    """One source's burst over four links and a second address in the same seconds: the
    source's own burst and the pool's are one finding on each event, not two."""
    clicks = [link_click(f"a{n}", 3600.0 + n, n, "198.51.100.7") for n in range(4)]
    clicks.append(link_click("b", 3601.5, 4, "203.0.113.9"))
    verdicts = judged(*clicks)
    for n in range(4):
        assert rules_of(verdicts[f"a{n}"]).count("context.all-links-burst") == 1


# -- cross-message ---------------------------------------------------------------------------

def test_a_domains_gateway_window_is_half_again_its_95th_percentile_delay() -> None:
    from clicksift.classify.signals.crossmessage import _DomainProfile

    def profile(*delays: float) -> Any:
        return _DomainProfile(delays=[(n, delay) for n, delay in enumerate(delays)])

    assert profile(300.0).window() == 120.0        # too few delays: 2 min
    assert profile(200.0, 200.0).window() == 300.0
    assert profile(10.0, 20.0).window() == 120.0   # never under 2 min
    # 1..100 s: the 95th percentile (exclusive method) is 95.95 s, the window 143.925 s.
    wide = profile(*[float(n) for n in range(1, 101)]).window()
    assert wide == pytest.approx(143.925)


def test_a_domains_gateway_vendor_needs_half_of_its_scans() -> None:
    from collections import Counter

    from clicksift.classify.signals.crossmessage import _DomainProfile

    def vendor(**counts: int) -> str | None:
        return _DomainProfile(vendors=Counter(counts)).vendor()

    assert vendor() is None
    assert vendor(proofpoint=2, mimecast=1, cisco=1) == "proofpoint"     # exactly half
    assert vendor(proofpoint=1, mimecast=1, cisco=1) is None
    assert vendor(cisco=1, proofpoint=3) == "proofpoint"
    # a tie at half each: the first name in order, whichever was counted first
    assert vendor(proofpoint=2, mimecast=2) == vendor(mimecast=2, proofpoint=2) == "mimecast"


def recipients(count: int, at: float, ip: str = "68.232.130.9", domains: int = 1,
               spread: float = 20.0) -> list[Any]:
    """One address clicking in COUNT recipients' messages, AT seconds after each delivery,
    the messages delivered SPREAD seconds apart."""
    events = []
    for n in range(count):
        delivered_at = T0 + n * spread
        events += [{"type": "delivered", "id": f"d{n}", "message_id": f"m{n}",
                    "timestamp": delivered_at, "recipient": f"p{n}@co{n % domains}.example",
                    "links": LINKS, "campaign_id": "c"},
                   {"type": "click", "id": f"c{n}", "message_id": f"m{n}",
                    "timestamp": delivered_at + at, "url": LINKS[0]["url"], "link_index": 0,
                    "link_kind": "content", "ip": ip, "user_agent": CHROME, "method": "GET",
                    "headers": dict(BROWSER)}]
    from clicksift.classify import BatchClassifier
    return list(BatchClassifier().classify([event_from_dict(e) for e in events]))


def test_one_source_on_many_recipients_counts_up_to_five_minutes_typical_delay() -> None:
    at_limit = recipients(5, 300.0)
    assert all("crossmsg.source-many-recipients" in rules_of(v) for v in at_limit)
    beyond = recipients(5, 301.0)
    assert not any("crossmsg.source-many-recipients" in rules_of(v) for v in beyond)
    assert not any("crossmsg.source-many-recipients" in rules_of(v)
                   for v in recipients(4, 60.0))


def test_one_source_people_navigate_from_on_a_fifth_of_its_messages_is_a_shared_address(
) -> None:
    """A company's NAT: five colleagues' clicks within minutes of delivery, one of them
    marked by the browser as the person's own (Sec-Fetch-User: ?1): its reach is people's."""
    def with_people(count: int) -> list[Any]:
        from clicksift.classify import BatchClassifier
        events = []
        for n in range(5):
            events += [{"type": "delivered", "id": f"d{n}", "message_id": f"m{n}",
                        "timestamp": T0 + n * 20, "recipient": f"p{n}@co.example",
                        "links": LINKS, "campaign_id": "c"},
                       event(n * 20 + 60.0, id=f"c{n}", message_id=f"m{n}",
                             ip="68.232.130.9", link_index=0, headers=dict(
                                 BROWSER, **({"sec-fetch-user": "?1"} if n < count else {})))]
        return list(BatchClassifier().classify([event_from_dict(e) for e in events]))

    assert not any("crossmsg.source-many-recipients" in rules_of(v) for v in with_people(1))
    assert all("crossmsg.source-many-recipients" in rules_of(v)
               for v in with_people(0) if v.id.startswith("c"))


def test_one_source_straddling_a_ten_minute_boundary_is_still_counted() -> None:
    """Five messages two minutes apart span the edge of a fixed ten-minute slot; the
    half-shifted slots still hold all five."""
    offset = (T0 // 600 + 1) * 600 - T0 - 240.0       # the third click falls on the edge
    found = recipients(5, offset + 0.0, spread=120.0)
    assert all("crossmsg.source-many-recipients" in rules_of(v) for v in found), found


def test_one_source_on_several_companies_names_them() -> None:
    found = recipients(6, 60.0, domains=3)
    reason = next(r for r in found[-1].reasons if r.rule == "crossmsg.source-many-domains")
    assert reason.detail == "68.232.130.0/24 acted on 6 messages to 3 domains within 10 minutes"
    assert reason.kind == "security_scanner"
    single = recipients(6, 60.0)
    reason = next(r for r in single[-1].reasons if r.rule == "crossmsg.source-many-recipients")
    assert reason.detail == "68.232.130.0/24 acted on 6 recipients' messages within 10 minutes"


# -- timing and browser age ------------------------------------------------------------------

@pytest.mark.parametrize(("seconds", "shown"), [
    (0.4, "0 s"), (89.4, "89 s"), (90.0, "2 min"), (5399.0, "90 min"), (5400.0, "1.5 h"),
    (36_000.0, "10.0 h")])
def test_times_since_delivery_read_as_people_say_them(seconds: float, shown: str) -> None:
    from clicksift.classify.signals.timing import _duration
    assert _duration(seconds) == shown


@pytest.mark.parametrize(("behind", "rule"), [
    (11, None), (12, "ua.outdated-browser"), (39, "ua.outdated-browser"),
    (40, "ua.very-outdated-browser")])
def test_a_browser_is_outdated_from_twelve_releases_and_very_from_forty(
        behind: int, rule: str | None) -> None:
    from clicksift.simulate.world import chrome_ua

    found = rules_of(Engine().provisional(event_from_dict(
        event(7200.0, user_agent=chrome_ua(T0 + 7200.0, behind)))))
    aged = [r for r in found if r in {"ua.outdated-browser", "ua.very-outdated-browser"}]
    assert aged == ([rule] if rule else []), found


def scan(n: int, delta: float, *, domain: str = "big.example", source: str = "s1",
         rules: tuple[str, ...] = ("context.all-links-burst",), vendor: str | None = None,
         address: str | None = None, kind: str = "click", at: float | None = None) -> Any:
    """One message's one event as the second pass sees it (a EventDigest): DELTA seconds after
    its delivery, at T0 + N + AT (AT defaults to DELTA)."""
    from clicksift.classify.observe import EventDigest
    from clicksift.classify.vocabulary import finding

    flat: list[Any] = []
    for rule in rules:
        flat += finding(rule, 1.0, "test", "security_scanner", vendor)
    ts = T0 + n + (delta if at is None else at)
    return EventDigest(n, f"e{n}", kind, ts, f"m{n:04d}", domain, source, address, delta, flat,
                   ())


def cross_rules(cross: Any, event: Any) -> list[str]:
    from clicksift.classify.flat_findings import FIELDS
    before = len(event.findings)
    cross.apply([event])
    return event.findings[before::FIELDS]


def aggregator(*events: Any) -> Any:
    from clicksift.classify.signals.crossmessage import CrossMessage
    cross = CrossMessage()
    for event in events:
        cross.observe_message([event])
    return cross


@pytest.mark.parametrize("split", ["halves", "reversed", "shuffled thirds"])
def test_merging_any_split_equals_seeing_everything(split: str) -> None:
    """Messages aggregated apart, in any order and any split (buckets, processes, Spark
    partitions), merge into what one pass would have seen, the memory caps (64 delays per
    source window, 500 per domain) included."""
    import random
    events = [scan(n, 5.0 + n % 40, vendor=("proofpoint", "mimecast")[n % 2],
                   rules=(("context.all-links-burst", "req.user-activation") if n % 7 == 0
                          else ("context.all-links-burst",)),
                   address=f"198.51.100.{n % 200}") for n in range(1200)]
    whole = aggregator(*events)
    if split == "halves":
        parts = [events[:600], events[600:]]
    elif split == "reversed":
        parts = [events[600:][::-1], events[:600][::-1]]
    else:
        shuffled = events[:]
        random.Random(7).shuffle(shuffled)
        parts = [shuffled[:350], shuffled[350:900], shuffled[900:]][::-1]
    first = aggregator(*parts[0])
    for part in parts[1:]:
        first.merge(aggregator(*part))
    state = ("_scanner_addresses", "_person_addresses")
    for name in state:
        assert getattr(first, name) == getattr(whole, name), name
    assert {k: (w.messages, w.domains, w.deltas) for k, w in first._windows.items()} == \
        {k: (w.messages, w.domains, w.deltas) for k, w in whole._windows.items()}
    assert {d: (p.messages, p.scanned, p.delays, p.vendors) for d, p in first._domains.items()} \
        == {d: (p.messages, p.scanned, p.delays, p.vendors) for d, p in whole._domains.items()}
    assert all(len(w.deltas) <= 64 for w in whole._windows.values())
    assert len(whole._domains["big.example"].delays) == 500


def test_an_address_keeps_the_two_smallest_messages_it_scanned() -> None:
    cross = aggregator(*[scan(n, 5.0, rules=("context.honeypot",), address="192.0.2.1")
                         for n in (5, 3, 9, 3, 1, 7)])
    assert cross._scanner_addresses["192.0.2.1"] == ("m0001", "m0003")
    found = cross_rules(cross, scan(1, 7200.0, rules=(), address="192.0.2.1"))
    assert found == ["crossmsg.scanner-address"]
    people = aggregator(scan(1, 5.0, rules=("context.honeypot",), address="192.0.2.1"),
                        scan(2, 9.0, rules=("req.user-activation",), address="192.0.2.1"))
    assert cross_rules(people, scan(3, 7200.0, rules=(), address="192.0.2.1")) == []


def test_requests_count_for_a_source_from_delivery_to_half_an_hour_after() -> None:
    for delta, counted in ((0.0, True), (-0.5, False), (1800.0, True), (1800.5, False)):
        cross = aggregator(*[scan(n, 10.0, rules=()) for n in range(4)],
                           scan(4, delta, rules=(), at=10.0))
        found = cross_rules(cross, scan(0, 10.0, rules=()))
        assert ("crossmsg.source-many-recipients" in found) == counted, (delta, found)
    opens = aggregator(*[scan(n, 10.0, rules=(), kind="open") for n in range(6)])
    assert cross_rules(opens, scan(0, 10.0, rules=())) == []


def test_a_domain_is_scanned_when_half_its_messages_were_scanned_within_half_an_hour(
        ) -> None:
    person = scan(99, 20.0, rules=())
    for scans, delay, profiled in ((2, 10.0, True), (1, 10.0, False), (2, 1800.0, True),
                                   (2, 1800.5, False)):
        events = [scan(n, delay, source=f"s{n}") for n in range(scans)]
        events += [scan(10 + n, 7200.0, rules=(), source=f"p{n}") for n in range(4 - scans)]
        found = cross_rules(aggregator(*events), person)
        assert ("crossmsg.domain-gateway-pattern" in found) == profiled, (scans, delay)
    # Clicks without scanner evidence, and opens with it, scan no domain.
    quiet = aggregator(*[scan(n, 10.0, rules=(), source=f"s{n}") for n in range(4)],
                       *[scan(10 + n, 10.0, kind="open", source=f"o{n}") for n in range(4)])
    assert cross_rules(quiet, scan(99, 20.0, rules=())) == []


def test_a_domains_gateway_is_the_vendor_behind_most_of_its_scans() -> None:
    events = [scan(n, 10.0, source=f"s{n}", vendor=vendor)
              for n, vendor in enumerate(("mimecast", "mimecast", "proofpoint", "proofpoint",
                                          "proofpoint"))]
    cross = aggregator(*events)
    person = scan(99, 20.0, rules=())
    cross.apply([person])
    assert person.findings[4] == "proofpoint"
