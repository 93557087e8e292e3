"""One DNS resolver for every lookup clicksift makes (dnspython underneath).

Answers are plain values (strings, preference/host pairs); "no such name" and "no record
of that type" are empty answers, and every other failure (timeouts, refused queries,
unreachable servers) is a :class:`LookupFailed` naming the query. The network is used only
when a command that exists for it runs (``doctor``, ``gateways``).
"""

from __future__ import annotations

import dns.exception
import dns.flags
import dns.name
import dns.rdatatype
import dns.resolver

from clicksift.errors import ClicksiftError, ConfigError


class LookupFailed(ClicksiftError):
    """A DNS query could not be answered (not an empty answer: a failure)."""


def parse_nameserver(text: str) -> tuple[str, int]:
    """'HOST', 'HOST:PORT', '[V6]:PORT' or a bare IPv6 address -> (host, port)."""
    text = text.strip()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest.removeprefix(":") or "53"
    elif text.count(":") == 1:
        host, _, port = text.partition(":")
    else:
        host, port = text, "53"
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"nameserver {text!r} is not HOST or HOST:PORT")
    return host, int(port)


class Resolver:
    """Queries with a timeout; NAMESERVER ('HOST[:PORT]') or the system's resolvers."""

    def __init__(self, nameserver: str | None = None, *, timeout: float = 5.0) -> None:
        if nameserver:
            host, port = parse_nameserver(nameserver)
            self._resolver = dns.resolver.Resolver(configure=False)
            self._resolver.nameservers = [host]
            self._resolver.port = port
        else:
            try:
                self._resolver = dns.resolver.Resolver()
            except dns.resolver.NoResolverConfiguration:
                raise ConfigError("no DNS resolver is configured on this machine: give "
                                  "--nameserver HOST[:PORT]") from None
        self._resolver.lifetime = timeout
        self._resolver.timeout = timeout
        self.queries = 0
        self.nameserver = nameserver or "system resolver"

    def _answer(self, name: str, rdtype: str) -> dns.resolver.Answer | None:
        self.queries += 1
        try:
            return self._resolver.resolve(name, rdtype, search=False)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return None
        except dns.resolver.NoNameservers as exc:
            raise LookupFailed(f"{rdtype} {name}: no name server answered ({exc})") from None
        except dns.exception.Timeout:
            raise LookupFailed(f"{rdtype} {name}: no answer from {self.nameserver} in "
                               f"{self._resolver.lifetime:g} s") from None
        except (dns.name.NameTooLong, dns.name.EmptyLabel, dns.name.LabelTooLong):
            raise LookupFailed(f"{rdtype} {name}: not a valid domain name") from None
        except dns.exception.DNSException as exc:
            raise LookupFailed(f"{rdtype} {name}: {exc}") from None

    def txt(self, name: str) -> list[str]:
        """The TXT records at NAME, each one string (its character-strings joined)."""
        answer = self._answer(name, "TXT")
        if answer is None:
            return []
        return [b"".join(rdata.strings).decode("utf-8", "replace") for rdata in answer]

    def mx(self, name: str) -> tuple[list[tuple[int, str]], float]:
        """NAME's MX records as (preference, host) in preference order, and their TTL."""
        answer = self._answer(name, "MX")
        if answer is None:
            return [], 3600.0
        hosts = sorted((int(r.preference), r.exchange.to_text(omit_final_dot=True).lower())
                       for r in answer)
        return hosts, float(answer.rrset.ttl if answer.rrset is not None else 3600)

    def addresses(self, name: str) -> list[str]:
        """NAME's IPv4 and IPv6 addresses (CNAMEs followed)."""
        found: list[str] = []
        for rdtype in ("A", "AAAA"):
            answer = self._answer(name, rdtype)
            if answer is not None:
                found.extend(rdata.to_text() for rdata in answer)
        return found

    def canonical(self, name: str) -> str | None:
        """Where NAME's CNAME chain ends (None when NAME is no alias)."""
        answer = self._answer(name, "CNAME")
        if answer is None:
            return None
        target: str = answer[0].target.to_text(omit_final_dot=True)
        return target.lower()
