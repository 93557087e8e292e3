"""What an address says: vendor networks (knowledge base), cloud and hosting space (the
iporigin package's offline tables), and the source key that groups one sender's addresses."""

from __future__ import annotations

import functools
import ipaddress
from dataclasses import dataclass

import iporigin

from clicksift.classify.knowledge import Knowledge, NetworkEntry


@dataclass(frozen=True, slots=True)
class NetInfo:
    ip: str
    source: str                    # /24 (IPv4) or /48 (IPv6): one sender's neighbourhood
    entry: NetworkEntry | None     # knowledge-base vendor network
    origin_kind: str               # iporigin: hosting, cdn, vpn, tor, bot, reserved, unknown
    provider: str                  # iporigin's provider name ("" when unknown)

    @property
    def is_private_relay(self) -> bool:
        return self.provider == "Apple Private Relay"


class NetworkAnalyzer:
    def __init__(self, knowledge: Knowledge, cache_size: int = 262144) -> None:
        self.knowledge = knowledge
        self.analyse = functools.lru_cache(maxsize=cache_size)(self._analyse)

    def _analyse(self, ip: str) -> NetInfo:
        address = ipaddress.ip_address(ip)
        prefix = 24 if address.version == 4 else 48
        source = str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))
        origin = iporigin.classify(ip)  # type: ignore[no-untyped-call]
        return NetInfo(ip, source, self.knowledge.match_network(address), origin.kind,
                       origin.provider or "")
