"""Refreshing the knowledge base from vendors' published lists (the only network access
clicksift makes on its own, and only when asked: ``clicksift knowledge update``).

Each source is a URL and a function that turns its document into CIDR blocks for one or more
knowledge-base entries. The updated files are written to a folder of the user's (the
``knowledge_dir`` setting); the packaged files stay as shipped.
"""

from __future__ import annotations

import ipaddress
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import httpx

from clicksift.classify.knowledge import KNOWLEDGE_PACKAGE
from clicksift.errors import ClicksiftError

Parser = Callable[[Any], dict[str, list[str]]]


class RefreshError(ClicksiftError):
    """A published list could not be fetched or read."""


def _valid(cidrs: list[str]) -> list[str]:
    """The well-formed blocks of CIDRS, without repeats, in address order."""
    networks = set()
    for cidr in cidrs:
        try:
            networks.add(ipaddress.ip_network(cidr.strip(), strict=False))
        except ValueError:
            continue
    ordered = sorted(networks, key=lambda n: (n.version, int(n.network_address), n.prefixlen))
    return [str(n) for n in ordered]


def microsoft_365(document: Any) -> dict[str, list[str]]:
    """Microsoft 365 endpoints (worldwide): the Exchange Online sets that carry mail (port
    25: Exchange Online Protection, where Safe Links and Safe Attachments fetch from) and the
    Exchange Online service set (Outlook, time-of-click checks)."""
    protection: list[str] = []
    service: list[str] = []
    for endpoint in document:
        if endpoint.get("serviceArea") != "Exchange":
            continue
        ports = str(endpoint.get("tcpPorts", ""))
        if "25" in ports.split(","):
            protection += endpoint.get("ips", [])
        elif endpoint.get("category") == "Optimize":
            service += endpoint.get("ips", [])
    if not protection:
        raise RefreshError("the Microsoft 365 list has no Exchange Online Protection ranges")
    return {"microsoft-exchange-online-protection": _valid(protection),
            "microsoft-365-service": _valid(service)}


def zscaler(document: Any) -> dict[str, list[str]]:
    """Zscaler's cloud enforcement node ranges (config.zscaler.com)."""
    ranges: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("range"), str):
                ranges.append(node["range"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(document)
    if not ranges:
        raise RefreshError("the Zscaler list has no ranges")
    return {"zscaler": _valid(ranges)}


@dataclass(frozen=True)
class Source:
    name: str
    url: str
    parse: Parser


SOURCES = {
    "microsoft365": Source(
        "microsoft365", "https://endpoints.office.com/endpoints/worldwide?clientrequestid="
        + str(uuid.UUID(int=0x1C11C5F7)), microsoft_365),
    "zscaler": Source("zscaler", "https://config.zscaler.com/api/zscaler.net/cenr/json",
                      zscaler),
}


@dataclass
class KnowledgeUpdate:
    folder: Path
    updated: dict[str, int]      # entry id -> number of blocks
    failed: dict[str, str]       # source -> why


def packaged(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(
        (resources.files(KNOWLEDGE_PACKAGE) / name).read_text("utf-8"))
    return data


def update_knowledge(folder: Path, urls: dict[str, str] | None = None, *,
            client: httpx.Client | None = None, timeout: float = 30.0) -> KnowledgeUpdate:
    """Fetch every source (URLS may replace their addresses) and write the knowledge base,
    with the fetched entries, to FOLDER. A source that fails keeps its previous entries."""
    folder.mkdir(parents=True, exist_ok=True)
    current = folder / "networks.json"
    networks = json.loads(current.read_text("utf-8")) if current.exists() else \
        packaged("networks.json")
    entries = {entry["id"]: entry for entry in networks["entries"]}
    today = datetime.now(UTC).date().isoformat()
    result = KnowledgeUpdate(folder, {}, {})
    own_client = client is None
    http = client or httpx.Client(timeout=timeout, follow_redirects=True)
    try:
        for name, source in SOURCES.items():
            url = (urls or {}).get(name, source.url)
            try:
                response = http.get(url)
                response.raise_for_status()
                blocks = source.parse(response.json())
            except (httpx.HTTPError, ValueError, RefreshError) as exc:
                result.failed[name] = f"{url}: {exc}"
                continue
            for entry_id, cidrs in blocks.items():
                if entry_id in entries and cidrs:
                    entry = entries[entry_id]
                    entry["cidrs"] = cidrs
                    entry["date"] = today
                    entry["source"] = f"{url} (updated by clicksift knowledge update)"
                    entry["examples"] = [e for e in entry["examples"] if _inside(e, cidrs)]
                    result.updated[entry_id] = len(cidrs)
    finally:
        if own_client:
            http.close()
    networks["version"] = today.replace("-", ".")
    current.write_text(json.dumps(networks, indent=1, ensure_ascii=False), "utf-8")
    agents = folder / "user_agents.json"
    if not agents.exists():
        agents.write_text(json.dumps(packaged("user_agents.json"), indent=1,
                                     ensure_ascii=False), "utf-8")
    return result


def _inside(address: str, cidrs: list[str]) -> bool:
    ip = ipaddress.ip_address(address)
    return any(ip in ipaddress.ip_network(cidr) for cidr in cidrs)
