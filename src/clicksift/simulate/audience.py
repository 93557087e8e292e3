"""Who receives the simulated campaign: segments, companies and their gateways, people."""

from __future__ import annotations

import random
from dataclasses import dataclass

from clicksift.simulate.behaviour import DEFAULT, Behaviour
from clicksift.simulate.world import POOLS

#: Mail security gateways companies put in front of their mailboxes (see actors.GATEWAYS).
GATEWAY_NAMES = ("microsoft_defender", "proofpoint", "mimecast", "barracuda", "cisco",
                 "trend_micro", "unknown_vendor")

#: Audience mixes: share of recipients per segment. Corporate segments are "corp:GATEWAY"
#: ("corp:none" is a company without a gateway).
PRESETS: dict[str, dict[str, float]] = {
    "mixed": {"gmail": 0.20, "yahoo": 0.06, "outlook_com": 0.06, "home_other": 0.04,
              "apple_mail": 0.14, "corp:microsoft_defender": 0.20, "corp:proofpoint": 0.08,
              "corp:mimecast": 0.06, "corp:barracuda": 0.04, "corp:cisco": 0.03,
              "corp:trend_micro": 0.02, "corp:unknown_vendor": 0.04, "corp:none": 0.03},
    "b2b": {"gmail": 0.05, "apple_mail": 0.05, "corp:microsoft_defender": 0.35,
            "corp:proofpoint": 0.15, "corp:mimecast": 0.12, "corp:barracuda": 0.08,
            "corp:cisco": 0.06, "corp:trend_micro": 0.04, "corp:unknown_vendor": 0.06,
            "corp:none": 0.04},
    "consumer": {"gmail": 0.40, "yahoo": 0.12, "outlook_com": 0.12, "home_other": 0.08,
                 "apple_mail": 0.26, "corp:microsoft_defender": 0.02},
    "hard": {"gmail": 0.10, "apple_mail": 0.15, "corp:microsoft_defender": 0.15,
             "corp:unknown_vendor": 0.25, "corp:mimecast": 0.10, "corp:cisco": 0.10,
             "corp:none": 0.15},
}
_CONSUMER_DOMAINS = {"gmail": "gmail.com", "yahoo": "yahoo.com", "outlook_com": "outlook.com",
                     "home_other": "gmx.net", "apple_mail": "icloud.com"}
_COMPANY_WORDS = ("contoso", "fabrikam", "northwind", "tailspin", "wingtip", "adatum",
                  "litware", "proseware", "lucerne", "woodgrove", "alpine", "blueyonder",
                  "coho", "fourth-coffee", "humongous", "margie", "relecloud", "trey",
                  "wideworld", "graphic-design")


@dataclass
class Company:
    domain: str
    gateway: str | None
    nat_ip: str


@dataclass
class Recipient:
    address: str
    segment: str
    company: Company | None
    client: str            # the mail program or webmail the person reads with
    network: str           # where clicks come from: residential, nat, zscaler, azure_vdi,
    #                        or private_relay
    home_ip: str
    browser: str
    browser_behind: int    # releases behind current (a few people run old browsers)
    quick: bool            # reads on notification, within a minute or two
    tabber: bool           # opens several links in tabs within seconds
    mpp: bool = False      # Apple Mail Privacy Protection on

    @property
    def domain(self) -> str:
        return self.address.rsplit("@", 1)[1]

    @property
    def hard_cases(self) -> tuple[str, ...]:
        cases = []
        if self.network in {"zscaler", "azure_vdi", "private_relay", "nat", "cloud_desktop"}:
            cases.append(f"human behind {self.network.replace('_', ' ')}")
        if self.browser_behind >= 12:
            cases.append("human with an outdated browser")
        if self.quick:
            cases.append("human reading within a minute")
        if self.tabber:
            cases.append("human opening links in tabs")
        return tuple(cases)


def _companies(rng: random.Random) -> dict[str, list[Company]]:
    companies: dict[str, list[Company]] = {}
    words = list(_COMPANY_WORDS)
    rng.shuffle(words)
    position = 0
    for gateway in (*GATEWAY_NAMES, "none"):
        group = []
        for suffix in ("example", "example.net", "example.org"):
            word = words[position % len(words)]
            position += 1
            group.append(Company(f"{word}-{gateway.replace('_', '')[:6]}.{suffix}",
                                 None if gateway == "none" else gateway,
                                 POOLS["residential"].draw(rng)))
        companies[gateway] = group
    return companies


def _browser(rng: random.Random, segment: str, client: str,
             how: Behaviour) -> tuple[str, int]:
    if client in {"apple_mail", "apple_mail_mpp"}:
        return rng.choice(["safari_ios", "safari_ios", "safari_mac"]), 0
    if segment.startswith("corp:"):
        browser = rng.choices(["edge", "chrome", "firefox"], [5, 4, 1])[0]
    else:
        browser = rng.choices(["chrome", "chrome_android", "safari_ios", "firefox", "edge"],
                              [4, 3, 2, 1, 1])[0]
    roll = rng.random()
    recent = 1.0 - how.outdated_share
    behind = (0 if roll < recent - 0.06 else rng.randint(1, 3) if roll < recent
              else rng.randint(*how.outdated_range))
    return browser, behind


def build_audience(rng: random.Random, size: int, mix: dict[str, float],
                   how: Behaviour = DEFAULT) -> list[Recipient]:
    companies = _companies(rng)
    segments = list(mix)
    weights = [mix[s] for s in segments]
    people = []
    for number in range(size):
        segment = rng.choices(segments, weights)[0]
        company = None
        if segment.startswith("corp:"):
            company = rng.choice(companies[segment.split(":", 1)[1]])
            domain = company.domain
            client = rng.choices(list(how.corporate_clients),
                                 list(how.corporate_clients.values()))[0]
            network = rng.choices(list(how.corporate_networks),
                                  list(how.corporate_networks.values()))[0]
        else:
            domain = _CONSUMER_DOMAINS[segment]
            client = {"gmail": "gmail_web", "yahoo": "yahoo_web", "outlook_com": "outlook_web",
                      "home_other": "thunderbird", "apple_mail": "apple_mail_mpp"}[segment]
            network = "residential"
            if (how.outlook_com_mobile and client == "outlook_web"
                    and rng.random() < how.outlook_com_mobile):
                client = "outlook_mobile"
            if how.cloud_desktop_share and rng.random() < how.cloud_desktop_share:
                network = "cloud_desktop"
        mpp = client == "apple_mail_mpp" and rng.random() < how.mpp_share
        if client == "apple_mail_mpp" and not mpp:
            client = "apple_mail"
        if client.startswith("apple_mail") and rng.random() < how.relay_share:
            network = "private_relay"
        browser, behind = _browser(rng, segment, client, how)
        home = company.nat_ip if company is not None and network == "nat" else \
            POOLS["residential"].draw(rng)
        people.append(Recipient(
            f"person{number}@{domain}", segment, company, client, network, home, browser,
            behind, quick=rng.random() < how.quick_share, tabber=rng.random() < how.tabber_share,
            mpp=mpp))
    return people
