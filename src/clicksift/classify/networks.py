"""What an address says: vendor networks (knowledge base), cloud and hosting space (the
iporigin package's offline tables), and the source key that groups one sender's addresses."""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass

import iporigin
import iporigin.core

from clicksift.classify.knowledge import Knowledge, NetworkEntry
from clicksift.classify.memo import Memoized


def _non_global_first_octets() -> frozenset[int]:
    """The first octets of every IPv4 network the standard library does not call global
    (private, reserved, shared address space): an address outside them is global, and its
    origin is one lookup in iporigin's table instead of ipaddress's slower checks. Every
    octet when the library's tables are not where this version keeps them."""
    constants = getattr(ipaddress.IPv4Address, "_constants", None)
    networks = [*getattr(constants, "_private_networks", ()),
                getattr(constants, "_public_network", None)]
    if constants is None or not networks[:-1] or networks[-1] is None:
        return frozenset(range(256))
    return frozenset(octet for net in networks
                     for octet in range(net.network_address.packed[0],
                                        net.broadcast_address.packed[0] + 1))


_NON_GLOBAL_OCTETS = _non_global_first_octets()


def _origin_v4(ip: str, value: int) -> tuple[str, str]:
    """iporigin's (kind, provider) of the IPv4 address IP (VALUE as an integer), as
    ``iporigin.classify`` gives them."""
    if value >> 24 not in _NON_GLOBAL_OCTETS:
        found = iporigin.core.dataset().find(value, 4)  # type: ignore[attr-defined,no-untyped-call]
        if found is None:
            return iporigin.core.UNKNOWN, ""
        provider, kind = found
        return kind, provider or ""
    origin = iporigin.classify(ip)  # type: ignore[no-untyped-call]
    return origin.kind, origin.provider or ""


@dataclass(frozen=True, slots=True)
class NetInfo:
    ip: str
    source: str                    # /24 (IPv4) or /48 (IPv6): one sender's neighbourhood
    entry: NetworkEntry | None     # knowledge-base vendor network
    origin_kind: str               # iporigin: hosting, cdn, vpn, tor, bot, reserved, unknown
    provider: str                  # iporigin's provider name ("" when unknown)
    network: str                   # /16 (IPv4) or /32 (IPv6): as far as one operator's pool goes

    @property
    def is_private_relay(self) -> bool:
        return self.provider == "Apple Private Relay"


class NetworkAnalyzer(Memoized[NetInfo]):
    def __init__(self, knowledge: Knowledge, cache_size: int = 262144) -> None:
        super().__init__(cache_size)
        self.knowledge = knowledge

    def warm_up(self) -> None:
        """iporigin reads its address table (a few MB) on the first global address."""
        iporigin.core.dataset()  # type: ignore[attr-defined,no-untyped-call]

    def _analyse(self, ip: str) -> NetInfo:
        if ":" not in ip:  # IPv4, already checked and normalised by the event reader
            value = int.from_bytes(socket.inet_aton(ip), "big")
            entry = self.knowledge.ranges.lookup_int(4, value)
            source = ip.rsplit(".", 1)[0] + ".0/24"
            kind, provider = _origin_v4(ip, value)
            return NetInfo(ip, source, entry, kind, provider, ip.rsplit(".", 2)[0] + ".0.0/16")
        address = ipaddress.ip_address(ip)
        entry = self.knowledge.match_network(address)
        source = str(ipaddress.ip_network(f"{address}/48", strict=False))
        origin = iporigin.classify(ip)  # type: ignore[no-untyped-call]
        network = str(ipaddress.ip_network(f"{address}/32", strict=False))
        return NetInfo(ip, source, entry, origin.kind, origin.provider or "", network)
