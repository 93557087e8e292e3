"""The simulated world's addresses, user agents and request headers.

Address blocks are real allocations, checked against the knowledge base and the iporigin
tables (tests/test_simulate.py): residential ISPs are in no list, clouds are where their
providers publish them, and the stand-ins for vendors whose ranges nobody lists (Mimecast,
Cisco, Trend Micro in this simulation) are in no list either, so only behaviour gives them
away. Browser versions follow the four-week release trains at the simulated date.
"""

from __future__ import annotations

import ipaddress
import random
from dataclasses import dataclass

from clicksift.classify.agents import current_major


@dataclass(frozen=True)
class Pool:
    """Addresses drawn from CIDR blocks."""

    name: str
    blocks: tuple[str, ...]

    def draw(self, rng: random.Random) -> str:
        block = ipaddress.ip_network(rng.choice(self.blocks))
        offset = rng.randrange(1, max(2, block.num_addresses - 1))
        return str(block.network_address + offset)

    def draw_in(self, rng: random.Random, prefix_of: str, size: int = 24) -> str:
        """An address in the same /SIZE as PREFIX_OF (one sender's neighbourhood)."""
        network = ipaddress.ip_network(f"{prefix_of}/{size}", strict=False)
        return str(network.network_address + rng.randrange(1, network.num_addresses - 1))


POOLS = {
    # people at home or on mobile networks (in no list)
    "residential": Pool("residential", ("73.0.0.0/10", "86.128.0.0/11", "79.192.0.0/11",
                                        "90.0.0.0/11", "100.0.0.0/14", "172.56.0.0/14",
                                        "24.0.0.0/12", "81.96.0.0/12")),
    # clouds and their published ranges
    "aws": Pool("aws", ("3.80.0.0/12", "52.0.0.0/13", "54.144.0.0/12", "18.208.0.0/13")),
    "azure": Pool("azure", ("20.40.0.0/13", "40.112.0.0/13", "13.64.0.0/11")),
    "gcp": Pool("gcp", ("34.64.0.0/11",)),
    "digitalocean": Pool("digitalocean", ("165.227.0.0/16",)),
    # mail providers' proxies
    "google_proxy": Pool("google_proxy", ("66.249.80.0/20", "66.102.0.0/20")),
    "google_mail": Pool("google_mail", ("209.85.128.0/17",)),
    "yahoo_proxy": Pool("yahoo_proxy", ("98.136.0.0/16",)),
    "apple_relay": Pool("apple_relay", ("172.225.40.0/23", "172.225.200.0/24")),
    # security vendors listed in the knowledge base
    "microsoft_eop": Pool("microsoft_eop", ("40.92.0.0/15", "40.107.0.0/16", "104.47.0.0/17",
                                            "52.100.0.0/15")),
    "microsoft_365": Pool("microsoft_365", ("52.96.0.0/14", "40.96.0.0/13")),
    "proofpoint": Pool("proofpoint", ("67.231.144.0/20",)),
    "barracuda": Pool("barracuda", ("209.222.80.0/21", "64.235.144.0/20")),
    # stand-ins for vendor networks no list has (in no list)
    "unlisted_mimecast": Pool("unlisted_mimecast", ("185.58.84.0/22",)),
    "unlisted_cisco": Pool("unlisted_cisco", ("68.232.128.0/19",)),
    "unlisted_trend": Pool("unlisted_trend", ("150.70.0.0/16",)),
    # corporate security proxies people browse through
    "zscaler": Pool("zscaler", ("165.225.0.0/17", "136.226.0.0/16")),
}

_WINDOWS = "Windows NT 10.0; Win64; x64"
_MAC = "Macintosh; Intel Mac OS X 10_15_7"


def chrome_major(at: float, behind: int = 0) -> int:
    major = current_major("chromium", at)
    assert major is not None
    return max(major - behind, 49)


def firefox_major(at: float, behind: int = 0) -> int:
    major = current_major("gecko", at)
    assert major is not None
    return max(major - behind, 52)


def chrome_ua(at: float, behind: int = 0, platform: str = _WINDOWS, edge: bool = False) -> str:
    major = chrome_major(at, behind)
    ua = (f"Mozilla/5.0 ({platform}) AppleWebKit/537.36 (KHTML, like Gecko) "
          f"Chrome/{major}.0.0.0 Safari/537.36")
    return ua + f" Edg/{major}.0.0.0" if edge else ua


def firefox_ua(at: float, behind: int = 0) -> str:
    major = firefox_major(at, behind)
    return f"Mozilla/5.0 ({_WINDOWS}; rv:{major}.0) Gecko/20100101 Firefox/{major}.0"


def safari_ua(mobile: bool, version: str = "18.1") -> str:
    if mobile:
        os_version = version.replace(".", "_")
        return (f"Mozilla/5.0 (iPhone; CPU iPhone OS {os_version} like Mac OS X) "
                f"AppleWebKit/605.1.15 (KHTML, like Gecko) Version/{version} Mobile/15E148 "
                "Safari/604.1")
    return (f"Mozilla/5.0 ({_MAC}) AppleWebKit/605.1.15 (KHTML, like Gecko) "
            f"Version/{version} Safari/605.1.15")


def android_chrome_ua(at: float) -> str:
    return (f"Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
            f"Chrome/{chrome_major(at)}.0.0.0 Mobile Safari/537.36")


OUTLOOK_DESKTOP = "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17928; Pro)"
APPLE_MAIL_MAC = ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 "
                  "(KHTML, like Gecko)")
APPLE_MAIL_IOS = ("Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 "
                  "(KHTML, like Gecko) Mobile/15E148")
#: The user agent Outlook for iOS and Android sends (Microsoft's Exchange documentation,
#: learn.microsoft.com/en-us/exchange/clients-and-mobile-in-exchange-online/
#: outlook-for-ios-and-android/secure-outlook-for-ios-and-android, read 2026-12-05).
OUTLOOK_MOBILE = "Outlook-iOS-Android/1.0"
THUNDERBIRD = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 "
               "Thunderbird/128.4.0")
GOOGLE_IMAGE_PROXY = ("Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 "
                      "(via ggpht.com GoogleImageProxy)")
YAHOO_MAIL_PROXY = "YahooMailProxy; https://help.yahoo.com/kb/yahoo-mail-proxy-SLN28749.html"
BARE_MOZILLA = "Mozilla/5.0"
BARRACUDA_SENTINEL = "Mozilla/5.0 (compatible; Barracuda Sentinel (EE))"
IE11 = "Mozilla/5.0 (Windows NT 6.1; WOW64; Trident/7.0; rv:11.0) like Gecko"
SLACKBOT = "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)"
TEAMS_PREVIEW = ("Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; "
                 "MicrosoftPreview/2.0; +https://aka.ms/MicrosoftPreview) Chrome/100.0.4896.127 "
                 "Safari/537.36")
BOT_AGENTS = ("curl/8.5.0", "python-requests/2.32.3", "Go-http-client/1.1", "okhttp/4.12.0")

HTML_ACCEPT = ("text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,"
               "*/*;q=0.8")
IMAGE_ACCEPT = "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8"


def browser_headers(rng: random.Random, ua: str, *, user_activated: bool,
                    language: str = "en-US,en;q=0.9", image: bool = False) -> dict[str, str]:
    """What a browser sends when a person clicks a link (or loads an image)."""
    headers = {"accept": IMAGE_ACCEPT if image else HTML_ACCEPT, "accept-language": language,
               "accept-encoding": "gzip, deflate, br"}
    modern = "Chrome/" in ua or "Firefox/" in ua or "Version/1" in ua
    if modern and not image:
        headers.update({"sec-fetch-site": "cross-site", "sec-fetch-mode": "navigate",
                        "sec-fetch-dest": "document", "upgrade-insecure-requests": "1"})
        if user_activated:
            headers["sec-fetch-user"] = "?1"
    if "Chrome/" in ua and not image:
        headers["sec-ch-ua-mobile"] = "?1" if "Mobile" in ua else "?0"
    return headers


def scanner_headers(rng: random.Random, *, language: bool, fetch_metadata: bool,
                    accept: str = HTML_ACCEPT) -> dict[str, str]:
    """What a sandboxed or scripted fetcher sends: often no language, never user activation."""
    headers = {"accept": accept, "accept-encoding": "gzip, deflate"}
    if language:
        headers["accept-language"] = "en-US,en;q=0.9"
    if fetch_metadata:
        headers.update({"sec-fetch-site": "none", "sec-fetch-mode": "navigate",
                        "sec-fetch-dest": "document", "upgrade-insecure-requests": "1"})
    return headers
