"""Message-context signals: what a message's events show together.

A honeypot fetch, most links fetched by one source within seconds, the same source on
several links, a person's click that follows a scanner's check of the same link, a
scanner's neighbours (its pool's other addresses), one user agent hopping over a pool of
addresses, and the requests one client makes as steps of one action (its HEAD then its
GET of a link, the unsubscribe page it loads then the form it submits there).
"""

from __future__ import annotations

import bisect
import math
from collections import Counter, defaultdict, deque

from clicksift.classify.observe import Observed
from clicksift.classify.vocabulary import Finding, Kind, finding
from clicksift.events import EventType, LinkKind

BURST_WINDOW = 30.0       # seconds in which "most links" counts as one burst
TWO_LINK_WINDOW = 3.0     # two links this close are not two deliberate clicks
ALL_LINKS_SHARE = 0.6     # "most links": this share of the message's content links...
ALL_LINKS_MIN = 3         # ...and at least this many
UNKNOWN_LINKS_MIN = 5     # "most links" when the message's links are unknown (ESP events)
MANY_LINKS = 4            # one source on this many links over the message's life
CLICK_CHECK_WINDOW = 3.0  # a security network's check this shortly before a person's click
FARM_WINDOW = 15.0        # most links fetched this fast, whatever the addresses
DECISIVE_BURST = 5        # one source on this many links in one burst: no person does that
UNSUB_AFTER_CLICK = 10.0  # an ESP's unsubscribe this soon after a machine's click is its own
FOLLOW_HEAD = 5.0         # a GET this soon after the same client's HEAD of the link follows it
FOLLOW_FORM = 600.0       # a form submitted this soon after the same client loaded its page
NEIGHBOUR_WINDOW = 60.0   # a machine's request from the same network this close
POOL_WINDOW = 60.0        # one user agent from several addresses of a network this close...
POOL_ADDRESSES = 3        # ...from at least this many addresses: a scanner's pool
#: Requests looked at around each one by the rules that pair requests (work stays bounded
#: on a message that someone floods with requests).
LOOK_AT_MOST = 64
#: Findings that make a click a machine's on their own or nearly: what an ESP-recorded
#: unsubscribe right after it inherits (the ESP's own record carries no request).
_MACHINE_CLICK = frozenset({
    "ua.known-scanner", "ua.http-library", "ua.headless-browser", "ua.link-preview",
    "net.vendor-certain", "req.head", "req.prefetch", "context.all-links-burst",
    "context.honeypot", "context.honeypot-source", "esp.machine-flag"})
_SCANNER_RULES = frozenset({"context.all-links-burst", "context.honeypot",
                            "context.honeypot-source"})


def _person_navigation(obs: Observed) -> bool:
    """The browser said a person started this navigation."""
    return obs.has("req.user-activation")


_SCANNER_EVIDENCE = frozenset({"net.vendor-certain", "net.vendor-probable", "ua.known-scanner"})
#: Networks whose addresses many people share and hop between (a corporate proxy, iCloud
#: Private Relay): several of their addresses on one message may be one person's browser.
_SHARED_EGRESS = frozenset({"net.user-proxy", "net.private-relay-click"})


def _is_scanner_evidence(obs: Observed) -> bool:
    return obs.has_any(_SCANNER_EVIDENCE)


def _add(obs: Observed, found: Finding) -> None:
    if not obs.has(found.rule):
        obs.findings.append(found)


def apply(events: list[Observed]) -> None:
    """Add message-context findings to EVENTS (all events of one message, any order)."""
    ordered = sorted(events, key=lambda o: o.event.ts)
    clicks = [o for o in ordered if o.is_click and o.link_key is not None]
    _honeypots(ordered, clicks)
    paired = len(clicks) > 1        # the click rules below all pair a click with another
    if paired:
        content_links = ordered[0].message.content_links
        _bursts(clicks, content_links)
        _farm_bursts(clicks, content_links)
    _scanner_sources(ordered)
    if paired:
        _click_time_checks(clicks)
    _unsubscribes_after_machine_clicks(ordered)
    _follow_ups(ordered)
    if paired:
        _scan_neighbours(clicks)
    if len(clicks) >= POOL_ADDRESSES:
        _address_pools(clicks)


def apply_one(obs: Observed) -> None:
    """The message-context findings one event can carry on its own (what a provisional
    verdict at request time sees): a honeypot fetch. Every other context rule pairs it with
    other events, so this is :func:`apply` on a message of one event, without the work."""
    if obs.is_click and obs.link_key is not None:
        _honeypots([obs], [obs])


def _honeypots(events: list[Observed], clicks: list[Observed]) -> None:
    trapped = {o.source for o in clicks if o.link_kind == LinkKind.HONEYPOT and o.source}
    for obs in clicks:
        if obs.link_kind == LinkKind.HONEYPOT:
            _add(obs, finding("context.honeypot", 1.0, "it fetched the hidden honeypot link, "
                              "which no person can see or reach", Kind.SECURITY_SCANNER,
                              decisive=True))
    if not trapped:
        return
    for obs in events:
        if obs.source in trapped and obs.link_kind != LinkKind.HONEYPOT:
            _add(obs, finding("context.honeypot-source", 1.0, f"the same source ({obs.source}) "
                              "fetched this message's honeypot link", Kind.SECURITY_SCANNER))


def _window(group: list[Observed], center: float, width: float,
            times: list[float]) -> list[Observed]:
    """Members of GROUP (sorted by time; TIMES their times) within WIDTH seconds of CENTER."""
    return group[bisect.bisect_left(times, center - width):
                 bisect.bisect_right(times, center + width)]


def _bursts(clicks: list[Observed], content_links: int) -> None:
    """Per source: most links within seconds, two links within three seconds, or many
    different links over the message's life. CLICKS are sorted by time."""
    by_source: dict[str, list[Observed]] = defaultdict(list)
    for obs in clicks:
        if obs.source is not None:
            by_source[obs.source].append(obs)
    needed = max(ALL_LINKS_MIN, math.ceil(ALL_LINKS_SHARE * content_links)) \
        if content_links else UNKNOWN_LINKS_MIN
    many = MANY_LINKS if content_links else UNKNOWN_LINKS_MIN
    for source, group in by_source.items():
        if len(group) < 2:
            continue
        links = {o.link_key for o in group}
        distinct = len(links)
        if distinct < 2:
            continue                         # one link, however often: no burst, not many
        times = [o.event.ts for o in group]
        # One scan within the window (the usual case): every request's window is all of it.
        whole = distinct >= needed and times[-1] - times[0] <= BURST_WINDOW
        for obs in group:
            if whole:
                window, links_in_window = group, links
            elif distinct >= needed:
                window = _window(group, obs.event.ts, BURST_WINDOW, times)
                links_in_window = {o.link_key for o in window}
            else:                            # most links cannot be reached: skip the count
                window, links_in_window = [], set()
            if len(links_in_window) >= needed:
                span = window[-1].event.ts - window[0].event.ts
                _add(obs, finding("context.all-links-burst", 1.0, f"{source} fetched "
                                  f"{len(links_in_window)} links of this message within "
                                  f"{span:.0f} s", Kind.SECURITY_SCANNER,
                                  decisive=len(links_in_window) >= DECISIVE_BURST))
            else:
                nearby = _window(group, obs.event.ts, TWO_LINK_WINDOW, times)
                close = {o.link_key for o in nearby}
                if len(close) >= 2 and not _tabs_of_a_person(obs, nearby):
                    _add(obs, finding("context.two-links-burst", 1.0, f"{source} fetched "
                                      f"{len(close)} different links within "
                                      f"{TWO_LINK_WINDOW:.0f} s", Kind.SECURITY_SCANNER))
            if distinct >= many:
                _add(obs, finding("context.same-source-many-links", 1.0, f"{source} fetched "
                                  f"{distinct} different links of this message",
                                  Kind.SECURITY_SCANNER))


def _tabs_of_a_person(obs: Observed, nearby: list[Observed]) -> bool:
    """Whether the browser of OBS (its source and user agent) marked one of the NEARBY
    fetches as a person's navigation: a person opening several links in tabs."""
    agent = obs.event.user_agent
    return bool(agent) and any(o.event.user_agent == agent and _person_navigation(o)
                               for o in nearby)


def _farm_bursts(clicks: list[Observed], content_links: int) -> None:
    """Most of the message's links fetched within seconds from several addresses: a scanner
    spreading its fetches over a pool of addresses (no person clicks like that)."""
    needed = max(ALL_LINKS_MIN + 1, math.ceil(ALL_LINKS_SHARE * content_links)) \
        if content_links else UNKNOWN_LINKS_MIN
    machine_like = [o for o in clicks if not _person_navigation(o)]
    if len(machine_like) < needed or len({o.link_key for o in machine_like}) < needed:
        return
    everyone = {o.source for o in machine_like}
    if len(everyone) == 1 and None not in everyone:
        return                          # one address: its own bursts are _bursts' to find
    times = [o.event.ts for o in machine_like]
    following: set[int] | None = None       # worked out once a burst is found
    for position, obs in enumerate(machine_like):
        end = bisect.bisect_right(times, obs.event.ts + FARM_WINDOW)
        if end - position < needed:
            continue                    # too few fetches in the window for most links
        window = machine_like[position:end]
        links = {o.link_key for o in window}
        if len(links) < needed:
            continue
        kept = _without_strays(window)
        if len(kept) < len(window):
            window = kept
            links = {o.link_key for o in window}
            if len(links) < needed:
                continue
        sources = {o.source for o in window}
        if len(sources) >= 2:
            where = f"from {len(sources)} addresses"
        elif sources == {None}:         # an ESP that reports no address: the burst alone
            where = "(the ESP gave no addresses)"
        else:
            continue
        burst = finding("context.all-links-burst", 1.0, f"{len(links)} links of this "
                        f"message were fetched within {FARM_WINDOW:.0f} s {where}",
                        Kind.SECURITY_SCANNER, evidence="farm")
        if following is None:
            following = _followers(machine_like)
        for member in window:
            if id(member) not in following:
                _add(member, burst)


def _without_strays(window: list[Observed]) -> list[Observed]:
    """WINDOW without its strays: fetches whose user agent, and whose network, no other
    fetch of the window shares. A scanner's pool runs one browser stack from a few
    networks. A person clicking while it scans comes with another browser from another
    network. When strays make up half the window or more, the fetches share no pattern,
    and the window is kept whole."""
    agents = Counter(o.event.user_agent for o in window)
    if len(agents) == 1:
        return window                   # one browser stack: nobody strays from it
    networks = Counter(o.net.network if o.net is not None else None for o in window)
    strays = [o for o in window
              if o.event.user_agent and agents[o.event.user_agent] == 1
              and (o.net is None or networks[o.net.network] == 1)]
    if not strays or 2 * len(strays) >= len(window):
        return window
    stray_ids = {id(o) for o in strays}
    return [o for o in window if id(o) not in stray_ids]


def _followers(clicks: list[Observed]) -> set[int]:
    """The clicks (by id) that followed a link another address had fetched in the
    FARM_WINDOW seconds before (a person's browser going where the scan had just been):
    they are not part of the scan's farm. A rescan hours later leads again."""
    recent: dict[str | None, deque[tuple[float, str | None]]] = defaultdict(deque)
    counts: dict[str | None, Counter[str | None]] = defaultdict(Counter)
    out: set[int] = set()
    for obs in clicks:                      # in time order
        at, link = obs.event.ts, obs.link_key
        fetched, sources = recent[link], counts[link]
        while fetched and at - fetched[0][0] > FARM_WINDOW:
            _, gone = fetched.popleft()
            sources[gone] -= 1
            if not sources[gone]:
                del sources[gone]
        if len(sources) > 1 or (sources and obs.source not in sources):
            out.add(id(obs))
        fetched.append((at, obs.source))
        sources[obs.source] += 1
    return out


def _scanner_sources(events: list[Observed]) -> None:
    """Whatever else comes from a source that fetched most links at once is the scanner too
    (its pixel fetch, its unsubscribe form submission)."""
    scanners = {o.source for o in events if o.source and o.has("context.all-links-burst")}
    if not scanners:
        return
    for obs in events:
        if obs.source in scanners and not obs.has_any(_SCANNER_RULES):
            _add(obs, finding("context.scanner-source", 1.0, f"the same source ({obs.source}) "
                              "fetched most of this message's links within seconds",
                              Kind.SECURITY_SCANNER))


def _click_time_checks(clicks: list[Observed]) -> None:
    """A security network fetching a link just before a person's browser does is the
    gateway's time-of-click check (Safe Links): the check is a machine, the click a person."""
    for position, person in enumerate(clicks):
        if person.source is None or _is_scanner_evidence(person):
            continue
        for check in reversed(clicks[:position]):
            gap = person.event.ts - check.event.ts
            if gap > CLICK_CHECK_WINDOW:
                break
            if (check.link_key == person.link_key and check.source != person.source
                    and _is_scanner_evidence(check)):
                vendor = next((f.vendor for f in check.findings if f.vendor), None)
                _add(check, finding("context.click-time-check", 1.0, f"it checked the link "
                                    f"{gap:.1f} s before a browser from {person.source} "
                                    "followed it", Kind.SECURITY_SCANNER, vendor))
                _add(person, finding("context.person-after-scanner", 1.0,
                                     f"{vendor or 'a security network'} checked this link "
                                     f"{gap:.1f} s earlier; this request is the person's"))
                break


def _unsubscribes_after_machine_clicks(events: list[Observed]) -> None:
    """An unsubscribe an ESP recorded without a request of its own (no address, no user
    agent: Braze's, Mailchimp's) within seconds after a click that is a machine's, with no
    other click between them that might be the person's: the ESP processed the machine's
    click on its unsubscribe link. A person's click in between (a time-of-click check
    followed by the person's browser) keeps it a person's."""
    bare = [o for o in events if o.event.type == EventType.UNSUBSCRIBE and not o.event.ip
            and not o.event.user_agent]
    if not bare:
        return
    clicks = [o for o in events if o.is_click]
    for unsub in bare:
        at = unsub.event.ts
        recent = [c for c in clicks if at - UNSUB_AFTER_CLICK <= c.event.ts <= at + 1.0]
        if recent and all(c.has_any(_MACHINE_CLICK) for c in recent):
            _add(unsub, finding(
                "context.unsubscribe-after-machine-click", 1.0,
                f"recorded {max(at - recent[-1].event.ts, 0.0):.0f} s after a machine's "
                "click on the message, with no person's click between", Kind.SECURITY_SCANNER))


def _follow_ups(events: list[Observed]) -> None:
    """Mark each request that is the next step of an earlier one by the same client (the
    same address and user agent): the GET of a link within seconds of its own HEAD of it,
    and an unsubscribe form submitted within minutes of loading its page. The engine gives
    a follow-up its lead's verdict when that is a machine's (``Engine.judge_message``): one
    client, one actor. A request the browser marks as the person's own (user activation),
    and an RFC 8058 one-click POST (which loads no page), follow nothing. EVENTS are in time
    order; each client's last HEAD and last GET of each link are remembered."""
    for obs in events:              # most messages have neither a HEAD nor a form: no work
        if obs.event.method == "HEAD" or obs.event.type == EventType.UNSUBSCRIBE:
            break
    else:
        return
    heads: dict[tuple[str, str, str], tuple[float, str]] = {}
    pages: dict[tuple[str, str, str], tuple[float, str]] = {}
    for obs in events:
        event = obs.event
        method = event.method
        if event.ip is None or event.user_agent is None or obs.link_key is None:
            continue
        key = (event.ip, event.user_agent, obs.link_key)
        if obs.is_click and method == "HEAD":
            heads[key] = (event.ts, event.id)
            continue
        if obs.is_click and method == "GET":
            lead, window = heads.get(key), FOLLOW_HEAD
            pages[key] = (event.ts, event.id)
        elif (event.type == EventType.UNSUBSCRIBE and method == "POST"
              and not obs.has("unsub.one-click")):
            lead, window = pages.get(key), FOLLOW_FORM
        else:
            continue
        if lead is not None and event.ts - lead[0] <= window and not _person_navigation(obs):
            obs.lead = lead[1]


def _probes(obs: Observed) -> bool:
    """A request a scanner's pool makes and no person's browser does: HEAD, or a honeypot
    fetch."""
    return obs.event.method == "HEAD" or obs.link_kind == LinkKind.HONEYPOT


def _scan_neighbours(clicks: list[Observed]) -> None:
    """A click within a minute of a machine's request (see :func:`_probes`) from another
    address of the same network on another link of the message: the scanner's pool
    spreads its fetches over its addresses. Address evidence, weak: it makes a machine
    only beside evidence on other bases. A person's own navigation (user activation), and
    a browser following the very link the machine had fetched (a time-of-click check), get
    nothing from it. CLICKS are in time order."""
    by_network: dict[str, list[tuple[float, str, str | None]]] = {}
    for o in clicks:
        if o.net is not None and _probes(o):
            by_network.setdefault(o.net.network, []).append((o.event.ts, o.net.ip, o.link_key))
    if not by_network:
        return
    times = {network: [m[0] for m in group] for network, group in by_network.items()}
    for obs in clicks:
        net = obs.net
        if net is None or _probes(obs):
            continue
        group = by_network.get(net.network)
        if group is None:
            continue
        at, when = obs.event.ts, times[net.network]
        start = bisect.bisect_left(when, at - NEIGHBOUR_WINDOW)
        end = min(bisect.bisect_right(when, at + NEIGHBOUR_WINDOW), start + LOOK_AT_MOST)
        if start == end or _person_navigation(obs) or obs.decided():
            continue
        for k in range(start, end):
            ts, ip, link = group[k]
            if ip != net.ip and link != obs.link_key:
                _add(obs, finding("context.scan-neighbour", 1.0, f"{ip}, in the same "
                                  f"network, made a machine's request {abs(ts - at):.0f} s "
                                  f"{'before' if ts <= at else 'after'} this one",
                                  Kind.SECURITY_SCANNER))
                break


def _address_pools(clicks: list[Observed]) -> None:
    """One user agent following links of the message from POOL_ADDRESSES or more addresses
    of one network within POOL_WINDOW seconds: a scanner spreading its fetches over its
    pool. A person's browser keeps its address from one click to the next (behind a NAT,
    a VPN or a virtual desktop alike); the networks people share and hop between (a
    corporate proxy, Private Relay) and a person's own navigation (user activation) get
    nothing from it. CLICKS are in time order."""
    groups: dict[tuple[str, str | None], list[Observed]] = {}
    for obs in clicks:
        if obs.net is not None:
            groups.setdefault((obs.net.network, obs.event.user_agent), []).append(obs)
    for (network, agent), everyone in groups.items():
        if len(everyone) < POOL_ADDRESSES or not agent \
                or len({o.event.ip for o in everyone}) < POOL_ADDRESSES:
            continue                 # the common case: one scanner's address, or a person's
        group = [o for o in everyone
                 if not _person_navigation(o) and not o.has_any(_SHARED_EGRESS)]
        if len({o.event.ip for o in group}) < POOL_ADDRESSES:
            continue
        times = [o.event.ts for o in group]
        if times[-1] - times[0] <= POOL_WINDOW:       # one scan, all within the window
            _pool_finding(group, len({o.event.ip for o in group}), network)
            continue
        for position, obs in enumerate(group):
            start = bisect.bisect_left(times, times[position] - POOL_WINDOW)
            end = min(bisect.bisect_right(times, times[position] + POOL_WINDOW),
                      start + LOOK_AT_MOST)
            addresses = len({group[k].event.ip for k in range(start, end)})
            if addresses >= POOL_ADDRESSES:
                _pool_finding([obs], addresses, network)


def _pool_finding(members: list[Observed], addresses: int, network: str) -> None:
    found = finding("context.address-pool", 1.0, f"the same user agent followed this "
                    f"message's links from {addresses} addresses of {network} within "
                    f"{POOL_WINDOW:.0f} s", Kind.SECURITY_SCANNER)
    for obs in members:
        if not obs.decided():
            _add(obs, found)
