"""Recipient domains' mail exchangers and the gateways behind them, cached in the store.

A domain's MX hosts are looked up once and kept for their TTL (at least an hour, at most a
week); failures are kept for five minutes, so a flaky resolver is asked again soon but not
hammered. Lookups are rate-limited (``mx_lookup_rate`` per second). Offline, only the cache
answers. The vendor is read from the knowledge base's gateway table at answer time, so a
knowledge update re-attributes cached domains without new lookups.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from clicksift.classify.gateways import GatewayEntry, GatewayTable, load_gateways
from clicksift.lookup.resolver import LookupFailed, Resolver
from clicksift.storage.records import MxRecord

MIN_TTL = 3600.0
MAX_TTL = 7 * 86400.0
FAILED_TTL = 300.0


class MxCache(Protocol):
    def mx_records(self, domains: Sequence[str] | None = None) -> dict[str, MxRecord]: ...

    def save_mx_records(self, records: Iterable[MxRecord]) -> None: ...


@dataclass(frozen=True, slots=True)
class DomainGateway:
    """What a recipient domain's MX says about who receives its mail."""

    domain: str
    record: MxRecord | None          # None: never looked up (offline, or lookups off)
    entry: GatewayEntry | None       # the vendor its MX hosts belong to, if known

    @property
    def vendor(self) -> str | None:
        return None if self.entry is None else self.entry.vendor

    @property
    def scanning_gateway(self) -> bool:
        return self.entry is not None and self.entry.scans_links

    @property
    def hosts(self) -> tuple[str, ...]:
        return () if self.record is None else self.record.hosts

    @property
    def status(self) -> str:
        return "not looked up" if self.record is None else self.record.status


def record_from_lookup(domain: str, resolver: Resolver, now: float) -> MxRecord:
    """Look DOMAIN's MX up: ok, no_mx (mail goes to its address records), null_mx (RFC 7505:
    it takes no mail), no_domain, or failed."""
    try:
        hosts, ttl = resolver.mx(domain)
        if not hosts:
            status = "no_mx" if resolver.addresses(domain) else "no_domain"
            return MxRecord(domain, (), status, now, now + MIN_TTL)
    except LookupFailed:
        return MxRecord(domain, (), "failed", now, now + FAILED_TTL)
    names = tuple(host for _, host in hosts)
    status = "null_mx" if names == ("",) or names == (".",) else "ok"
    ttl = min(MAX_TTL, max(MIN_TTL, ttl))
    return MxRecord(domain, () if status == "null_mx" else names, status, now, now + ttl)


class GatewayLookup:
    """Domain -> gateway, from the cache and (unless offline) the resolver."""

    def __init__(self, cache: MxCache, resolver: Resolver | None, *,
                 rate: float = 20.0, table: GatewayTable | None = None,
                 clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.cache = cache
        self.resolver = resolver
        self.rate = rate
        self.table = table or load_gateways()
        self.clock = clock
        self.sleep = sleep
        self.looked_up = 0

    def attribute(self, domain: str, record: MxRecord | None) -> DomainGateway:
        entry = self.table.match(record.hosts) if record is not None else None
        return DomainGateway(domain, record, entry)

    def cached(self, domains: Sequence[str] | None = None) -> dict[str, DomainGateway]:
        """What the cache knows (of DOMAINS, or of every cached domain), stale or not."""
        records = self.cache.mx_records(None if domains is None else
                                        [normalize(d) for d in domains])
        return {domain: self.attribute(domain, record) for domain, record in records.items()}

    def lookup(self, domains: Iterable[str], *, offline: bool = False,
               progress: Callable[[int, int], None] | None = None
               ) -> dict[str, DomainGateway]:
        """Every domain's gateway: fresh cache entries as they are; the rest looked up (at
        most ``rate`` a second) and cached, unless OFFLINE or there is no resolver."""
        wanted = list(dict.fromkeys(normalize(d) for d in domains if d))
        records = self.cache.mx_records(wanted)
        now = self.clock()
        stale = [d for d in wanted if d not in records or not records[d].fresh(now)]
        if not offline and self.resolver is not None and stale:
            fresh = self._look_up(stale, progress)
            records.update((record.domain, record) for record in fresh)
        return {domain: self.attribute(domain, records.get(domain)) for domain in wanted}

    def _look_up(self, domains: list[str], progress: Callable[[int, int], None] | None
                 ) -> list[MxRecord]:
        assert self.resolver is not None
        found: list[MxRecord] = []
        interval = 1.0 / self.rate if self.rate > 0 else 0.0
        started = self.clock()
        for index, domain in enumerate(domains):
            wait = started + index * interval - self.clock()
            if wait > 0:
                self.sleep(wait)
            found.append(record_from_lookup(domain, self.resolver, self.clock()))
            self.looked_up += 1
            if len(found) % 100 == 0:
                self.cache.save_mx_records(found[-100:])
            if progress is not None:
                progress(index + 1, len(domains))
        self.cache.save_mx_records(found[len(found) - len(found) % 100:])
        return found


def normalize(domain: str) -> str:
    """A domain as the cache keys it: lower case, no final dot, the part after any '@'."""
    return domain.rsplit("@", 1)[-1].strip().rstrip(".").lower()


def scanning_gateways(gateways: Iterable[DomainGateway]) -> dict[str, GatewayEntry]:
    """Domain -> its scanning gateway, for the classifier's prior (mailbox providers and
    unknown MX hosts left out)."""
    return {g.domain: g.entry for g in gateways if g.entry is not None and g.entry.scans_links}
