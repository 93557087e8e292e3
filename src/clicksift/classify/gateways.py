"""Which gateway or mailbox provider a domain's mail exchangers (MX hosts) belong to.

The table is package data (``clicksift/data/knowledge/gateways.json``): each entry names a
vendor, whether it is a security gateway that scans links or a mailbox provider, and the
MX host suffixes that identify it, with its source and date. Matching is by whole labels
(``pphosted.com`` matches ``mx0a-1.pphosted.com``, never ``evilpphosted.com``). Nothing
here touches the network: the lookups live in :mod:`clicksift.lookup`.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from clicksift.classify.knowledge import _read

GATEWAY: str = "gateway"
MAILBOX_PROVIDER: str = "mailbox_provider"


@dataclass(frozen=True, slots=True)
class GatewayEntry:
    id: str
    vendor: str
    name: str
    role: str                   # "gateway" or "mailbox_provider"
    scans_links: bool
    scan_window: float          # seconds after delivery its first fetches are usually seen
    suffixes: tuple[str, ...]
    source: str = ""
    date: str = ""


class GatewayTable:
    def __init__(self, entries: Iterable[GatewayEntry]) -> None:
        self.entries = tuple(entries)
        self._by_suffix = {suffix: entry for entry in self.entries for suffix in entry.suffixes}

    def match_host(self, host: str) -> GatewayEntry | None:
        """The entry whose suffix ends HOST at a label boundary (the longest such suffix)."""
        labels = host.lower().rstrip(".").split(".")
        for start in range(len(labels)):
            entry = self._by_suffix.get(".".join(labels[start:]))
            if entry is not None:
                return entry
        return None

    def match(self, hosts: Iterable[str]) -> GatewayEntry | None:
        """The vendor of a domain's MX HOSTS, in preference order: the first host a known
        vendor runs decides (a backup MX elsewhere does not change who scans the mail)."""
        for host in hosts:
            entry = self.match_host(host)
            if entry is not None:
                return entry
        return None

    def by_vendor(self, vendor: str) -> GatewayEntry | None:
        for entry in self.entries:
            if entry.vendor == vendor:
                return entry
        return None


class HasHosts(Protocol):
    @property
    def domain(self) -> str: ...

    @property
    def hosts(self) -> tuple[str, ...]: ...


def mx_priors(records: Iterable[HasHosts], table: GatewayTable | None = None
              ) -> dict[str, tuple[str, float]]:
    """Recipient domain -> (vendor, scanning window) for the domains whose MX points to a
    link-scanning gateway: what the classifier's ``crossmsg.mx-gateway`` reads."""
    table = table or load_gateways()
    priors = {}
    for record in records:
        entry = table.match(record.hosts)
        if entry is not None and entry.scans_links:
            priors[record.domain] = (entry.vendor, entry.scan_window)
    return priors


def _entry(raw: dict[str, object]) -> GatewayEntry:
    suffixes = raw["mx_suffixes"]
    assert isinstance(suffixes, list)
    window = raw.get("scan_window_seconds", 0)
    assert isinstance(window, int | float)
    return GatewayEntry(str(raw["id"]), str(raw["vendor"]), str(raw["name"]), str(raw["role"]),
                        bool(raw["scans_links"]), float(window),
                        tuple(str(s).lower() for s in suffixes), str(raw.get("source", "")),
                        str(raw.get("date", "")))


@functools.lru_cache(maxsize=4)
def load_gateways(folder: Path | None = None) -> GatewayTable:
    """The gateway table from the package's knowledge (or FOLDER's gateways.json)."""
    if folder is not None and not (folder / "gateways.json").is_file():
        folder = None        # a knowledge folder from before the table: the package's own
    data = _read("gateways.json", folder)
    return GatewayTable(_entry(raw) for raw in data["entries"])
