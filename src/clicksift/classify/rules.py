"""The rule catalogue: every rule id the classifier can report, its family, default weight,
what it means, and what kind of evidence it is. Weights are log-odds (positive: machine,
negative: person); settings can change any weight or switch rules and whole families off.
docs/rules.md is generated from this table.

**The evidence discipline** (docs/classifier.md). Every machine rule has a *strength*:

- ``decisive``: enough on its own (a honeypot fetch, a self-declared automation, HEAD, a
  request before delivery, an ESP's own machine flag);
- ``strong``: a machine only when evidence from another *basis* agrees (a scanner's
  network, a burst over most links, one source on many recipients' mail);
- ``weak``: circumstantial (an outdated browser, cloud space, a missing header, timing near
  delivery); it adds to the score, but weak findings make a machine only when they rest on
  at least three different bases, or when a strong finding stands beside them.

A rule's *bases* say what it rests on (``identity``: what the client says it is;
``address``: where it came from; ``request``: how it asked; ``timing``: when;
``behaviour``: what it (or its neighbourhood) did to this message; ``history``: what
the same address did to other messages' traps or links; ``population``: how many
recipients' messages the same source acted on; ``esp``: the ESP's word; ``anchor``: a trap
or a provider's one-click).
Two findings on one basis (a click within a minute and a domain scanned within a minute)
are one piece of evidence, not two; and a rule *built on* a basis (one source acting on
many recipients' mail near delivery is built on timing) is not corroborated by it. A
finding too faint to stand alone (below the engine's ``MIN_BASIS_WEIGHT``: an open minutes
after delivery) counts in the score but on no basis. Rules against a machine are
``person`` evidence.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

DECISIVE: Final = "decisive"
STRONG: Final = "strong"
WEAK: Final = "weak"
PERSON: Final = "person"
NEUTRAL: Final = "neutral"
STRENGTHS = (DECISIVE, STRONG, WEAK, PERSON, NEUTRAL)
BASES = ("identity", "address", "request", "timing", "behaviour", "history", "population",
         "esp", "anchor")
#: Weak findings on this many different bases make a machine without a strong one.
WEAK_BASES_NEEDED = 3


@dataclass(frozen=True)
class Rule:
    id: str
    family: str
    weight: float
    summary: str
    strength: str = WEAK
    bases: tuple[str, ...] = ()
    #: Bases the rule's own test already looks at: findings on them say nothing new beside
    #: it, so they do not corroborate it (one source on many recipients' mail *near
    #: delivery* is timing already).
    built_on: tuple[str, ...] = ()


_RULES = [
    # user agent
    Rule("ua.known-scanner", "user_agent", 4.0,
         "The user agent names an email security scanner (knowledge base).",
         DECISIVE, ("identity",)),
    Rule("ua.link-preview", "user_agent", 4.0,
         "The user agent is a link previewer or unfurler (Slack, Teams, Outlook, social apps).",
         DECISIVE, ("identity",)),
    Rule("ua.http-library", "user_agent", 3.5,
         "The user agent is an HTTP library or command-line tool, not a browser.",
         DECISIVE, ("identity",)),
    Rule("ua.headless-browser", "user_agent", 3.5,
         "The user agent is a headless or automated browser.", DECISIVE, ("identity",)),
    Rule("ua.crawler", "user_agent", 3.0,
         "A maintained crawler list (crawlerdetect) knows the user agent as a bot.",
         STRONG, ("identity",)),
    Rule("ua.bare-mozilla", "user_agent", 2.0,
         "The user agent is the bare 'Mozilla/5.0' that Apple's privacy proxy sends.",
         STRONG, ("identity",)),
    Rule("ua.empty", "user_agent", 2.0, "The request carried no User-Agent header at all.",
         STRONG, ("identity",)),
    Rule("ua.outdated-browser", "user_agent", 0.6,
         "The browser version is a year or more older than current releases at that date.",
         WEAK, ("identity",)),
    Rule("ua.very-outdated-browser", "user_agent", 1.2,
         "The browser version is several years old at that date (scanners spoof old ones).",
         WEAK, ("identity",)),
    Rule("ua.office-link-check", "user_agent", 1.5,
         "An Office application fetched the link itself (protocol discovery), not a browser.",
         STRONG, ("identity",)),
    Rule("ua.mail-client", "user_agent", -1.5,
         "A person's mail program fetched the images of the message.", PERSON, ("identity",)),
    Rule("ua.image-proxy", "user_agent", -0.5,
         "A webmail image proxy fetched the pixel when the message was displayed.",
         PERSON, ("identity",)),
    # network
    Rule("net.vendor-certain", "network", 3.5,
         "The address belongs to an email security vendor's scanning network.",
         STRONG, ("address",)),
    Rule("net.vendor-probable", "network", 1.8,
         "The address is in an email security vendor's service network (which also carries "
         "people's traffic, such as Outlook on the web's images: half as much on an open, "
         "and its weight falls with time since delivery).", WEAK, ("address",)),
    Rule("net.privacy-proxy", "network", 1.0,
         "The address is Apple's (Mail Privacy Protection fetches through Apple's proxies).",
         STRONG, ("address",)),
    Rule("net.private-relay-click", "network", -0.3,
         "The address is an iCloud Private Relay exit, which people's Safari uses.",
         PERSON, ("address",)),
    Rule("net.cloud-hosting", "network", 0.6,
         "The address is in a cloud or hosting provider's space, not a home or office line "
         "(virtual desktops and relays are there too: its weight falls with time since "
         "delivery).", WEAK, ("address",)),
    Rule("net.declared-crawler", "network", 3.0,
         "The address belongs to a declared crawler's published range.", STRONG, ("address",)),
    Rule("net.user-proxy", "network", -1.0,
         "The address is a corporate security proxy that people browse through (Zscaler).",
         PERSON, ("address",)),
    # request shape
    Rule("req.head", "request", 2.5, "A HEAD request: browsers do not follow links with HEAD.",
         DECISIVE, ("request",)),
    Rule("req.prefetch", "request", 3.0,
         "The request announces itself as a prefetch (Purpose, Sec-Purpose or X-Moz header).",
         DECISIVE, ("request",)),
    Rule("req.no-accept-language", "request", 1.0,
         "A browser user agent following a link without the Accept-Language header every "
         "browser sends (not counted on images, which mail proxies fetch without it).",
         WEAK, ("request",)),
    Rule("req.wildcard-accept", "request", 0.8,
         "A browser user agent following a link with 'Accept: */*' instead of asking for HTML.",
         WEAK, ("request",)),
    Rule("req.no-fetch-metadata", "request", 0.8,
         "A browser that sends fetch metadata (Sec-Fetch-*) on every secure navigation "
         "followed an HTTPS link without it: a script wearing the browser's user agent.",
         WEAK, ("request",)),
    Rule("req.user-activation", "request", -2.5,
         "The browser marked the navigation as user-activated (Sec-Fetch-User: ?1).",
         PERSON, ("request",)),
    # timing
    Rule("timing.before-delivery", "timing", 1.0,
         "The request came before the message was delivered (pre-delivery scanning).",
         DECISIVE, ("timing",)),
    Rule("timing.within-seconds-of-delivery", "timing", 1.5,
         "The request came within seconds of delivery.", STRONG, ("timing",)),
    Rule("timing.within-a-minute-of-delivery", "timing", 0.6,
         "The request came within a minute of delivery.", WEAK, ("timing",)),
    Rule("timing.within-minutes-of-delivery", "timing", 0.2,
         "The request came within five minutes of delivery.", WEAK, ("timing",)),
    Rule("timing.hours-after-delivery", "timing", -1.0,
         "The request came more than an hour after delivery, well past any scanning window, "
         "when people read their mail.", PERSON, ("timing",)),
    Rule("timing.proxy-fetch-at-delivery", "timing", 2.0,
         "An image proxy fetched the pixel within 30 s of delivery: a prefetch.",
         STRONG, ("identity", "timing")),
    # message context
    Rule("context.honeypot", "context", 10.0,
         "A hidden honeypot link was fetched; no person can see or reach it.",
         DECISIVE, ("anchor",)),
    Rule("context.honeypot-source", "context", 4.0,
         "The same source fetched this message's hidden honeypot link.",
         STRONG, ("behaviour",)),
    Rule("context.all-links-burst", "context", 3.0,
         "One source fetched most of the message's links within seconds (decisive when "
         "that is five links or more: no person opens five links in half a minute).",
         STRONG, ("behaviour",)),
    Rule("context.scanner-source", "context", 2.5,
         "The same source fetched most of the message's links within seconds.",
         STRONG, ("behaviour",)),
    Rule("context.two-links-burst", "context", 0.6,
         "One source fetched two or more links of the message within three seconds (not "
         "when the same browser marked one of them as the person's navigation: tabs).",
         WEAK, ("behaviour",)),
    Rule("context.same-source-many-links", "context", 0.6,
         "One source fetched four or more different links of the message.",
         WEAK, ("behaviour",)),
    Rule("context.click-time-check", "context", 2.0,
         "A security network checked the link just before a person's browser followed it.",
         STRONG, ("address", "behaviour")),
    Rule("context.unsubscribe-after-machine-click", "context", 3.0,
         "An unsubscribe the ESP recorded (with no request of its own) seconds after a "
         "machine's click on the message, and no other click between: the machine's click on "
         "the unsubscribe link.", STRONG, ("behaviour",)),
    Rule("context.follow-up-of-machine", "context", 3.0,
         "The same client (address and user agent) made this request as the next step of "
         "one judged a machine's: the GET of a link right after its own HEAD of it, or the "
         "unsubscribe form submitted from the page it loaded. It takes that verdict and "
         "score.", DECISIVE, ("behaviour",)),
    Rule("context.scan-neighbour", "context", 0.6,
         "Another address of the same network (IPv4 /16, IPv6 /32) sent HEAD for, or "
         "fetched the honeypot of, another link of this message within a minute: one "
         "scanner's pool of addresses.",
         WEAK, ("address",)),
    Rule("context.address-pool", "context", 1.5,
         "One user agent followed links of the message from three or more addresses of one "
         "network (IPv4 /16, IPv6 /32) within a minute: a scanner spreading its fetches over "
         "its pool (a person's browser keeps its address; proxies and relays that people "
         "share do not count).", STRONG, ("behaviour",)),
    Rule("context.person-after-scanner", "context", -1.5,
         "The link was checked by a scanner moments before; this later request is the person's.",
         PERSON, ("behaviour",)),
    # cross-message context
    Rule("crossmsg.source-many-recipients", "cross_message", 2.0,
         "The same source acted on several recipients' messages within minutes (one "
         "company's people behind one address do too: time since delivery, which the rule "
         "is built on, does not corroborate it).",
         STRONG, ("population",), ("timing",)),
    Rule("crossmsg.source-many-domains", "cross_message", 2.5,
         "The same source acted on messages to several companies' domains within minutes.",
         STRONG, ("population",)),
    Rule("crossmsg.scanner-address", "cross_message", 2.0,
         "The same address fetched a honeypot or most links of other messages.",
         STRONG, ("history",)),
    Rule("crossmsg.scan-party", "cross_message", 0.6,
         "Other addresses scanned this message within a minute of this request (requests "
         "with decisive machine evidence, or from addresses other messages call scanners), "
         "and other messages call this one a scanner's too: the message's own traffic at "
         "that moment beside what other messages say of the address.", WEAK, ("behaviour",)),
    Rule("crossmsg.domain-gateway-pattern", "cross_message", 0.6,
         "Mail to this recipient domain is scanned at delivery; this request fits that pattern "
         "(a statement about time since delivery, so it is timing evidence).",
         WEAK, ("timing",)),
    Rule("crossmsg.mx-gateway", "cross_message", 0.6,
         "The recipient domain's MX points to a link-scanning gateway (clicksift gateways) "
         "and this request came within that gateway's scanning window; prior evidence for "
         "a domain whose own traffic has not shown its pattern yet (timing evidence, as "
         "the pattern rule).",
         WEAK, ("timing",)),
    # ESP hints
    Rule("esp.machine-flag", "esp", 3.0, "The ESP marked the event as machine-generated.",
         DECISIVE, ("esp",)),
    # unsubscribe
    Rule("unsub.one-click", "unsubscribe", -8.0,
         "An RFC 8058 one-click unsubscribe: the mailbox provider acting for the person.",
         PERSON, ("anchor",)),
    # evidence that was not there
    Rule("evidence.missing", "evidence", 0.0,
         "Signals the event did not carry, so they could not count either way.", NEUTRAL),
    Rule("evidence.uncorroborated", "evidence", 0.0,
         "The machine evidence was not enough: no decisive finding, and no strong finding "
         "that evidence on another basis agreed with; the event counts as a person's.",
         NEUTRAL),
]

RULES: dict[str, Rule] = {rule.id: rule for rule in _RULES}
#: Rules whose finding is decisive evidence of a machine on its own (HEAD, a honeypot...).
DECISIVE_MACHINE_RULES = frozenset(rule.id for rule in _RULES
                                   if rule.strength == DECISIVE and rule.weight > 0)
FAMILIES: tuple[str, ...] = tuple(dict.fromkeys(rule.family for rule in _RULES))

#: Rule id -> its strength (decisive, strong, weak, person, neutral).
STRENGTH: dict[str, str] = {rule.id: rule.strength for rule in _RULES}
#: Rule id -> the bases it rests on.
BASES_OF: dict[str, tuple[str, ...]] = {rule.id: rule.bases for rule in _RULES}
