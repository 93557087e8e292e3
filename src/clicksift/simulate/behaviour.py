"""How the simulated world behaves: every parameter of the actors in one place.

:data:`DEFAULT` is the world the simulator has always drawn (its figures are in
docs/simulator.md). :mod:`clicksift.simulate.worlds` draws other worlds from wide ranges of
the same parameters, and names stress worlds for the people the classifier finds hardest,
so that accuracy can be measured on worlds the rules were never tuned on.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Gateway:
    """How one vendor's scanner treats a message to a protected mailbox."""

    vendor: str | None               # None: a vendor no list knows (truth still names it)
    truth_vendor: str
    pool: str
    median_delay: float
    max_delay: float
    coverage: float                  # share of content links fetched
    spread: float                    # seconds over which the links are fetched
    agent: str                       # old_chrome, current_chrome, ie11, firefox, sentinel
    head: float                      # share of fetches made with HEAD first
    pixel: float                     # share of messages whose pixel is fetched too
    language: float                  # share of requests with Accept-Language
    fetch_metadata: bool
    rescan: float                    # share of messages scanned again hours later
    click_check: float = 0.0         # share of people's clicks checked at click time
    check_pool: str = ""
    form_submit: float = 0.0         # share of scans that submit the unsubscribe form
    scan_share: float = 0.97         # share of messages scanned at all
    honeypot: float = 0.8            # share of scans that fetch the hidden link too
    shared_sources: int = 0          # >0: the scanner reuses this many addresses for all mail


GATEWAYS: dict[str, Gateway] = {
    "microsoft_defender": Gateway(
        "microsoft_defender", "microsoft_defender", "microsoft_eop", median_delay=20,
        max_delay=240, coverage=1.0, spread=8, agent="old_chrome", head=0.0, pixel=0.5,
        language=0.3, fetch_metadata=True, rescan=0.1, click_check=0.8,
        check_pool="microsoft_365", form_submit=0.05, honeypot=0.9),
    "proofpoint": Gateway(
        "proofpoint", "proofpoint", "proofpoint", median_delay=60, max_delay=900, coverage=0.8,
        spread=20, agent="ie11", head=0.3, pixel=0.7, language=0.0, fetch_metadata=False,
        rescan=0.05, honeypot=0.8),
    "mimecast": Gateway(
        None, "mimecast", "unlisted_mimecast", median_delay=30, max_delay=300, coverage=1.0,
        spread=3, agent="old_chrome", head=0.1, pixel=0.2, language=0.5, fetch_metadata=True,
        rescan=0.05, shared_sources=40, honeypot=0.6),
    "barracuda": Gateway(
        "barracuda", "barracuda", "barracuda", median_delay=10, max_delay=120, coverage=1.0,
        spread=5, agent="sentinel", head=0.0, pixel=0.3, language=0.0, fetch_metadata=False,
        rescan=0.05, honeypot=0.9),
    "cisco": Gateway(
        None, "cisco", "unlisted_cisco", median_delay=120, max_delay=1800, coverage=0.6,
        spread=30, agent="firefox", head=0.5, pixel=0.1, language=0.2, fetch_metadata=False,
        rescan=0.02, shared_sources=30, honeypot=0.4),
    "trend_micro": Gateway(
        None, "trend_micro", "unlisted_trend", median_delay=90, max_delay=1200, coverage=0.7,
        spread=15, agent="old_chrome", head=0.2, pixel=0.2, language=0.0,
        fetch_metadata=True, rescan=0.02, shared_sources=30, honeypot=0.5),
    # A vendor in no list, in general cloud space, with a current browser and full headers:
    # only its behaviour (bursts, honeypot, one address on many recipients' mail) shows it.
    "unknown_vendor": Gateway(
        None, "unknown_vendor", "aws", median_delay=45, max_delay=600, coverage=1.0,
        spread=15, agent="current_chrome", head=0.1, pixel=0.3, language=1.0,
        fetch_metadata=True, rescan=0.05, form_submit=0.1, shared_sources=25, honeypot=0.5),
}


@dataclass(frozen=True)
class Behaviour:
    """One world's behaviour: who the audience is, how its gateways scan, how people read."""

    name: str = "default"
    gateways: dict[str, Gateway] = field(default_factory=lambda: dict(GATEWAYS))
    #: Audience mix overriding the preset (segment -> share), as audience.PRESETS has them.
    mix: dict[str, float] | None = None
    #: Company staff's mail programs: outlook_desktop, outlook_web, outlook_mobile,
    #: apple_mail_mpp (relative weights).
    corporate_clients: dict[str, float] = field(default_factory=lambda: {
        "outlook_desktop": 6.0, "outlook_web": 3.0, "apple_mail_mpp": 1.0})
    #: Where company staff click from: nat, zscaler, azure_vdi, residential.
    corporate_networks: dict[str, float] = field(default_factory=lambda: {
        "nat": 70.0, "zscaler": 12.0, "azure_vdi": 10.0, "residential": 8.0})
    #: Share of Outlook.com readers using the Outlook app on a phone instead of the web.
    outlook_com_mobile: float = 0.0
    #: Outlook on the web loads images through Microsoft 365 addresses, without
    #: Accept-Language (as Outlook.com does).
    owa_image_proxy: bool = False
    relay_share: float = 0.4          # Apple users browsing through iCloud Private Relay
    cloud_desktop_share: float = 0.0  # home users on cloud desktops or VPNs in cloud space
    outdated_share: float = 0.04      # people whose browser is more than a year old
    outdated_range: tuple[int, int] = (14, 30)
    quick_share: float = 0.06         # people who read within a minute or two of arrival
    quick_range: tuple[float, float] = (25.0, 110.0)
    tabber_share: float = 0.25        # people who open several links in tabs
    tab_gap: tuple[float, float] = (1.0, 6.0)
    read_median: float = 3 * 3600.0   # median delay from delivery to reading
    user_activation: float = 0.85     # share of people's clicks with Sec-Fetch-User: ?1
    open_share: float = 0.30          # home readers who open (company staff: 5 points less)
    click_share: float = 0.15         # readers who click
    mpp_share: float = 0.92           # Apple Mail users with Mail Privacy Protection on
    gmail_prefetch: float = 0.12      # Gmail messages whose images are fetched on arrival
    previewer_share: float = 0.02
    bot_share: float = 0.01


DEFAULT = Behaviour()
