"""Cross-message signals: patterns that only show across many messages.

One source following links in many recipients' messages within minutes (opens are left
out: webmail and privacy proxies fetch everyone's images from shared addresses), and
recipient domains
whose mail is scanned at delivery (a learned profile of each domain's gateway). The
:class:`CrossMessage` aggregator sees every message's observations once (first pass),
then adds findings to each event (second pass). Its memory grows with the number of
distinct (source, ten-minute window) pairs near delivery and with the number of
recipient domains, not with the number of events.
"""

from __future__ import annotations

import statistics
import zlib
from bisect import bisect_left, bisect_right, insort
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from clicksift.classify.flat_findings import AT_DECISIVE, AT_RULE, FIELDS
from clicksift.classify.observe import EventDigest
from clicksift.classify.rules import DECISIVE_MACHINE_RULES
from clicksift.classify.signals.context import LOOK_AT_MOST
from clicksift.classify.vocabulary import Kind, finding

WINDOW = 600.0               # seconds: the window in which one source's actions are counted
NEAR_DELIVERY = 1800.0       # only requests this close to delivery are counted per source
MANY_RECIPIENTS = 5          # distinct messages (recipients) one source acts on in a window
#: A source that people navigated from (user-activated clicks) on at least this share of
#: those messages is a company's or a provider's shared address: its reach says nothing.
PEOPLE_SHARE = 0.2
SCANNER_DELTA = 300.0        # a source's typical delay must be under this to count
PROFILE_MIN_MESSAGES = 3     # a domain needs this many messages to have a profile
PROFILE_SHARE = 0.5          # and at least this share of them scanned at delivery
_PERSON_RULES = frozenset({"req.user-activation"})
#: What other messages say of a request's address or source: a scanner's.
_ADDRESS_CLAIMS = frozenset({"crossmsg.scanner-address", "crossmsg.source-many-domains",
                             "crossmsg.source-many-recipients"})
SCAN_PARTY_WINDOW = 60.0     # seconds: other scanners on the same message this close
_SCAN_RULES = frozenset({"context.all-links-burst", "context.honeypot", "net.vendor-certain",
                         "ua.known-scanner", "context.honeypot-source"})


#: Samples of delays kept per source window and per domain. Which ones are kept depends only
#: on the messages (a hash of their ids), never on the order the messages are seen in, so
#: any split of the input (buckets, worker processes, Spark partitions) gives the same
#: aggregates and the same verdicts.
WINDOW_SAMPLE = 64
DOMAIN_SAMPLE = 500


_PERSON, _CLAIM, _DECISIVE, _DECIDED = 1, 2, 4, 8


def _flags(obs: EventDigest) -> int:
    """Which of a person's own navigation, an address claim, decisive machine evidence and
    a finding that settles the verdict (``EventDigest.decided``) OBS's findings hold
    (bits), in one pass over them."""
    flat = obs.findings
    out = 0
    for i in range(0, len(flat), FIELDS):
        rule = flat[i + AT_RULE]
        if rule in _PERSON_RULES:
            out |= _PERSON
        elif rule in _ADDRESS_CLAIMS:
            out |= _CLAIM
        elif rule in DECISIVE_MACHINE_RULES:
            out |= _DECISIVE
        if flat[i + AT_DECISIVE]:
            out |= _DECIDED
    return out


def _sample_key(message_id: str, delay: float) -> tuple[int, float]:
    return (zlib.crc32(message_id.encode()), delay)


def _keep_sample(sample: list[tuple[int, float]], item: tuple[int, float], cap: int) -> None:
    """Add ITEM to SAMPLE, the CAP smallest items seen (sorted)."""
    if len(sample) < cap:
        insort(sample, item)
    elif item < sample[-1]:
        insort(sample, item)
        sample.pop()


def _window_keys(source: str, ts: float) -> tuple[tuple[str, int, int], ...]:
    """The two WINDOW-long slots a request at TS falls in: one on the clock's ten minutes,
    one shifted by half a window (so actions either side of a slot's edge still meet)."""
    return ((source, 0, int(ts // WINDOW)), (source, 1, int((ts + WINDOW / 2) // WINDOW)))


@dataclass
class _SourceWindow:
    messages: set[str] = field(default_factory=set)
    domains: set[str] = field(default_factory=set)
    people: set[str] = field(default_factory=set)    # messages people navigated in from it
    deltas: list[tuple[int, float]] = field(default_factory=list)   # a sample, by message
    _median: float | None = None

    def median(self) -> float:
        if self._median is None:
            self._median = statistics.median([delta for _, delta in self.deltas])
        return self._median


@dataclass
class _DomainProfile:
    messages: int = 0
    scanned: int = 0
    delays: list[tuple[int, float]] = field(default_factory=list)   # a sample, by message
    vendors: Counter[str] = field(default_factory=Counter)

    def active(self) -> bool:
        return (self.messages >= PROFILE_MIN_MESSAGES
                and self.scanned >= PROFILE_SHARE * self.messages)

    def window(self) -> float:
        """How long after delivery this domain's gateway is seen to act."""
        if len(self.delays) < 2:
            return 120.0
        # the 95th percentile
        high = statistics.quantiles([delay for _, delay in self.delays], n=20)[-1]
        return max(120.0, 1.5 * high)

    def vendor(self) -> str | None:
        if not self.vendors:
            return None
        # the most counted; a tie goes to the first name in order, whatever was seen first
        name, count = min(self.vendors.items(), key=lambda item: (-item[1], item[0]))
        return name if count >= 0.5 * sum(self.vendors.values()) else None


class CrossMessage:
    def __init__(self, mx_gateways: dict[str, tuple[str, float]] | None = None) -> None:
        # recipient domain -> (vendor, scanning window) of the link-scanning gateway its MX
        # points to (clicksift gateways): prior evidence before the domain's traffic is seen
        self._mx_gateways: dict[str, tuple[str, float]] = mx_gateways or {}
        # address -> the (at most two, smallest) ids of messages it scanned: enough to tell
        # whether it scanned a message other than any given one, whatever the order seen
        self._scanner_addresses: dict[str, tuple[str, ...]] = {}
        self._person_addresses: set[str] = set()      # addresses people navigated from
        self._windows: dict[tuple[str, int, int], _SourceWindow] = defaultdict(_SourceWindow)
        self._domains: dict[str, _DomainProfile] = defaultdict(_DomainProfile)
        self._profiles: dict[str, tuple[float, str | None]] | None = None

    # -- first pass -------------------------------------------------------------------------

    def observe_message(self, events: list[EventDigest]) -> None:
        """Take in one message's events (with their per-event and message findings)."""
        if not events:
            return
        domain = events[0].domain
        scan_delays = []
        for obs in events:
            if obs.address and obs.scanned_here():
                self._note_scanner(obs.address, (obs.message_id,))
            person = obs.has_any(_PERSON_RULES)
            if obs.address and person:
                self._person_addresses.add(obs.address)
            delta = obs.delta
            if obs.source is None or delta is None or not (obs.is_click or obs.is_open):
                continue
            if obs.is_click and 0 <= delta <= NEAR_DELIVERY:
                for key in _window_keys(obs.source, obs.ts):
                    window = self._windows[key]
                    window.messages.add(obs.message_id)
                    if person:
                        window.people.add(obs.message_id)
                    if domain:
                        window.domains.add(domain)
                    _keep_sample(window.deltas, _sample_key(obs.message_id, delta),
                                 WINDOW_SAMPLE)
            if obs.is_click and obs.has_any(_SCAN_RULES):
                scan_delays.append(delta)
                profile = self._domains[domain] if domain else None
                if profile is not None:
                    vendor = obs.scanner_vendor()
                    if vendor:
                        profile.vendors[vendor] += 1
        if domain:
            profile = self._domains[domain]
            profile.messages += 1
            early = [d for d in scan_delays if d <= NEAR_DELIVERY]
            if early:
                profile.scanned += 1
                _keep_sample(profile.delays, _sample_key(events[0].message_id, min(early)),
                             DOMAIN_SAMPLE)

    def _note_scanner(self, address: str, messages: tuple[str, ...]) -> None:
        known = self._scanner_addresses.get(address)
        for message in messages:
            if known is None:
                known = (message,)
            elif message in known or (len(known) == 2 and message > known[1]):
                continue
            elif message < known[0]:
                known = (message, known[0])
            else:
                known = (known[0], message)
        if known is not None:
            self._scanner_addresses[address] = known

    def merge(self, other: CrossMessage) -> None:
        """Add what OTHER saw: merging the aggregators of any split of the messages, in any
        order, gives exactly what one aggregator would have seen of them all."""
        for address, messages in other._scanner_addresses.items():
            self._note_scanner(address, messages)
        self._person_addresses |= other._person_addresses
        for key, theirs in other._windows.items():
            mine = self._windows[key]
            mine.messages |= theirs.messages
            mine.domains |= theirs.domains
            mine.people |= theirs.people
            for item in theirs.deltas:
                _keep_sample(mine.deltas, item, WINDOW_SAMPLE)
        for domain, profile in other._domains.items():
            ours = self._domains[domain]
            ours.messages += profile.messages
            ours.scanned += profile.scanned
            ours.vendors.update(profile.vendors)
            for item in profile.delays:
                _keep_sample(ours.delays, item, DOMAIN_SAMPLE)
        self._profiles = None

    # -- second pass ------------------------------------------------------------------------

    def _domain_profiles(self) -> dict[str, tuple[float, str | None]]:
        if self._profiles is None:
            self._profiles = {domain: (profile.window(), profile.vendor())
                              for domain, profile in self._domains.items() if profile.active()}
        return self._profiles

    def profile(self, domain: str) -> tuple[float, str | None] | None:
        return self._domain_profiles().get(domain)

    def apply(self, events: list[EventDigest]) -> None:
        """Add cross-message findings to one message's events."""
        if not events:
            return
        domain = events[0].domain
        profile = self._domain_profiles().get(domain) if domain else None
        claimed = False            # whether other messages call an address here a scanner's
        for obs in events:
            claimed |= self._address_findings(obs)
            delta = obs.delta
            if obs.source is None or delta is None or not (obs.is_click or obs.is_open):
                continue
            if obs.is_click and 0 <= delta <= NEAR_DELIVERY:
                claimed |= self._source_findings(obs, delta)
            if (profile is not None and obs.is_click and 0 <= delta <= profile[0]
                    and not obs.has_any(_PERSON_RULES)):
                window, vendor = profile
                obs.add(finding(
                    "crossmsg.domain-gateway-pattern", 1.0, f"mail to {domain} is scanned "
                    f"within {window:.0f} s of delivery"
                    f"{f' (by {vendor})' if vendor else ''}; this came {delta:.0f} s after",
                    Kind.SECURITY_SCANNER, vendor))
            elif (profile is None and obs.is_click and domain in self._mx_gateways
                  and not obs.has_any(_PERSON_RULES)):
                vendor, window = self._mx_gateways[domain]
                if 0 <= delta <= window:
                    obs.add(finding(
                        "crossmsg.mx-gateway", 1.0, f"{domain}'s MX points to {vendor}'s "
                        f"gateway, which scans links within {window:.0f} s of delivery; "
                        f"this came {delta:.0f} s after", Kind.SECURITY_SCANNER, vendor))
        if claimed:
            self._scan_parties(events)

    def _scan_parties(self, events: list[EventDigest]) -> None:
        """A click or unsubscribe from an address other messages call a scanner's comes
        with other addresses' machine requests on this message (with decisive evidence, or
        from addresses other messages call scanners too) within a minute: the message was
        being scanned then, by a party of addresses this one is part of. Other messages
        spoke of the address; this message's own traffic at that moment is another basis."""
        flags = [_flags(obs) for obs in events]
        joining = [i for i in range(len(events))
                   if flags[i] & _CLAIM and not flags[i] & (_PERSON | _DECIDED)
                   and events[i].address is not None and not events[i].is_open]
        if not joining:
            return                 # every claimed request is settled already, or a person's
        party: list[tuple[float, str]] = []
        for i in range(len(events)):
            address = events[i].address
            if address and flags[i] & (_CLAIM | _DECISIVE) and not flags[i] & _PERSON:
                party.append((events[i].ts, address))
        if len(party) < 2:
            return
        party.sort()
        times = [at for at, _ in party]
        for i in joining:
            obs = events[i]
            start = bisect_left(times, obs.ts - SCAN_PARTY_WINDOW)
            end = min(bisect_right(times, obs.ts + SCAN_PARTY_WINDOW), start + LOOK_AT_MOST)
            others = {party[k][1] for k in range(start, end) if party[k][1] != obs.address}
            if others:
                obs.add(finding(
                    "crossmsg.scan-party", 1.0, f"{len(others)} other "
                    f"address{'es' if len(others) > 1 else ''} scanned this message within "
                    f"{SCAN_PARTY_WINDOW:.0f} s of this request", Kind.SECURITY_SCANNER))

    def _address_findings(self, obs: EventDigest) -> bool:
        if obs.address is None or obs.address not in self._scanner_addresses:
            return False
        if obs.address in self._person_addresses:
            return False  # people navigate from it too: a shared address proves nothing
        if obs.decided():
            return False  # settled already (its own honeypot fetch or burst): nothing to add
        elsewhere = False
        for other in self._scanner_addresses[obs.address]:
            if other != obs.message_id:
                elsewhere = True
        if elsewhere:
            obs.add(finding(
                "crossmsg.scanner-address", 1.0, f"{obs.address} fetched the honeypot or most "
                "links of another recipient's message", Kind.SECURITY_SCANNER))
        return elsewhere

    def _source_findings(self, obs: EventDigest, delta: float) -> bool:
        assert obs.source is not None
        best: _SourceWindow | None = None
        for key in _window_keys(obs.source, obs.ts):
            window = self._windows.get(key)
            if window is not None and (best is None or len(window.messages) > len(best.messages)):
                best = window
        if best is None or len(best.messages) < MANY_RECIPIENTS:
            return False
        if best.median() > SCANNER_DELTA:
            return False
        if len(best.people) >= PEOPLE_SHARE * len(best.messages):
            return False  # people behind one address (a company's NAT) reach many too
        if len(best.domains) >= 2:
            obs.add(finding(
                "crossmsg.source-many-domains", 1.0, f"{obs.source} acted on "
                f"{len(best.messages)} messages to {len(best.domains)} domains within "
                f"{WINDOW / 60:.0f} minutes", Kind.SECURITY_SCANNER))
            return True
        obs.add(finding(
            "crossmsg.source-many-recipients", 1.0, f"{obs.source} acted on "
            f"{len(best.messages)} recipients' messages within {WINDOW / 60:.0f} minutes",
            Kind.SECURITY_SCANNER))
        return True
