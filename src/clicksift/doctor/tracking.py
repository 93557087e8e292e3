"""The tracking host: resolves, sits under the sending domain, serves HTTPS with a valid
certificate for its name and HSTS, and answers clicksift's health check."""

from __future__ import annotations

import json
import socket
import ssl
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import h11

from clicksift.doctor.dmarc import organizational_domain
from clicksift.doctor.findings import Finding, fail, ok, warn
from clicksift.errors import ConfigError
from clicksift.lookup.resolver import LookupFailed, Resolver

CHECK = "tracking_host"
EXPIRY_WARNING_DAYS = 14
_WHY = ("Links on a shared ESP tracking domain carry every other sender's reputation: "
        "gateways scan (and block) them more; a branded HTTPS host under your own domain, "
        "with a valid certificate, is what receivers and people trust.")


@dataclass(frozen=True)
class Target:
    host: str
    port: int

    @classmethod
    def parse(cls, text: str) -> Target:
        """'HOST', 'HOST:PORT' or an https URL."""
        parts = urlsplit(text if "//" in text else f"https://{text}")
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ConfigError(f"tracking host {text!r} is not HOST[:PORT] or an https URL")
        try:
            port = parts.port or 443
        except ValueError:
            raise ConfigError(f"tracking host {text!r}: the port is not a number") from None
        return cls(parts.hostname.lower().rstrip("."), port)


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


def _get(sock: ssl.SSLSocket, host_header: str, path: str) -> Answer:
    """One HTTP/1.1 GET over SOCK (h11 frames it)."""
    connection = h11.Connection(h11.CLIENT)
    request = h11.Request(method="GET", target=path, headers=[
        ("Host", host_header), ("User-Agent", "clicksift-doctor"), ("Connection", "close")])
    sock.sendall(connection.send(request) + connection.send(h11.EndOfMessage()))
    answer = Answer(0, {}, b"")
    while True:
        event = connection.next_event()
        if event is h11.NEED_DATA:
            connection.receive_data(sock.recv(65536))
        elif isinstance(event, h11.Response):
            answer.status = event.status_code
            answer.headers = {k.decode().lower(): v.decode("latin-1") for k, v in event.headers}
        elif isinstance(event, h11.Data):
            answer.body += event.data
            if len(answer.body) > 1 << 20:
                break
        elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
            break
    return answer


def check_tracking_host(text: str, domain: str, resolver: Resolver, *,
                        ca_file: str | None = None, timeout: float = 5.0) -> list[Finding]:
    target = Target.parse(text)
    host = target.host
    try:
        addresses = resolver.addresses(host)
        alias = resolver.canonical(host)
    except LookupFailed as exc:
        return [fail(CHECK, f"{host} could not be looked up: {exc}",
                     "Make sure the name servers answer.", _WHY)]
    if not addresses:
        return [fail(CHECK, f"{host} does not resolve", f"Add a CNAME (or A) record for {host} "
                     "pointing at your tracking server.", _WHY)]
    findings = [_placement(host, domain, alias)]
    findings.extend(_https(target, addresses[0], ca_file, timeout))
    return findings


def _placement(host: str, domain: str, alias: str | None) -> Finding:
    via = f" (a CNAME to {alias})" if alias else ""
    if organizational_domain(host) == organizational_domain(domain):
        return ok(CHECK, f"{host} is under your domain{via}: a branded tracking host")
    return warn(CHECK, f"{host} is not under {domain}{via}: links use a shared or "
                "foreign tracking domain",
                f"Use a branded host such as click.{domain} (a CNAME to your tracking "
                "server or ESP) and set base_url to it.", _WHY)


def _https(target: Target, address: str, ca_file: str | None, timeout: float
           ) -> list[Finding]:
    host = target.host
    context = ssl.create_default_context(cafile=ca_file)
    try:
        raw = socket.create_connection((address, target.port), timeout=timeout)
    except OSError as exc:
        return [fail(CHECK, f"{host} ({address}) does not take connections on port "
                     f"{target.port}: {exc.strerror or exc}",
                     "Serve the tracking host over HTTPS on port 443.", _WHY)]
    with raw:
        try:
            sock = context.wrap_socket(raw, server_hostname=host)
        except ssl.SSLCertVerificationError as exc:
            return [fail(CHECK, f"{host}'s certificate is not valid: "
                         f"{exc.verify_message or exc.reason}",
                         f"Install a certificate for {host} from a public CA (Let's Encrypt "
                         "through your proxy, or your ESP's branded-link SSL).", _WHY)]
        except (ssl.SSLError, OSError) as exc:
            return [fail(CHECK, f"{host} does not speak HTTPS on port {target.port}: {exc}",
                         "Serve the tracking host over HTTPS (TLS 1.2 or later).", _WHY)]
        with sock:
            findings = _certificate(host, sock)
            try:
                answer = _get(sock, host if target.port == 443 else f"{host}:{target.port}",
                              "/healthz")
            except (OSError, h11.ProtocolError) as exc:
                findings.append(fail(CHECK, f"{host} did not answer an HTTPS request: {exc}",
                                     "Check the server behind the TLS proxy.", _WHY))
                return findings
    findings.append(_hsts(host, answer))
    findings.append(_health(host, answer))
    return findings


def _certificate(host: str, sock: ssl.SSLSocket) -> list[Finding]:
    cert = sock.getpeercert() or {}
    not_after = cert.get("notAfter")
    if not isinstance(not_after, str):
        return [ok(CHECK, f"{host} serves a valid certificate")]
    days = (ssl.cert_time_to_seconds(not_after) - time.time()) / 86400
    if days < EXPIRY_WARNING_DAYS:
        return [warn(CHECK, f"{host}'s certificate expires in {days:.0f} days",
                     "Renew it (automate renewal: certbot, Caddy, your ESP).", _WHY)]
    return [ok(CHECK, f"{host} serves a valid certificate for its name "
                      f"({days:.0f} days left)")]


def _hsts(host: str, answer: Answer) -> Finding:
    value = answer.headers.get("strict-transport-security", "")
    max_age = 0
    for part in value.split(";"):
        name, _, number = part.strip().partition("=")
        if name.lower() == "max-age" and number.strip('"').isdigit():
            max_age = int(number.strip('"'))
    if max_age <= 0:
        return warn(CHECK, f"{host} sends no HSTS header",
                    "Add 'Strict-Transport-Security: max-age=31536000' at the TLS proxy.",
                    "Without HSTS a link typed or rewritten as http:// is fetched in the "
                    "clear once; some gateways mark such hosts as weaker.")
    return ok(CHECK, f"{host} sends HSTS (max-age={max_age})")


def _health(host: str, answer: Answer) -> Finding:
    try:
        body = json.loads(answer.body) if answer.status == 200 else None
    except ValueError:
        body = None
    if isinstance(body, dict) and "version" in body and "status" in body:
        return ok(CHECK, f"{host} answers clicksift's health check (version "
                         f"{body['version']}, status {body['status']})")
    return warn(CHECK, f"{host} does not answer clicksift's health check (/healthz gave "
                f"HTTP {answer.status})",
                "Route /healthz (and every tracking path) to clicksift serve; if this host "
                "is your ESP's, the check does not apply.")
