"""The knowledge base: user agents and networks of scanners, proxies, previewers and bots.

Package data (``clicksift/data/knowledge/*.json``), each entry with an id, what it is, a
source and a date; ``clicksift knowledge update`` refreshes entries from vendors' published
lists. Nothing here touches the network.
"""

from __future__ import annotations

import bisect
import functools
import ipaddress
import itertools
import json
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

KNOWLEDGE_PACKAGE = "clicksift.data.knowledge"


@dataclass(frozen=True, slots=True)
class AgentEntry:
    id: str
    vendor: str | None
    role: str
    kind: str | None
    certainty: str
    pattern: re.Pattern[str]


@dataclass(frozen=True, slots=True)
class NetworkEntry:
    id: str
    vendor: str | None
    role: str
    kind: str | None
    certainty: str


def _read(name: str, folder: Path | None) -> dict[str, Any]:
    if folder is not None:
        text = (folder / name).read_text("utf-8")
    else:
        text = (resources.files(KNOWLEDGE_PACKAGE) / name).read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


class RangeTable:
    """Address-block lookup over sorted, non-overlapping intervals with bisect.

    Nested blocks are flattened at load time so that every address maps to its most
    specific block: a lookup is one binary search, whatever the blocks."""

    def __init__(self, blocks: list[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network,
                                          NetworkEntry]]) -> None:
        self._tables: dict[int, tuple[list[int], list[int], list[NetworkEntry]]] = {}
        for version in (4, 6):
            mine = [(int(n.network_address), int(n.broadcast_address), n.prefixlen, e)
                    for n, e in blocks if n.version == version]
            cuts = sorted({start for start, _, _, _ in mine} | {end + 1 for _, end, _, _ in mine})
            starts: list[int] = []
            ends: list[int] = []
            entries: list[NetworkEntry] = []
            for low, high in itertools.pairwise(cuts):
                covering = [(prefix, entry) for start, end, prefix, entry in mine
                            if start <= low and high - 1 <= end]
                if covering:
                    starts.append(low)
                    ends.append(high - 1)
                    entries.append(max(covering, key=lambda item: item[0])[1])
            self._tables[version] = (starts, ends, entries)

    def lookup(self, address: ipaddress.IPv4Address | ipaddress.IPv6Address
               ) -> NetworkEntry | None:
        return self.lookup_int(address.version, int(address))

    def lookup_int(self, version: int, value: int) -> NetworkEntry | None:
        starts, ends, entries = self._tables[version]
        position = bisect.bisect_right(starts, value) - 1
        if position >= 0 and value <= ends[position]:
            return entries[position]
        return None


class Knowledge:
    """The loaded knowledge base with its matchers (user agents cached per string)."""

    def __init__(self, folder: Path | None = None) -> None:
        agents = _read("user_agents.json", folder)
        networks = _read("networks.json", folder)
        self.version = f"ua {agents['version']}, net {networks['version']}"
        self.agent_entries = [
            AgentEntry(e["id"], e.get("vendor"), e["role"], e.get("kind"), e["certainty"],
                       re.compile(e["pattern"], re.IGNORECASE))
            for e in agents["entries"]]
        self.raw_agents = agents["entries"]
        self.raw_networks = networks["entries"]
        blocks = []
        self.network_entries: list[NetworkEntry] = []
        for e in networks["entries"]:
            entry = NetworkEntry(e["id"], e.get("vendor"), e["role"], e.get("kind"),
                                 e["certainty"])
            self.network_entries.append(entry)
            blocks += [(ipaddress.ip_network(cidr, strict=False), entry) for cidr in e["cidrs"]]
        self.ranges = RangeTable(blocks)
        self.match_agent = functools.lru_cache(maxsize=65536)(self._match_agent)

    def _match_agent(self, user_agent: str) -> AgentEntry | None:
        """The first knowledge-base entry whose pattern matches USER_AGENT."""
        for entry in self.agent_entries:
            if entry.pattern.search(user_agent):
                return entry
        return None

    def match_network(self, address: ipaddress.IPv4Address | ipaddress.IPv6Address
                      ) -> NetworkEntry | None:
        return self.ranges.lookup(address)


@functools.lru_cache(maxsize=4)
def load_knowledge(folder: str | None = None) -> Knowledge:
    """The knowledge base shipped with clicksift (or one in FOLDER)."""
    return Knowledge(Path(folder) if folder else None)
