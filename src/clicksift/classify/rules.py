"""The rule catalogue: every rule id the classifier can report, its family, default weight
and what it means. Weights are log-odds (positive: machine, negative: person); settings can
change any weight or switch rules and whole families off. docs/rules.md is generated from
this table.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Rule:
    id: str
    family: str
    weight: float
    summary: str


_RULES = [
    # user agent
    Rule("ua.known-scanner", "user_agent", 4.0,
         "The user agent names an email security scanner (knowledge base)."),
    Rule("ua.link-preview", "user_agent", 4.0,
         "The user agent is a link previewer or unfurler (Slack, Teams, Outlook, social apps)."),
    Rule("ua.http-library", "user_agent", 3.5,
         "The user agent is an HTTP library or command-line tool, not a browser."),
    Rule("ua.headless-browser", "user_agent", 3.5,
         "The user agent is a headless or automated browser."),
    Rule("ua.crawler", "user_agent", 3.0,
         "A maintained crawler list (crawlerdetect) knows the user agent as a bot."),
    Rule("ua.bare-mozilla", "user_agent", 2.0,
         "The user agent is the bare 'Mozilla/5.0' that Apple's privacy proxy sends."),
    Rule("ua.empty", "user_agent", 2.0, "The request carried no User-Agent header at all."),
    Rule("ua.outdated-browser", "user_agent", 0.6,
         "The browser version is a year or more older than current releases at that date."),
    Rule("ua.very-outdated-browser", "user_agent", 1.2,
         "The browser version is several years old at that date (scanners spoof old ones)."),
    Rule("ua.office-link-check", "user_agent", 1.5,
         "An Office application fetched the link itself (protocol discovery), not a browser."),
    Rule("ua.mail-client", "user_agent", -1.5,
         "A person's mail program fetched the images of the message."),
    Rule("ua.image-proxy", "user_agent", -0.5,
         "A webmail image proxy fetched the pixel when the message was displayed."),
    # network
    Rule("net.vendor-certain", "network", 3.5,
         "The address belongs to an email security vendor's scanning network."),
    Rule("net.vendor-probable", "network", 1.8,
         "The address is in an email security vendor's service network."),
    Rule("net.privacy-proxy", "network", 1.0,
         "The address is Apple's (Mail Privacy Protection fetches through Apple's proxies)."),
    Rule("net.private-relay-click", "network", -0.3,
         "The address is an iCloud Private Relay exit, which people's Safari uses."),
    Rule("net.cloud-hosting", "network", 0.6,
         "The address is in a cloud or hosting provider's space, not a home or office line."),
    Rule("net.declared-crawler", "network", 3.0,
         "The address belongs to a declared crawler's published range."),
    Rule("net.user-proxy", "network", -1.0,
         "The address is a corporate security proxy that people browse through (Zscaler)."),
    # request shape
    Rule("req.head", "request", 2.5, "A HEAD request: browsers do not follow links with HEAD."),
    Rule("req.prefetch", "request", 3.0,
         "The request announces itself as a prefetch (Purpose, Sec-Purpose or X-Moz header)."),
    Rule("req.no-accept-language", "request", 1.0,
         "A browser user agent without the Accept-Language header every browser sends."),
    Rule("req.wildcard-accept", "request", 0.8,
         "A browser user agent following a link with 'Accept: */*' instead of asking for HTML."),
    Rule("req.user-activation", "request", -2.5,
         "The browser marked the navigation as user-activated (Sec-Fetch-User: ?1)."),
    # timing
    Rule("timing.before-delivery", "timing", 1.0,
         "The request came before the message was delivered (pre-delivery scanning)."),
    Rule("timing.within-seconds-of-delivery", "timing", 1.5,
         "The request came within seconds of delivery."),
    Rule("timing.within-a-minute-of-delivery", "timing", 0.6,
         "The request came within a minute of delivery."),
    Rule("timing.within-minutes-of-delivery", "timing", 0.2,
         "The request came within five minutes of delivery."),
    Rule("timing.hours-after-delivery", "timing", -0.5,
         "The request came more than an hour after delivery, when people read their mail."),
    Rule("timing.proxy-fetch-at-delivery", "timing", 2.0,
         "An image proxy fetched the pixel within 30 s of delivery: a prefetch."),
    # message context
    Rule("context.honeypot", "context", 10.0,
         "A hidden honeypot link was fetched; no person can see or reach it."),
    Rule("context.honeypot-source", "context", 4.0,
         "The same source fetched this message's hidden honeypot link."),
    Rule("context.all-links-burst", "context", 3.0,
         "One source fetched most of the message's links within seconds."),
    Rule("context.scanner-source", "context", 2.5,
         "The same source fetched most of the message's links within seconds."),
    Rule("context.two-links-burst", "context", 0.6,
         "One source fetched two or more links of the message within three seconds."),
    Rule("context.same-source-many-links", "context", 0.6,
         "One source fetched four or more different links of the message."),
    Rule("context.click-time-check", "context", 1.0,
         "A security network checked the link just before a person's browser followed it."),
    Rule("context.person-after-scanner", "context", -1.5,
         "The link was checked by a scanner moments before; this later request is the person's."),
    # cross-message context
    Rule("crossmsg.source-many-recipients", "cross_message", 2.0,
         "The same source acted on several recipients' messages within minutes."),
    Rule("crossmsg.source-many-domains", "cross_message", 2.5,
         "The same source acted on messages to several companies' domains within minutes."),
    Rule("crossmsg.scanner-address", "cross_message", 2.0,
         "The same address fetched a honeypot or most links of other messages."),
    Rule("crossmsg.domain-gateway-pattern", "cross_message", 0.6,
         "Mail to this recipient domain is scanned at delivery; this request fits that pattern."),
    # ESP hints
    Rule("esp.machine-flag", "esp", 3.0, "The ESP marked the event as machine-generated."),
    # unsubscribe
    Rule("unsub.one-click", "unsubscribe", -8.0,
         "An RFC 8058 one-click unsubscribe: the mailbox provider acting for the person."),
    # evidence that was not there
    Rule("evidence.missing", "evidence", 0.0,
         "Signals the event did not carry, so they could not count either way."),
]

RULES: dict[str, Rule] = {rule.id: rule for rule in _RULES}
FAMILIES: tuple[str, ...] = tuple(dict.fromkeys(rule.family for rule in _RULES))
