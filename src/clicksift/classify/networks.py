"""What an address says: vendor networks (knowledge base), cloud and hosting space (the
iporigin package's offline tables), and the source key that groups one sender's addresses."""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass

import iporigin

from clicksift.classify.knowledge import Knowledge, NetworkEntry
from clicksift.classify.memo import Memoized


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


class NetworkAnalyzer(Memoized[NetInfo]):
    def __init__(self, knowledge: Knowledge, cache_size: int = 262144) -> None:
        super().__init__(cache_size)
        self.knowledge = knowledge

    def _analyse(self, ip: str) -> NetInfo:
        if ":" not in ip:  # IPv4, already checked and normalised by the event reader
            value = int.from_bytes(socket.inet_aton(ip), "big")
            entry = self.knowledge.ranges.lookup_int(4, value)
            source = ip.rsplit(".", 1)[0] + ".0/24"
        else:
            address = ipaddress.ip_address(ip)
            entry = self.knowledge.match_network(address)
            source = str(ipaddress.ip_network(f"{address}/48", strict=False))
        origin = iporigin.classify(ip)  # type: ignore[no-untyped-call]
        return NetInfo(ip, source, entry, origin.kind, origin.provider or "")
