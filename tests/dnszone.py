"""A real authoritative DNS server on loopback (dnslib's server, UDP and TCP) serving test
zones written in zone-file syntax: the doctor's and the gateways' tests ask it over the
network exactly as they would ask any name server."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator
from typing import Any

from dnslib import QTYPE, RCODE, RR, DNSLabel
from dnslib.server import BaseResolver, DNSLogger, DNSServer


class ZoneResolver(BaseResolver):  # type: ignore[misc]
    """Authoritative answers from a zone: the records of the name and type asked, CNAME
    chains followed inside the zone, NOERROR with no answer for a name that exists with
    other types, NXDOMAIN for a name that does not exist."""

    def __init__(self, zone: str) -> None:
        self.records = [(rr.rname, QTYPE[rr.rtype], rr) for rr in RR.fromZone(zone)]
        self.queries: list[tuple[str, str]] = []

    def resolve(self, request: Any, handler: Any) -> Any:
        reply = request.reply()
        reply.header.aa = 1
        name: DNSLabel = request.q.qname
        qtype = QTYPE[request.q.qtype]
        self.queries.append((str(name).rstrip("."), qtype))
        for _ in range(8):
            answers = [rr for rname, rtype, rr in self.records
                       if rname == name and rtype == qtype]
            if answers:
                for rr in answers:
                    reply.add_answer(rr)
                return reply
            alias = [rr for rname, rtype, rr in self.records
                     if rname == name and rtype == "CNAME"]
            if not alias:
                break
            reply.add_answer(alias[0])
            name = alias[0].rdata.label
        if not reply.rr and not any(rname == name for rname, _, _ in self.records):
            reply.header.rcode = RCODE.NXDOMAIN
        return reply


def _free_port() -> int:
    """A port free for both UDP and TCP on 127.0.0.1."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind(("127.0.0.1", 0))
            port = int(udp.getsockname()[1])
            with socket.socket() as tcp:
                try:
                    tcp.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port
    raise RuntimeError("no free port for the DNS server")


@contextlib.contextmanager
def dns_server(zone: str) -> Iterator[tuple[str, ZoneResolver]]:
    """Serve ZONE on 127.0.0.1; yields ('127.0.0.1:PORT', the resolver that answers)."""
    resolver = ZoneResolver(zone)
    port = _free_port()
    quiet = DNSLogger(log="-request,-reply,-truncated,-error,-recv,-send,-data",
                      prefix=False, logf=lambda _: None)
    servers = [DNSServer(resolver, address="127.0.0.1", port=port, tcp=tcp, logger=quiet)
               for tcp in (False, True)]
    for server in servers:
        server.start_thread()
    try:
        yield f"127.0.0.1:{port}", resolver
    finally:
        for server in servers:
            server.stop()
            server.server.server_close()
