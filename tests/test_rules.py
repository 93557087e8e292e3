"""Every rule pinned: an example that fires it and a near miss that does not, and the
evidence discipline (docs/classifier.md) over the whole rule table.

Each case is a small message (or a few) of events in the shape of docs/events.md, judged
by the batch classifier with full message and cross-message context; the case names the
event whose reasons must (or must not) hold the rule.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from clicksift.classify import BatchClassifier, Engine
from clicksift.classify.rules import (
    BASES,
    DECISIVE,
    NEUTRAL,
    PERSON,
    RULES,
    STRENGTHS,
    STRONG,
    WEAK,
)
from clicksift.classify.signals.context import (
    FOLLOW_FORM,
    FOLLOW_HEAD,
    NEIGHBOUR_WINDOW,
    POOL_ADDRESSES,
    POOL_WINDOW,
)
from clicksift.classify.signals.crossmessage import SCAN_PARTY_WINDOW
from clicksift.events import event_from_dict
from clicksift.simulate.world import chrome_ua

T0 = 1_790_000_000.0                      # 2026-09-21, when the delivered events land
HOUR = 3600.0
CONTENT = 8
LINKS = ([{"url": f"https://shop.example/{n}", "kind": "content"} for n in range(CONTENT)]
         + [{"url": "https://shop.example/", "kind": "honeypot"},
            {"url": "https://t.example/u/x", "kind": "unsubscribe"}])
HONEYPOT, UNSUBSCRIBE = CONTENT, CONTENT + 1
HOME = "73.1.2.3"                         # a residential line (Comcast), in no list
HOME_2 = "86.130.5.6"                     # another one (BT)
EOP = "40.107.1.1"                        # Exchange Online Protection (vendor-certain)
M365 = "52.96.1.1"                        # Microsoft 365 service network (vendor-probable)
APPLE = "17.58.1.1"                       # Apple's own block (Mail Privacy Protection)
RELAY = "172.225.40.5"                    # an iCloud Private Relay exit
AWS = "3.80.1.1"
GOOGLE = "66.102.1.1"                     # Google's cloud, where its image proxy runs
GOOGLEBOT = "66.249.66.1"                 # Googlebot's published range
ZSCALER = "165.225.1.1"
BROWSER = {"accept": "text/html,application/xhtml+xml", "accept-language": "en-GB",
           "sec-fetch-mode": "navigate", "sec-fetch-dest": "document"}
IMAGE = {"accept": "image/avif,image/webp,*/*", "accept-language": "en-GB"}
OUTLOOK = "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17928; Pro)"
GMAIL_PROXY = ("Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 "
               "(via ggpht.com GoogleImageProxy)")


def chrome(behind: int = 0) -> str:
    return chrome_ua(T0, behind)


def delivered(message: str = "m1", recipient: str = "ann@contoso.example") -> dict[str, Any]:
    return {"type": "delivered", "id": f"{message}:d", "message_id": message,
            "timestamp": T0, "recipient": recipient, "links": LINKS, "campaign_id": "c"}


def click(event_id: str, at: float, index: int = 0, ip: str = HOME, *,
          ua: str | None = None, headers: dict[str, str] | None = None, method: str = "GET",
          message: str = "m1") -> dict[str, Any]:
    kind = LINKS[index]["kind"]
    return {"type": "click", "id": event_id, "message_id": message, "timestamp": T0 + at,
            "url": LINKS[index]["url"], "link_index": index, "link_kind": kind, "ip": ip,
            "user_agent": chrome() if ua is None else ua, "method": method,
            "headers": dict(BROWSER) if headers is None else headers}


def open_(event_id: str, at: float, ip: str = HOME, *, ua: str | None = None,
          headers: dict[str, str] | None = None, message: str = "m1") -> dict[str, Any]:
    return {"type": "open", "id": event_id, "message_id": message, "timestamp": T0 + at,
            "ip": ip, "user_agent": chrome() if ua is None else ua, "method": "GET",
            "headers": dict(IMAGE) if headers is None else headers}


def without(headers: dict[str, str], *names: str) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k not in names}


def one(event: dict[str, Any]) -> list[dict[str, Any]]:
    """A message delivered at T0 and EVENT (whose id is 'e')."""
    return [delivered(), event]


def burst(links: int, ip: str = AWS, at: float = 40.0, gap: float = 1.5
          ) -> list[dict[str, Any]]:
    return [click(f"b{n}", at + n * gap, n, ip, ua=chrome(), headers=BROWSER)
            for n in range(links)]


def many_messages(count: int, domains: int, ip_base: str = "68.232.130.") -> list[dict]:
    """One source clicking a link in COUNT recipients' messages within minutes of their
    delivery, spread over DOMAINS recipient domains; the last click is 'e'."""
    events: list[dict[str, Any]] = []
    for n in range(count):
        message = f"m{n + 1}"
        events.append(delivered(message, f"p{n}@company{n % domains}.example"))
        events.append(click("e" if n == count - 1 else f"c{n}", 90.0 + n * 20, 0,
                            f"{ip_base}{n + 1}", message=message))
    return events


def gateway_domain(scanned: int, person_at: float) -> list[dict[str, Any]]:
    """SCANNED messages to fabrikam.example fetched from EOP seconds after delivery, and a
    person's click (no user activation) PERSON_AT seconds after delivery of another."""
    events: list[dict[str, Any]] = []
    for n in range(scanned):
        message = f"s{n}"
        events += [delivered(message, f"s{n}@fabrikam.example"),
                   click(f"scan{n}", 10.0, 0, EOP, ua=chrome(20), headers={},
                         message=message)]
    events += [delivered("m1", "ann@fabrikam.example"),
               click("e", person_at, 0, HOME_2, message="m1")]
    return events


def honeypot_elsewhere(other_ip: str) -> list[dict[str, Any]]:
    """An address fetched message m0's honeypot; then OTHER_IP clicks in message m1."""
    return [delivered("m0", "bob@northwind.example"),
            click("trap", 20.0, HONEYPOT, "68.232.140.9", ua=chrome(), message="m0"),
            delivered("m1", "ann@contoso.example"),
            click("e", 2 * HOUR, 0, other_ip, ua=chrome(), message="m1")]


def click_check(gap: float) -> list[dict[str, Any]]:
    """A Microsoft 365 address fetches a link GAP seconds before a person's browser."""
    return [delivered(),
            click("check", 2 * HOUR, 2, M365, ua=chrome(15), headers={}),
            click("e", 2 * HOUR + gap, 2, HOME)]


def unsubscribe(form: dict[str, str]) -> list[dict[str, Any]]:
    event = click("e", 2 * HOUR, UNSUBSCRIBE, GOOGLE, ua="", headers={}, method="POST")
    event.update(type="unsubscribe", form=form)
    return one(event)


def esp_unsubscribe_after(*clicks: dict[str, Any]) -> list[dict[str, Any]]:
    """CLICKS, then an unsubscribe an ESP recorded two seconds after the first: no address,
    no user agent, no request of its own."""
    unsub = {"type": "unsubscribe", "id": "e", "message_id": "m1", "url": "",
             "timestamp": clicks[0]["timestamp"] + 2.0, "source": "braze"}
    return [delivered(), *clicks, unsub]


def scan_party(gap: float) -> list[dict[str, Any]]:
    """68.232.140.9 fetched message m0's honeypot; hours after m1's delivery another address
    sends HEAD for one of m1's links, and GAP seconds later 68.232.140.9 follows another
    ('e')."""
    return [*honeypot_elsewhere("68.232.140.9")[:2], delivered("m1"),
            click("h", 2 * HOUR, 1, "68.232.141.20", method="HEAD", message="m1"),
            click("e", 2 * HOUR + gap, 0, "68.232.140.9", message="m1")]


def neighbour_after_head(ip: str, gap: float = 20.0, index: int = 0,
                         headers: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """68.232.141.20 sends HEAD for link 1 hours after delivery; GAP seconds later IP
    follows link INDEX ('e')."""
    return [delivered(), click("h", 2 * HOUR, 1, "68.232.141.20", method="HEAD"),
            click("e", 2 * HOUR + gap, index, ip, headers=headers)]


def pool(addresses: list[str], gap: float = 10.0, *, at: float = 120.0,
         ua: str | None = None, headers: dict[str, str] | None = None
         ) -> list[dict[str, Any]]:
    """One user agent following a link of the message from each of ADDRESSES in turn,
    GAP seconds apart, starting AT seconds after delivery; the last click is 'e'."""
    last = len(addresses) - 1
    return [delivered(), *(click("e" if n == last else f"p{n}", at + n * gap, n, ip, ua=ua,
                                 headers=headers) for n, ip in enumerate(addresses))]


POOL = [f"68.232.{130 + n}.{7 + n}" for n in range(POOL_ADDRESSES)]


def head_then_get(gap: float, *, get_ip: str = HOME, get_ua: str | None = None,
                  get_headers: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """Hours after delivery, one client sends HEAD for a link, then (GAP seconds later)
    a browser's GET of it, 'e', from GET_IP with GET_UA."""
    return [delivered(), click("h", 2 * HOUR, 0, HOME, method="HEAD"),
            click("e", 2 * HOUR + gap, 0, get_ip, ua=get_ua, headers=get_headers)]


def page_then_form(page: dict[str, Any], gap: float = 5.0,
                   form_headers: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """PAGE (a load of the unsubscribe page), then its form submitted GAP seconds later
    from the same address and user agent: 'e'."""
    post = {**page, "type": "unsubscribe", "id": "e", "method": "POST",
            "timestamp": page["timestamp"] + gap, "form": {"action": "unsubscribe_all"},
            "headers": {**(page["headers"] if form_headers is None else form_headers),
                        "content-type": "application/x-www-form-urlencoded"}}
    return [delivered(), page, post]


Case = Callable[[], list[dict[str, Any]]]
#: rule -> (events that fire it on 'e', events that come close and do not). Named ids other
#: than 'e' are noted in TARGET.
CASES: dict[str, tuple[Case, Case]] = {
    "ua.known-scanner": (
        lambda: one(click("e", 2 * HOUR, ua="Mozilla/5.0 (compatible; Barracuda Sentinel (EE))")),
        lambda: one(click("e", 2 * HOUR, ua="Mozilla/5.0 (compatible; Barracuda Toolbar)"))),
    "ua.link-preview": (
        lambda: one(click("e", 2 * HOUR, ua="Slackbot-LinkExpanding 1.0 "
                          "(+https://api.slack.com/robots)")),
        lambda: one(click("e", 2 * HOUR, ua="Slack/4.41.105 (Windows 10)"))),
    "ua.http-library": (
        lambda: one(click("e", 2 * HOUR, ua="curl/8.5.0")),
        lambda: one(click("e", 2 * HOUR, ua=chrome() + " curl"))),
    "ua.headless-browser": (
        lambda: one(click("e", 2 * HOUR, ua=chrome().replace("Chrome/", "HeadlessChrome/"))),
        lambda: one(click("e", 2 * HOUR, ua=chrome()))),
    "ua.crawler": (
        lambda: one(click("e", 2 * HOUR, ua="Mozilla/5.0 (compatible; Googlebot/2.1; "
                          "+http://www.google.com/bot.html)")),
        # On crawler lists, but a person's mail program (Outlook for iOS and Android).
        lambda: one(click("e", 2 * HOUR, ua="Outlook-iOS-Android/1.0"))),
    "ua.bare-mozilla": (
        lambda: one(open_("e", 2 * HOUR, APPLE, ua="Mozilla/5.0")),
        lambda: one(open_("e", 2 * HOUR, APPLE, ua="Mozilla/5.0 (Macintosh; Intel Mac OS X "
                          "10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko)"))),
    "ua.empty": (
        lambda: one(click("e", 2 * HOUR, ua="")),
        lambda: one({k: v for k, v in click("e", 2 * HOUR).items() if k != "user_agent"})),
    "ua.outdated-browser": (
        lambda: one(click("e", 2 * HOUR, ua=chrome(14))),
        lambda: one(click("e", 2 * HOUR, ua=chrome(10)))),
    "ua.very-outdated-browser": (
        lambda: one(click("e", 2 * HOUR, ua=chrome(42))),
        lambda: one(click("e", 2 * HOUR, ua=chrome(38)))),
    "ua.office-link-check": (
        lambda: one(click("e", 2 * HOUR, ua=OUTLOOK)),
        lambda: one(open_("e", 2 * HOUR, ua=OUTLOOK))),
    "ua.mail-client": (
        lambda: one(open_("e", 2 * HOUR, ua=OUTLOOK)),
        lambda: one(open_("e", 2 * HOUR, ua=chrome()))),
    "ua.image-proxy": (
        lambda: one(open_("e", 2 * HOUR, GOOGLE, ua=GMAIL_PROXY)),
        lambda: one(click("e", 2 * HOUR, 0, GOOGLE, ua=GMAIL_PROXY))),
    "net.vendor-certain": (
        lambda: one(click("e", 2 * HOUR, 0, EOP)),
        lambda: one(click("e", 2 * HOUR, 0, M365))),
    "net.vendor-probable": (
        lambda: one(click("e", 2 * HOUR, 0, M365)),
        lambda: one(click("e", 2 * HOUR, 0, EOP))),
    "net.privacy-proxy": (
        lambda: one(open_("e", 2 * HOUR, APPLE, ua="Mozilla/5.0")),
        lambda: one(open_("e", 2 * HOUR, APPLE, ua=OUTLOOK))),
    "net.private-relay-click": (
        lambda: one(click("e", 2 * HOUR, 0, RELAY)),
        lambda: one(open_("e", 2 * HOUR, RELAY, ua="Mozilla/5.0"))),
    "net.cloud-hosting": (
        lambda: one(click("e", 2 * HOUR, 0, AWS)),
        lambda: one(open_("e", 2 * HOUR, GOOGLE, ua=GMAIL_PROXY))),
    "net.declared-crawler": (
        lambda: one(click("e", 2 * HOUR, 0, GOOGLEBOT)),
        lambda: one(click("e", 2 * HOUR, 0, GOOGLE))),
    "net.user-proxy": (
        lambda: one(click("e", 2 * HOUR, 0, ZSCALER)),
        lambda: one(click("e", 2 * HOUR, 0, HOME))),
    "req.head": (
        lambda: one(click("e", 2 * HOUR, method="HEAD")),
        lambda: one(click("e", 2 * HOUR, method="GET"))),
    "req.prefetch": (
        lambda: one(click("e", 2 * HOUR, headers={**BROWSER, "sec-purpose": "prefetch"})),
        lambda: one(click("e", 2 * HOUR, headers={**BROWSER, "sec-fetch-mode": "no-cors"}))),
    "req.no-accept-language": (
        lambda: one(click("e", 2 * HOUR, headers=without(BROWSER, "accept-language"))),
        # An image (an open): mail proxies fetch images without it.
        lambda: one(open_("e", 2 * HOUR, headers=without(IMAGE, "accept-language")))),
    "req.wildcard-accept": (
        lambda: one(click("e", 2 * HOUR, headers={**BROWSER, "accept": "*/*"})),
        lambda: one(click("e", 2 * HOUR, headers={**BROWSER, "accept": "text/html,*/*"}))),
    "req.no-fetch-metadata": (
        lambda: one(click("e", 2 * HOUR, headers={
            **without(BROWSER, "sec-fetch-mode", "sec-fetch-dest"), ":scheme": "https"})),
        # the same request over plain http: browsers send fetch metadata to https only
        lambda: one(click("e", 2 * HOUR, headers={
            **without(BROWSER, "sec-fetch-mode", "sec-fetch-dest"), ":scheme": "http"}))),
    "context.unsubscribe-after-machine-click": (
        lambda: esp_unsubscribe_after(click("s", 2 * HOUR, ua="python-requests/2.32.3")),
        # a person's browser followed the scanner's check: the unsubscribe may be theirs
        lambda: esp_unsubscribe_after(click("s", 2 * HOUR, ua="python-requests/2.32.3"),
                                      click("p", 2 * HOUR + 1.0))),
    "req.user-activation": (
        lambda: one(click("e", 2 * HOUR, headers={**BROWSER, "sec-fetch-user": "?1"})),
        lambda: one(click("e", 2 * HOUR, headers={**BROWSER, "sec-fetch-user": "?0"}))),
    "timing.before-delivery": (
        lambda: one(click("e", -300.0)),
        lambda: one(click("e", -30.0))),           # within clock skew
    "timing.within-seconds-of-delivery": (
        lambda: one(click("e", 10.0)),
        lambda: one(click("e", 20.0))),
    "timing.within-a-minute-of-delivery": (
        lambda: one(click("e", 40.0)),
        lambda: one(click("e", 70.0))),
    "timing.within-minutes-of-delivery": (
        lambda: one(click("e", 240.0)),
        lambda: one(click("e", 400.0))),
    "timing.hours-after-delivery": (
        lambda: one(click("e", 1.2 * HOUR)),
        lambda: one(click("e", 0.8 * HOUR))),
    "timing.proxy-fetch-at-delivery": (
        lambda: one(open_("e", 10.0, GOOGLE, ua=GMAIL_PROXY)),
        lambda: one(open_("e", 45.0, GOOGLE, ua=GMAIL_PROXY))),
    "context.honeypot": (
        lambda: one(click("e", 2 * HOUR, HONEYPOT)),
        lambda: one(click("e", 2 * HOUR, 1))),
    "context.honeypot-source": (
        lambda: [delivered(), click("trap", 30.0, HONEYPOT, "68.232.150.7"),
                 click("e", 2 * HOUR, 0, "68.232.150.99")],
        lambda: [delivered(), click("trap", 30.0, HONEYPOT, "68.232.150.7"),
                 click("e", 2 * HOUR, 0, "68.232.151.99")]),
    "context.all-links-burst": (
        lambda: [delivered(), *burst(5)],
        lambda: [delivered(), *burst(4)]),
    "context.scanner-source": (
        lambda: [delivered(), *burst(6, "3.80.7.7"), open_("e", 45.0, "3.80.7.8")],
        lambda: [delivered(), *burst(6, "3.80.7.7"), open_("e", 45.0, "3.80.8.8")]),
    "context.two-links-burst": (
        lambda: [delivered(), click("e", 2 * HOUR, 0), click("e2", 2 * HOUR + 2, 1)],
        lambda: [delivered(), click("e", 2 * HOUR, 0), click("e2", 2 * HOUR + 5, 1)]),
    "context.same-source-many-links": (
        lambda: [delivered(), *(click("e" if n == 3 else f"c{n}", 2 * HOUR + n * 600, n)
                                for n in range(4))],
        lambda: [delivered(), *(click("e" if n == 2 else f"c{n}", 2 * HOUR + n * 600, n)
                                for n in range(3))]),
    "context.click-time-check": (lambda: click_check(1.0), lambda: click_check(5.0)),
    # The GET right after the same client's HEAD of the link; the near miss comes after
    # the window, a deliberate second visit.
    "context.follow-up-of-machine": (
        lambda: head_then_get(0.4),
        lambda: head_then_get(FOLLOW_HEAD + 1.0)),
    # Another address of the same /16 sends HEAD for another link of the message; the
    # near miss comes from the next /16.
    "context.scan-neighbour": (
        lambda: neighbour_after_head("68.232.140.9"),
        lambda: neighbour_after_head("68.233.140.9")),
    # One user agent from three addresses of one /16 within a minute; the near miss has
    # one address too few.
    "context.address-pool": (
        lambda: pool(POOL), lambda: pool(POOL[:-1])),
    "context.person-after-scanner": (lambda: click_check(1.0), lambda: click_check(5.0)),
    "crossmsg.source-many-recipients": (
        lambda: many_messages(5, 1), lambda: many_messages(4, 1)),
    "crossmsg.source-many-domains": (
        lambda: many_messages(5, 2), lambda: many_messages(5, 1)),
    "crossmsg.scanner-address": (
        lambda: honeypot_elsewhere("68.232.140.9"),
        lambda: honeypot_elsewhere("68.232.140.10")),
    # An address that fetched another message's honeypot clicks here while another
    # address sends HEAD for this message's links; the near miss comes a minute later.
    "crossmsg.scan-party": (
        lambda: scan_party(SCAN_PARTY_WINDOW - 20.0),
        lambda: scan_party(SCAN_PARTY_WINDOW + 20.0)),
    "crossmsg.domain-gateway-pattern": (
        # Two messages to the domain in all: too few to learn its gateway from.
        lambda: gateway_domain(3, 60.0), lambda: gateway_domain(1, 60.0)),
    # A click 5 minutes after delivery to a domain whose MX is a scanning gateway; the near
    # miss comes after the gateway's window.
    "crossmsg.mx-gateway": (
        lambda: [delivered("m1", "ann@gatewayed.example"),
                 click("e", 300.0, 0, HOME_2, message="m1")],
        lambda: [delivered("m1", "ann@gatewayed.example"),
                 click("e", 1200.0, 0, HOME_2, message="m1")]),
    "esp.machine-flag": (
        lambda: one({**open_("e", 2 * HOUR), "esp_flags": {"sg_machine_open": True}}),
        lambda: one({**open_("e", 2 * HOUR), "esp_flags": {"sg_machine_open": False}})),
    "unsub.one-click": (
        lambda: unsubscribe({"List-Unsubscribe": "One-Click"}),
        lambda: unsubscribe({"action": "unsubscribe_all"})),
    "evidence.missing": (
        lambda: one({k: v for k, v in click("e", 2 * HOUR).items() if k != "ip"}),
        lambda: one(click("e", 2 * HOUR))),
    # Strong timing alone (seconds after delivery) is not a machine; with an outdated
    # browser (another basis) it is.
    "evidence.uncorroborated": (
        lambda: one(click("e", 10.0, headers=BROWSER)),
        lambda: one(click("e", 10.0, ua=chrome(16), headers=BROWSER))),
}
#: Cases whose event of interest is not the one called 'e'.
TARGET = {"context.click-time-check": "check", "context.all-links-burst": "b4"}
NEAR_TARGET = {"context.click-time-check": "check", "context.all-links-burst": "b3"}


#: The engine of the cases: one recipient domain's MX is known to point to Proofpoint (what
#: `clicksift gateways` caches); every other case's domain is unknown to it.
ENGINE = Engine()
ENGINE.mx_gateways = {"gatewayed.example": ("proofpoint", 900.0)}


def judge(events: list[dict[str, Any]]) -> dict[str, Any]:
    parsed = [event_from_dict(e) for e in events]
    return {v.id: v for v in BatchClassifier(ENGINE).classify(parsed, expected=len(parsed))}


def test_every_rule_has_a_case() -> None:
    assert sorted(CASES) == sorted(RULES)


@pytest.mark.parametrize("rule", sorted(RULES))
def test_rule_fires_on_its_example_and_not_on_its_near_miss(rule: str) -> None:
    fires, near = CASES[rule]
    verdicts = judge(fires())
    target = TARGET.get(rule, "e")
    fired = [r.rule for r in verdicts[target].reasons]
    assert rule in fired, (rule, verdicts[target])
    verdicts = judge(near())
    target = NEAR_TARGET.get(rule, "e")
    assert rule not in [r.rule for r in verdicts[target].reasons], (rule, verdicts[target])


# -- the evidence discipline -----------------------------------------------------------------

def test_every_rule_has_a_strength_and_bases_that_fit_its_weight() -> None:
    for rule in RULES.values():
        assert rule.strength in STRENGTHS, rule.id
        assert set(rule.bases) <= set(BASES), rule.id
        if rule.weight > 0:
            assert rule.strength in {DECISIVE, STRONG, WEAK} and rule.bases, rule.id
        elif rule.weight < 0:
            assert rule.strength == PERSON and rule.bases, rule.id
        else:
            assert rule.strength == NEUTRAL and not rule.bases, rule.id


def test_addresses_people_share_with_machines_are_never_decisive() -> None:
    """Provider proxies, cloud space (virtual desktops), relays and corporate proxies carry
    people as well as machines: circumstantial, whatever their weight."""
    for rule in ("net.vendor-probable", "net.cloud-hosting", "net.privacy-proxy",
                 "crossmsg.scanner-address", "crossmsg.source-many-recipients",
                 "context.honeypot-source"):
        assert RULES[rule].strength != DECISIVE, rule
    assert RULES["net.cloud-hosting"].strength == WEAK
    assert RULES["net.vendor-probable"].strength == WEAK
    # Time since delivery is one basis, however many rules speak of it.
    assert RULES["crossmsg.domain-gateway-pattern"].bases == ("timing",)
    assert RULES["timing.hours-after-delivery"].weight < 0


def verdict_of(events: list[dict[str, Any]], event_id: str = "e") -> tuple[str, list[str]]:
    verdict = judge(events)[event_id]
    return verdict.verdict, [r.rule for r in verdict.reasons]


def test_a_decisive_finding_alone_makes_a_machine() -> None:
    """HEAD on its one basis passes the discipline (it still needs the score)."""
    label, rules = verdict_of(one(click("e", 2 * HOUR, method="HEAD")))
    assert label == "nhi" and "evidence.uncorroborated" not in rules, rules
    # The same evidence as strong (a crawler list's word) on its one basis does not.
    label, rules = verdict_of(one(click("e", 2 * HOUR, ua="Mozilla/5.0 (compatible; "
                                        "Googlebot/2.1; +http://www.google.com/bot.html)")))
    assert label == "human" and "evidence.uncorroborated" in rules, rules


def test_weak_findings_on_two_bases_do_not_make_a_machine_and_on_three_do() -> None:
    # A click half a minute after delivery from cloud space: timing and address only.
    two = one(click("e", 30.0, 0, AWS, ua=chrome(), headers=BROWSER))
    label, rules = verdict_of(two)
    assert label == "human" and "evidence.uncorroborated" in rules, rules
    # The same without Accept-Language: a third basis (how it asked).
    three = one(click("e", 30.0, 0, AWS, ua=chrome(),
                      headers=without(BROWSER, "accept-language")))
    label, rules = verdict_of(three)
    assert label == "nhi" and "evidence.uncorroborated" not in rules, rules


def test_a_quick_reader_at_a_scanned_company_is_a_person() -> None:
    """Timing twice (a minute after delivery, and the domain's gateway window) is one
    basis: the person is not a machine (class 4 of the precision issue)."""
    label, rules = verdict_of(gateway_domain(3, 40.0))
    assert "crossmsg.domain-gateway-pattern" in rules
    assert "timing.within-a-minute-of-delivery" in rules
    assert label == "human", rules


def test_outlook_on_the_web_images_hours_later_are_a_persons_open() -> None:
    """Images through Microsoft 365 addresses with a browser user agent and no
    Accept-Language, hours after delivery (class 1)."""
    label, rules = verdict_of(one(open_("e", 5 * HOUR, M365,
                                        headers=without(IMAGE, "accept-language"))))
    assert label == "human", rules
    # Within the scanning window, the gateway's own pixel fetch is a machine.
    label, rules = verdict_of(one(open_("e", 8.0, EOP, ua=chrome(20), headers={})))
    assert label == "nhi", rules


def test_a_private_relay_reader_with_an_old_browser_hours_later_is_a_person() -> None:
    """Class 3: relay or cloud space, an outdated browser and hours after delivery."""
    for ip in (RELAY, AWS):
        label, rules = verdict_of(one(click("e", 6 * HOUR, 0, ip, ua=chrome(16))))
        assert label == "human", (ip, rules)


def test_shared_address_weight_falls_with_time_since_delivery() -> None:
    early = judge(one(click("e", 60.0, 0, M365)))["e"].reasons
    late = judge(one(click("e", 30 * HOUR, 0, M365)))["e"].reasons
    weight = {r.rule: r.weight for r in early}["net.vendor-probable"]
    later = {r.rule: r.weight for r in late}["net.vendor-probable"]
    assert 0 < later < weight


def test_one_source_on_many_recipients_near_delivery_is_not_corroborated_by_timing() -> None:
    """A company's people behind one NAT clicking minutes after delivery: the population
    rule is built on time since delivery, so timing does not corroborate it (class 4/5);
    a basis it is not built on (how the requests asked) does."""
    nat = many_messages(6, 1)
    label, rules = verdict_of(nat)
    assert "crossmsg.source-many-recipients" in rules
    assert "timing.within-minutes-of-delivery" in rules
    assert label == "human" and "evidence.uncorroborated" in rules, rules
    for event in nat:
        if event["type"] == "click":
            event["headers"] = without(BROWSER, "accept-language")
    label, rules = verdict_of(nat)
    assert label == "nhi" and "req.no-accept-language" in rules, rules
    # Several companies' mail from one source is not one company's NAT: timing corroborates.
    label, rules = verdict_of(many_messages(6, 3))
    assert "crossmsg.source-many-domains" in rules and label == "nhi", rules


def test_a_finding_too_faint_to_be_a_basis_counts_only_in_the_score() -> None:
    """An image loaded minutes after delivery (0.1) is no basis of its own: a Microsoft 365
    address and an outdated browser stay two bases; the same on a click (0.2) are three."""
    label, rules = verdict_of(one(open_("e", 120.0, M365, ua=chrome(20), headers=IMAGE)))
    assert "timing.within-minutes-of-delivery" in rules
    assert label == "human" and "evidence.uncorroborated" in rules, rules
    label, rules = verdict_of(one(click("e", 120.0, 0, M365, ua=chrome(20))))
    assert "timing.within-minutes-of-delivery" in rules
    assert label == "nhi", rules


# -- the examples' whole verdicts --------------------------------------------------------------

#: Every verdict of every rule's example and near miss: label, score, kind, vendor and each
#: reason with its weight and wording. A change to any rule shows here as a diff to review;
#: after a deliberate change, CLICKSIFT_UPDATE_VERDICTS=1 pytest tests/test_rules.py writes
#: the file again.
RECORDED = Path(__file__).parent / "data" / "rule_verdicts.json"


def _recordable(verdicts: dict[str, Any]) -> dict[str, Any]:
    return {key: [v.verdict, v.score, v.kind, v.vendor,
                  [[r.rule, r.weight, r.detail, r.kind, r.vendor, r.decisive]
                   for r in v.reasons]]
            for key, v in sorted(verdicts.items())}


def test_rule_examples_give_their_recorded_verdicts() -> None:
    seen = {f"{rule} {which}": _recordable(judge(case()))
            for rule, cases in sorted(CASES.items())
            for which, case in zip(("fires", "near miss"), cases, strict=True)}
    if os.environ.get("CLICKSIFT_UPDATE_VERDICTS"):
        RECORDED.parent.mkdir(exist_ok=True)
        RECORDED.write_text(json.dumps(seen, indent=1, sort_keys=True) + "\n", "utf-8")
    recorded = json.loads(RECORDED.read_text("utf-8"))
    changed = [key for key in seen if recorded.get(key) != json.loads(json.dumps(seen[key]))]
    assert sorted(seen) == sorted(recorded), "cases added or removed: record them again"
    assert not changed, f"verdicts changed in {changed[:5]}: {seen[changed[0]]}"


# -- one client, one actor ---------------------------------------------------------------------

def test_a_get_follows_its_own_head_only_from_the_same_client() -> None:
    """The GET takes the HEAD's machine verdict and score; from another address, with
    another user agent, or marked as the person's own navigation, it does not."""
    verdicts = judge(head_then_get(0.4))
    assert verdicts["e"].verdict == "nhi" and verdicts["e"].score >= verdicts["h"].score
    assert verdicts["e"].reasons[0].rule == "context.follow-up-of-machine"
    for near in (head_then_get(0.4, get_ip=HOME_2), head_then_get(0.4, get_ua=chrome(1)),
                 head_then_get(0.4, get_headers={**BROWSER, "sec-fetch-user": "?1"})):
        assert judge(near)["e"].verdict == "human", near[-1]


#: A sandbox loading the unsubscribe page hours after delivery: a machine by its address's
#: other work (it fetched most links of another recipient's message) and a request no
#: browser sends (no Accept-Language, no fetch metadata).
def _sandbox_page(at: float) -> list[dict[str, Any]]:
    return [delivered("m0", "bob@northwind.example"),
            *[click(f"x{n}", 30.0 + n, n, "68.232.140.9", headers={}, message="m0")
              for n in range(6)],
            click("page", at, UNSUBSCRIBE, "68.232.140.9", headers={":scheme": "https"})]


def test_an_unsubscribe_form_takes_the_machine_verdict_of_the_page_load_it_follows() -> None:
    page = _sandbox_page(2 * HOUR)
    form = page_then_form(page[-1], gap=4.0, form_headers=BROWSER)  # delivered, page, post
    events = [*page[:-1], *form]
    # On its own (its page loaded from another address) the form passes as a person's.
    elsewhere = [*page[:-1], form[0], {**form[1], "ip": "68.232.140.10"}, form[2]]
    assert judge(elsewhere)["e"].verdict == "human"
    verdicts = judge(events)
    assert verdicts["page"].verdict == "nhi"
    assert verdicts["e"].verdict == "nhi", verdicts["e"]
    assert "context.follow-up-of-machine" in [r.rule for r in verdicts["e"].reasons]
    # Submitted after the window, or by a person's click on the form's button (user
    # activation), it is judged on its own.
    late = [*page[:-1], *page_then_form(page[-1], gap=FOLLOW_FORM + 60.0,
                                        form_headers=BROWSER)]
    clicked = [*page[:-1], *page_then_form(page[-1], gap=4.0, form_headers={
        **BROWSER, "sec-fetch-user": "?1"})]
    for near in (late, clicked):
        assert "context.follow-up-of-machine" not in [
            r.rule for r in judge(near)["e"].reasons]


def test_a_persons_form_after_a_persons_page_load_stays_a_persons() -> None:
    verdicts = judge(page_then_form(click("page", 2 * HOUR, UNSUBSCRIBE, HOME)))
    assert verdicts["page"].verdict == "human" and verdicts["e"].verdict == "human"


def test_follow_ups_can_be_switched_off() -> None:
    from clicksift.classify.config import ClassifierConfig

    engine = Engine(ClassifierConfig(weights={"context.follow-up-of-machine": 0.0}))
    parsed = [event_from_dict(e) for e in head_then_get(0.4)]
    verdicts = {v.id: v for v in BatchClassifier(engine).classify(parsed)}
    assert verdicts["e"].verdict == "human"


def test_a_scan_party_makes_a_known_scanner_address_a_machine_and_nothing_else() -> None:
    """What other messages say of an address (history) and what this message saw at that
    moment (behaviour) are two bases: together they make a machine. A person's click in the
    same minute from an address no other message speaks of gets nothing from the scan."""
    label, rules = verdict_of(scan_party(10.0))
    assert label == "nhi" and "crossmsg.scan-party" in rules, rules
    label, rules = verdict_of(scan_party(SCAN_PARTY_WINDOW + 20.0))
    assert label == "human" and "evidence.uncorroborated" in rules, rules
    person = [*scan_party(10.0)[:-1], click("e", 2 * HOUR + 10.0, 0, HOME, message="m1")]
    label, rules = verdict_of(person)
    assert label == "human" and "crossmsg.scan-party" not in rules, rules


def test_a_scanners_neighbour_is_address_evidence_only_beside_the_scan() -> None:
    """Within the minute and on another link; not after it, not on the link the machine
    fetched (a browser after a time-of-click check), not on a person's own navigation.
    On its own basis (address) it never makes a machine."""
    fired = [r.rule for r in judge(neighbour_after_head("68.232.140.9"))["e"].reasons]
    assert "context.scan-neighbour" in fired
    for near in (neighbour_after_head("68.232.140.9", gap=NEIGHBOUR_WINDOW + 5.0),
                 neighbour_after_head("68.232.140.9", index=1),
                 neighbour_after_head("68.232.140.9", headers={**BROWSER,
                                                               "sec-fetch-user": "?1"})):
        assert "context.scan-neighbour" not in [r.rule for r in judge(near)["e"].reasons]
    label, _ = verdict_of(neighbour_after_head("68.232.140.9"))
    assert label == "human"
    # Beside two other bases (an outdated browser, no Accept-Language) it is a machine.
    odd = neighbour_after_head("68.232.140.9", headers=without(BROWSER, "accept-language"))
    odd[-1]["user_agent"] = chrome(20)
    label, rules = verdict_of(odd)
    assert label == "nhi" and "context.scan-neighbour" in rules, rules
    odd[-1]["ip"] = "68.233.140.9"
    assert verdict_of(odd)[0] == "human"
    # A click its own burst already settles (five links in seconds) gets nothing more.
    burst_of_five = [*neighbour_after_head("68.232.140.9"),
                     *(click(f"x{n}", 2 * HOUR + 20.0 + n, n, "68.232.140.9")
                       for n in range(2, 6))]
    rules = [r.rule for r in judge(burst_of_five)["e"].reasons]
    assert "context.all-links-burst" in rules and "context.scan-neighbour" not in rules, rules


def test_an_address_pool_is_a_machine_only_with_another_basis_and_spares_people() -> None:
    """Three addresses of one network, one user agent, within a minute: a scanner's pool.
    It is strong, not decisive: beside an outdated browser (identity) it makes a machine;
    alone (a current browser with full headers, hours after delivery) it does not. The
    addresses people share and hop between, their own navigation, several user agents, two
    networks and clicks spread over more than the window get nothing from it."""
    label, rules = verdict_of(pool(POOL, ua=chrome(20)))
    assert label == "nhi" and "context.address-pool" in rules, rules
    label, rules = verdict_of(pool(POOL, at=2 * HOUR))
    assert label == "human" and "context.address-pool" in rules, rules
    person = {**BROWSER, "sec-fetch-user": "?1"}
    zscaler = [f"165.225.{n}.{n + 1}" for n in range(POOL_ADDRESSES)]
    spread = (POOL_WINDOW + 1.0) / (POOL_ADDRESSES - 1)
    mixed = pool(POOL, ua=chrome(20))
    mixed[1]["user_agent"] = chrome(19)
    for near in (pool(POOL, headers=person, ua=chrome(20)),
                 pool(zscaler, ua=chrome(20)),
                 pool([*POOL[:-1], "68.233.130.7"], ua=chrome(20)),
                 pool(POOL, gap=spread, ua=chrome(20)),
                 mixed,
                 pool([POOL[0]] * POOL_ADDRESSES, ua=chrome(20))):
        rules = [r.rule for r in judge(near)["e"].reasons]
        assert "context.address-pool" not in rules, (near, rules)
    # A member whose own request settles it (a honeypot fetch) counts towards the pool but
    # gets nothing more: decisive evidence needs no corroboration.
    trapped = pool(POOL, ua=chrome(20))
    trapped[1].update(click("p0", trapped[1]["timestamp"] - T0, HONEYPOT, POOL[0],
                            ua=chrome(20)))
    verdicts = judge(trapped)
    assert "context.address-pool" in [r.rule for r in verdicts["e"].reasons]
    assert "context.address-pool" not in [r.rule for r in verdicts["p0"].reasons]
    assert "context.honeypot" in [r.rule for r in verdicts["p0"].reasons]
