"""Who fetches what, and when: gateways, privacy and image proxies, previewers, bots, people.

Each actor turns one delivered message into requests (:class:`Request`), labelled with the
truth. The behaviour follows published descriptions (docs/simulator.md lists them):
gateways fetch every link seconds to minutes after delivery, often all within seconds and
from their own networks or cloud space, with old or bare user agents, sometimes with HEAD,
sometimes the pixel too, some again at click time; Apple Mail Privacy Protection fetches
images when mail arrives; Gmail proxies a person's image loads and sometimes prefetches;
people open minutes to days later and click a link or two.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

from clicksift.classify.vocabulary import Label
from clicksift.simulate import world
from clicksift.simulate.audience import Recipient
from clicksift.simulate.behaviour import DEFAULT, Behaviour, Gateway
from clicksift.simulate.world import POOLS


@dataclass
class Message:
    index: int
    message_id: str
    recipient: Recipient
    delivered_at: float
    links: list[tuple[str, str]]        # (url, kind) in document order

    def indexes(self, kind: str) -> list[int]:
        return [i for i, (_, k) in enumerate(self.links) if k == kind]


@dataclass
class Request:
    ts: float
    message: Message
    type: str                           # open, click, unsubscribe
    link_index: int | None
    ip: str
    user_agent: str | None
    method: str
    headers: dict[str, str]
    label: str                          # human or nhi
    kind: str | None
    vendor: str | None
    actor: str
    form: dict[str, str] | None = None
    hard: tuple[str, ...] = ()


def lognormal(rng: random.Random, median: float, sigma: float, low: float, high: float) -> float:
    return min(max(median * math.exp(rng.gauss(0, sigma)), low), high)


@dataclass
class World:
    """Shared state of one simulated send: the scanners' address pools and the clock."""

    rng: random.Random
    behaviour: Behaviour = DEFAULT
    shared: dict[str, list[str]] = field(default_factory=dict)

    def scanner_ip(self, gateway: Gateway, message: Message, anchor: str | None) -> str:
        pool = POOLS[gateway.pool]
        if gateway.shared_sources:
            addresses = self.shared.setdefault(
                gateway.truth_vendor, [pool.draw(self.rng) for _ in range(gateway.shared_sources)])
            return self.rng.choice(addresses)
        return pool.draw_in(self.rng, anchor) if anchor else pool.draw(self.rng)


def _scanner_agent(rng: random.Random, gateway: Gateway, at: float) -> str:
    if gateway.agent == "sentinel":
        return world.BARRACUDA_SENTINEL if rng.random() < 0.5 else world.chrome_ua(at, 30)
    if gateway.agent == "ie11":
        return world.IE11 if rng.random() < 0.6 else world.chrome_ua(at, rng.randint(25, 45))
    if gateway.agent == "firefox":
        return world.firefox_ua(at, rng.randint(15, 40))
    if gateway.agent == "current_chrome":
        return world.chrome_ua(at, rng.randint(0, 2))
    return world.chrome_ua(at, rng.randint(8, 30))


def gateway_scan(w: World, gateway: Gateway, message: Message) -> list[Request]:
    """The scan of one message at delivery (and maybe again later)."""
    rng = w.rng
    out: list[Request] = []
    if rng.random() > gateway.scan_share:
        return out
    passes = [lognormal(rng, gateway.median_delay, 0.9, 0.5, gateway.max_delay)]
    if rng.random() < gateway.rescan:
        passes.append(rng.uniform(3600, 3 * 86400))
    for number, delay in enumerate(passes):
        start = message.delivered_at + delay
        anchor = POOLS[gateway.pool].draw(rng)
        content = message.indexes("content")
        chosen = [i for i in content if rng.random() < gateway.coverage] or content[:1]
        hidden = message.indexes("honeypot") if rng.random() < gateway.honeypot else []
        targets = chosen + hidden + message.indexes("unsubscribe")
        rng.shuffle(targets)
        agent = _scanner_agent(rng, gateway, start)
        for index in targets:
            at = start + rng.uniform(0, gateway.spread)
            ip = w.scanner_ip(gateway, message, anchor)
            headers = world.scanner_headers(rng, language=rng.random() < gateway.language,
                                            fetch_metadata=gateway.fetch_metadata)
            if rng.random() < gateway.head:
                out.append(_scan(message, at, index, ip, agent, "HEAD", {}, gateway, number))
                at += rng.uniform(0.05, 0.5)
            out.append(_scan(message, at, index, ip, agent, "GET", headers, gateway, number))
            if (message.links[index][1] == "unsubscribe" and number == 0
                    and rng.random() < gateway.form_submit):
                form_at = at + rng.uniform(1, 8)
                out.append(Request(form_at, message, "unsubscribe", index, ip, agent, "POST",
                                   {**headers, "content-type": "application/x-www-form-urlencoded"},
                                   Label.NHI, "security_scanner", gateway.truth_vendor,
                                   f"{gateway.truth_vendor} sandbox submitting the form",
                                   form={"action": "unsubscribe_all"}))
        if number == 0 and rng.random() < gateway.pixel:
            at = start + rng.uniform(0, gateway.spread)
            out.append(Request(at, message, "open", None, w.scanner_ip(gateway, message, anchor),
                               agent, "GET", {"accept": world.IMAGE_ACCEPT}, Label.NHI,
                               "security_scanner", gateway.truth_vendor,
                               f"{gateway.truth_vendor} scan"))
    return out


def _scan(message: Message, at: float, index: int, ip: str, agent: str, method: str,
          headers: dict[str, str], gateway: Gateway, number: int) -> Request:
    actor = f"{gateway.truth_vendor} {'rescan' if number else 'scan at delivery'}"
    hard = () if gateway.vendor else ("scanner no list knows",)
    return Request(at, message, "click", index, ip, agent, method, headers, Label.NHI,
                   "security_scanner", gateway.truth_vendor, actor, hard=hard)


def apple_mpp(w: World, message: Message) -> list[Request]:
    """Apple Mail Privacy Protection loads the images when the message reaches the device."""
    rng = w.rng
    fetches = [lognormal(rng, 600, 1.6, 2, 12 * 3600)]
    if rng.random() < 0.3:
        fetches.append(fetches[0] + rng.uniform(3600, 2 * 86400))
    return [Request(message.delivered_at + delay, message, "open", None,
                    POOLS["apple_relay"].draw(rng), world.BARE_MOZILLA, "GET",
                    {"accept": "*/*", "accept-language": "en-US,en;q=0.9"}, Label.NHI,
                    "privacy_prefetch", "apple_mpp", "Apple Mail Privacy Protection")
            for delay in fetches]


def gmail_prefetch(w: World, message: Message) -> list[Request]:
    """Gmail sometimes fetches images as mail arrives, before anyone reads it."""
    rng = w.rng
    return [Request(message.delivered_at + rng.uniform(1, 25), message, "open", None,
                    POOLS["google_proxy"].draw(rng), world.GOOGLE_IMAGE_PROXY, "GET",
                    {"accept": world.IMAGE_ACCEPT}, Label.NHI, "image_prefetch",
                    "google_image_proxy", "Gmail image prefetch")]


def previewer(w: World, message: Message) -> list[Request]:
    """Someone shares a link in Slack or Teams; the unfurler fetches it."""
    rng = w.rng
    content = message.indexes("content")
    agent, vendor = rng.choice([(world.SLACKBOT, "slack"), (world.TEAMS_PREVIEW,
                                                            "microsoft_preview")])
    return [Request(message.delivered_at + rng.uniform(600, 3 * 86400), message, "click",
                    rng.choice(content), POOLS["aws"].draw(rng), agent, "GET", {"accept": "*/*"},
                    Label.NHI, "link_preview", vendor, "link unfurler")]


def plain_bot(w: World, message: Message) -> list[Request]:
    rng = w.rng
    return [Request(message.delivered_at + rng.uniform(60, 5 * 86400), message, "click",
                    rng.choice(message.indexes("content")),
                    POOLS[rng.choice(["digitalocean", "aws", "gcp"])].draw(rng),
                    rng.choice(world.BOT_AGENTS), "GET", {"accept": "*/*"}, Label.NHI,
                    "generic_bot", None, "script")]


_OPEN_AGENTS = {"outlook_desktop": world.OUTLOOK_DESKTOP, "thunderbird": world.THUNDERBIRD}
_ONE_CLICK_PROVIDERS = {"gmail_web": "google_mail", "yahoo_web": "yahoo_proxy",
                        "outlook_web": "microsoft_365", "apple_mail_mpp": "apple_relay",
                        "apple_mail": "apple_relay"}


def browser_agent(recipient: Recipient, at: float) -> str:
    behind = recipient.browser_behind
    browser = recipient.browser
    if browser == "edge":
        return world.chrome_ua(at, behind, edge=True)
    if browser == "chrome":
        return world.chrome_ua(at, behind)
    if browser == "chrome_android":
        return world.android_chrome_ua(at)
    if browser == "firefox":
        return world.firefox_ua(at, behind)
    return world.safari_ua(browser == "safari_ios")


def _person_ip(w: World, recipient: Recipient) -> str:
    if recipient.network == "zscaler":
        return POOLS["zscaler"].draw(w.rng)
    if recipient.network == "azure_vdi":
        return POOLS["azure"].draw(w.rng)
    if recipient.network == "cloud_desktop":
        return POOLS[w.rng.choice(["aws", "azure", "gcp"])].draw(w.rng)
    if recipient.network == "private_relay":
        return POOLS["apple_relay"].draw(w.rng)
    return recipient.home_ip


def _person_open(w: World, message: Message, at: float) -> Request | None:
    recipient = message.recipient
    client = recipient.client
    hard = recipient.hard_cases
    if client == "apple_mail_mpp":
        return None  # Apple already fetched the images; the reading is invisible
    if client == "gmail_web":
        return Request(at, message, "open", None, POOLS["google_proxy"].draw(w.rng),
                       world.GOOGLE_IMAGE_PROXY, "GET", {"accept": world.IMAGE_ACCEPT}, Label.HUMAN,
                       None, None, "person reading in Gmail", hard=hard)
    if client == "yahoo_web":
        return Request(at, message, "open", None, POOLS["yahoo_proxy"].draw(w.rng),
                       world.YAHOO_MAIL_PROXY, "GET", {"accept": world.IMAGE_ACCEPT}, Label.HUMAN,
                       None, None, "person reading in Yahoo Mail", hard=hard)
    if client == "outlook_web" and w.behaviour.owa_image_proxy:
        # Outlook on the web fetches images through Microsoft's own addresses, with the
        # reader's browser user agent but without its Accept-Language.
        reader = browser_agent(recipient, at)
        proxied = world.browser_headers(w.rng, reader, user_activated=False, image=True)
        proxied.pop("accept-language", None)
        return Request(at, message, "open", None, POOLS["microsoft_365"].draw(w.rng), reader,
                       "GET", proxied, Label.HUMAN, None, None, "person reading in Outlook on "
                       "the web", hard=(*hard, "human reading in Outlook on the web"))
    if client == "outlook_mobile":
        return Request(at, message, "open", None, POOLS["microsoft_365"].draw(w.rng),
                       world.OUTLOOK_MOBILE, "GET", {"accept": world.IMAGE_ACCEPT}, Label.HUMAN,
                       None, None, "person reading in Outlook for iOS and Android",
                       hard=(*hard, "human reading in the Outlook app"))
    agent = _OPEN_AGENTS.get(client)
    if agent is None:
        agent = (world.APPLE_MAIL_IOS if client == "apple_mail"
                 else browser_agent(recipient, at))
    headers = world.browser_headers(w.rng, agent, user_activated=False, image=True)
    return Request(at, message, "open", None, _person_ip(w, recipient), agent, "GET", headers,
                   Label.HUMAN, None, None, f"person reading ({client})", hard=hard)


def person(w: World, message: Message, gateway: Gateway | None) -> list[Request]:
    """A person who may open, click a link or a few, and rarely unsubscribe."""
    rng = w.rng
    how = w.behaviour
    recipient = message.recipient
    corporate = recipient.company is not None
    out: list[Request] = []
    opened = rng.random() < how.open_share - (0.05 if corporate else 0.0)
    read_at = message.delivered_at + (rng.uniform(*how.quick_range) if recipient.quick else
                                      lognormal(rng, how.read_median, 1.5, 150, 6 * 86400))
    if opened:
        request = _person_open(w, message, read_at)
        if request is not None:
            out.append(request)
    if rng.random() < (how.click_share if opened else 0.02):
        out += _person_clicks(w, message, gateway, read_at)
    if rng.random() < 0.004:
        out += _person_unsubscribe(w, message, read_at + rng.uniform(5, 120))
    return out


def _person_clicks(w: World, message: Message, gateway: Gateway | None,
                   read_at: float) -> list[Request]:
    rng = w.rng
    recipient = message.recipient
    content = message.indexes("content")
    count = min(rng.choices([1, 2, 3, 4], [75, 18, 5, 2])[0], len(content))
    weights = [1.0 / (position + 1) for position in range(len(content))]
    chosen: list[int] = []
    while len(chosen) < count:
        pick = rng.choices(content, weights)[0]
        if pick not in chosen:
            chosen.append(pick)
    at = read_at + lognormal(rng, 40, 1.0, 3, 1800)
    ip = _person_ip(w, recipient)
    out: list[Request] = []
    for number, index in enumerate(chosen):
        if number:
            at += (rng.uniform(*w.behaviour.tab_gap) if recipient.tabber
                   else lognormal(rng, 90, 1.0, 8, 3600))
        agent = browser_agent(recipient, at)
        headers = world.browser_headers(rng, agent,
                                        user_activated=rng.random() < w.behaviour.user_activation)
        hard = recipient.hard_cases
        if recipient.tabber and len(chosen) > 1:
            hard = (*hard, "human opening links in tabs")
        if gateway is not None and gateway.click_check and rng.random() < gateway.click_check:
            check_at = at - rng.uniform(0.2, 1.5)
            check_agent = world.chrome_ua(check_at, rng.randint(8, 20))
            out.append(Request(check_at, message, "click", index,
                               POOLS[gateway.check_pool].draw(rng), check_agent, "GET",
                               world.scanner_headers(rng, language=False, fetch_metadata=True),
                               Label.NHI, "security_scanner", gateway.truth_vendor,
                               f"{gateway.truth_vendor} check at click time",
                               hard=("check at click time",)))
            hard = (*hard, "human after a click-time check")
        out.append(Request(at, message, "click", index, ip, agent, "GET", headers, Label.HUMAN,
                           None, None, "person clicking", hard=tuple(dict.fromkeys(hard))))
    return out


def _person_unsubscribe(w: World, message: Message, at: float) -> list[Request]:
    rng = w.rng
    recipient = message.recipient
    index = message.indexes("unsubscribe")[0]
    provider = _ONE_CLICK_PROVIDERS.get(recipient.client)
    if provider is not None and rng.random() < 0.6:
        return [Request(at, message, "unsubscribe", index, POOLS[provider].draw(rng), "", "POST",
                        {"content-type": "application/x-www-form-urlencoded"}, Label.HUMAN, None,
                        None, "one-click unsubscribe by the mailbox provider",
                        form={"List-Unsubscribe": "One-Click"})]
    ip = _person_ip(w, recipient)
    agent = browser_agent(recipient, at)
    headers = world.browser_headers(rng, agent, user_activated=True)
    confirm = at + rng.uniform(3, 40)
    return [Request(at, message, "click", index, ip, agent, "GET", headers, Label.HUMAN, None, None,
                    "person opening the preference page"),
            Request(confirm, message, "unsubscribe", index, ip, agent, "POST",
                    {**headers, "content-type": "application/x-www-form-urlencoded",
                     "sec-fetch-mode": "navigate", "sec-fetch-user": "?1"},
                    Label.HUMAN, None, None, "person confirming",
                    form={"action": "unsubscribe_all"})]
