"""`clicksift doctor` against a real DNS server on loopback serving good and broken set-ups,
and the real tracking server serving HTTPS with test certificates (trustme)."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import dkim
import pytest
import trustme
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from clicksift.cli import main
from clicksift.doctor import spf
from clicksift.lookup.resolver import Resolver, parse_nameserver
from tests.dnszone import dns_server
from tests.support import free_port, running_server

pytestmark = pytest.mark.slow

KEYS = {bits: rsa.generate_private_key(public_exponent=65537, key_size=bits)
        for bits in (1024, 2048)}


def _key_record(bits: int) -> str:
    der = KEYS[bits].public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    text = f"v=DKIM1; k=rsa; p={base64.b64encode(der).decode()}"
    return " ".join(f'"{text[i:i + 200]}"' for i in range(0, len(text), 200))


def _base(domain: str, *, spf_record: str | None = '"v=spf1 include:_spf.esp.test -all"',
          key: str | None = None, dmarc: str | None = '"v=DMARC1; p=reject; '
          'rua=mailto:dmarc@{d}"', mx: str | None = "10 mx0a-0001.pphosted.com.",
          selector: str = "s1") -> str:
    """A domain's records: by default a good set-up; None leaves a record out."""
    lines = []
    if spf_record is not None:
        lines.append(f"{domain}. 300 IN TXT {spf_record}")
    lines.append(f"{selector}._domainkey.{domain}. 300 IN TXT {key or _key_record(2048)}")
    if dmarc is not None:
        lines.append(f"_dmarc.{domain}. 300 IN TXT {dmarc.format(d=domain)}")
    if mx is not None:
        lines.append(f"{domain}. 300 IN MX {mx}")
    lines.append(f"{domain}. 300 IN A 192.0.2.10")
    return "\n".join(lines)


def _zone() -> str:
    includes = " ".join(f"include:i{n}.test" for n in range(11))
    parts = [
        '_spf.esp.test. 300 IN TXT "v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 -all"',
        *(f'i{n}.test. 300 IN TXT "v=spf1 ip4:198.51.100.{n} -all"' for n in range(11)),
        _base("good.test"),
        "click.good.test. 300 IN CNAME edge.good.test.",
        "edge.good.test. 300 IN A 127.0.0.1",
        "wrong.good.test. 300 IN A 127.0.0.1",
        "closed.good.test. 300 IN A 127.0.0.1",
        "links.esp-shared.test. 300 IN A 127.0.0.1",
        _base("nospf.test", spf_record=None),
        _base("twospf.test") + '\ntwospf.test. 300 IN TXT "v=spf1 a -all"',
        _base("badspf.test", spf_record='"v=spf1 ip4:300.1.1.1 -all"'),
        _base("manyinc.test", spf_record=f'"v=spf1 {includes} -all"'),
        _base("plusall.test", spf_record='"v=spf1 ip4:192.0.2.1 +all"'),
        _base("neutral.test", spf_record='"v=spf1 ip4:192.0.2.1 ?all"'),
        _base("missinginc.test", spf_record='"v=spf1 include:nowhere.test -all"'),
        _base("weakkey.test", key=_key_record(1024)),
        _base("revoked.test", key='"v=DKIM1; k=rsa; p="'),
        _base("custom.test", selector="brand9"),
        _base("nodmarc.test", dmarc=None),
        _base("dmarcnone.test", dmarc='"v=DMARC1; p=none"'),
        _base("nopolicy.test", dmarc='"v=DMARC1; rua=mailto:x@nopolicy.test"'),
        _base("org.test"),
        _base("mail.org.test", dmarc=None),
        _base("nomx.test", mx=None),
        _base("nullmx.test", mx="0 ."),
    ]
    return "\n".join(parts) + "\n"


@pytest.fixture(scope="module")
def nameserver() -> Iterator[str]:
    with dns_server(_zone()) as (address, _):
        yield address


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The real tracking server serving HTTPS for click.good.test (and a shared host)."""
    folder = tmp_path_factory.mktemp("tls")
    ca = trustme.CA()
    cert = ca.issue_cert("click.good.test", "links.esp-shared.test")
    cert.private_key_pem.write_to_path(str(folder / "key.pem"))
    cert.cert_chain_pems[0].write_to_path(str(folder / "cert.pem"))
    ca.cert_pem.write_to_path(str(folder / "ca.pem"))
    env = {"CLICKSIFT_DATABASE": str(folder / "server.db"),
           "CLICKSIFT_TLS_CERTIFICATE": str(folder / "cert.pem"),
           "CLICKSIFT_TLS_KEY": str(folder / "key.pem")}
    with running_server(env, folder, tls=True) as server:
        yield {"port": server.base_url.rsplit(":", 1)[1], "ca": str(folder / "ca.pem")}


def doctor(nameserver: str, domain: str, *args: str, tmp: Path | None = None
           ) -> tuple[int, dict[str, Any]]:
    env = {"CLICKSIFT_DATABASE": str((tmp or Path("/nonexistent")) / "doctor.db")}
    result = CliRunner().invoke(main, ["doctor", domain, "--nameserver", nameserver,
                                       "--format", "json", "--no-tracking-host", *args]
                                if "--tracking-host" not in args else
                                ["doctor", domain, "--nameserver", nameserver,
                                 "--format", "json", *args], env=env, catch_exceptions=False)
    return result.exit_code, json.loads(result.output)


def worst(document: dict[str, Any], check: str) -> str:
    statuses = [f["status"] for f in document["findings"] if f["check"] == check]
    assert statuses, f"no {check} finding in {document}"
    return max(statuses, key=["ok", "warn", "fail"].index)


# (domain, extra options, {check: worst status}, exit status): at least one good and one
# broken set-up per check.
SETUPS = [
    ("good.test", ["--dkim-selector", "s1"],
     {"spf": "ok", "dkim": "ok", "dmarc": "ok", "mx": "ok"}, 0),
    ("nospf.test", ["--dkim-selector", "s1"], {"spf": "fail", "dkim": "ok"}, 1),
    ("twospf.test", ["--dkim-selector", "s1"], {"spf": "fail"}, 1),
    ("badspf.test", ["--dkim-selector", "s1"], {"spf": "fail"}, 1),
    ("manyinc.test", ["--dkim-selector", "s1"], {"spf": "fail"}, 1),
    ("plusall.test", ["--dkim-selector", "s1"], {"spf": "fail"}, 1),
    ("neutral.test", ["--dkim-selector", "s1"], {"spf": "warn"}, 0),
    ("missinginc.test", ["--dkim-selector", "s1"], {"spf": "fail"}, 1),
    ("weakkey.test", ["--dkim-selector", "s1"], {"dkim": "warn", "spf": "ok"}, 0),
    ("revoked.test", ["--dkim-selector", "s1"], {"dkim": "fail"}, 1),
    ("good.test", ["--dkim-selector", "nosuch"], {"dkim": "fail"}, 1),
    ("good.test", [], {"dkim": "ok"}, 0),          # s1 is among the common selectors
    ("custom.test", [], {"dkim": "warn"}, 0),      # its selector is not
    ("custom.test", ["--dkim-selector", "brand9"], {"dkim": "ok"}, 0),
    ("nodmarc.test", ["--dkim-selector", "s1"], {"dmarc": "fail"}, 1),
    ("dmarcnone.test", ["--dkim-selector", "s1"], {"dmarc": "warn"}, 0),
    ("nopolicy.test", ["--dkim-selector", "s1"], {"dmarc": "fail"}, 1),
    ("mail.org.test", ["--dkim-selector", "s1"], {"dmarc": "ok"}, 0),   # the org's policy
    ("nomx.test", ["--dkim-selector", "s1"], {"mx": "warn"}, 0),
    ("nullmx.test", ["--dkim-selector", "s1"], {"mx": "warn"}, 0),
]


@pytest.mark.parametrize(("domain", "options", "expected", "status"), SETUPS,
                         ids=[f"{s[0]}-{'-'.join(s[1]) or 'common'}" for s in SETUPS])
def test_dns_setups(nameserver: str, domain: str, options: list[str],
                    expected: dict[str, str], status: int) -> None:
    code, document = doctor(nameserver, domain, *options)
    assert document["domain"] == domain
    for check, want in expected.items():
        assert worst(document, check) == want, document
    assert code == status
    for finding in document["findings"]:
        assert set(finding) >= {"check", "status", "message", "fix"}
        assert finding["status"] == "ok" or finding["fix"]


def test_mx_names_the_gateway(nameserver: str) -> None:
    _, document = doctor(nameserver, "good.test", "--dkim-selector", "s1")
    mx = next(f for f in document["findings"] if f["check"] == "mx")
    assert "Proofpoint" in mx["message"]


def test_spf_lookup_count_follows_includes(nameserver: str) -> None:
    resolver = Resolver(nameserver)
    problems: list[str] = []
    record = resolver.txt("manyinc.test")[0]
    assert spf.count_lookups(record, resolver, problems) == 11
    assert spf.count_lookups(resolver.txt("good.test")[0], resolver, problems) == 1
    assert problems == []


@pytest.mark.parametrize(("host", "expected"), [
    ("click.good.test", {"ok"}),
    ("links.esp-shared.test", {"ok", "warn"}),
    ("wrong.good.test", {"ok", "fail"}),      # placed well, but the wrong certificate
])
def test_tracking_host(nameserver: str, tls: dict[str, Any], host: str,
                       expected: set[str]) -> None:
    code, document = doctor(nameserver, "good.test", "--dkim-selector", "s1",
                            "--tracking-host", f"{host}:{tls['port']}", "--ca-file", tls["ca"])
    findings = [f for f in document["findings"] if f["check"] == "tracking_host"]
    assert {f["status"] for f in findings} == expected, findings
    text = " ".join(f["message"] for f in findings)
    if host == "click.good.test":
        assert "CNAME to edge.good.test" in text
        assert "health check" in text and "HSTS" in text and code == 0
    if host == "links.esp-shared.test":
        assert "not under good.test" in text
    if host == "wrong.good.test":
        assert "certificate is not valid" in text and code == 1


def test_tracking_host_without_https(nameserver: str) -> None:
    code, document = doctor(nameserver, "good.test", "--dkim-selector", "s1",
                            "--tracking-host", f"closed.good.test:{free_port()}")
    assert worst(document, "tracking_host") == "fail" and code == 1


def test_tracking_host_that_does_not_resolve(nameserver: str) -> None:
    code, document = doctor(nameserver, "good.test", "--dkim-selector", "s1",
                            "--tracking-host", "nowhere.good.test")
    assert any("does not resolve" in f["message"] for f in document["findings"])
    assert code == 1


def _message(tmp: Path, *, sign_headers: tuple[str, ...] | None = None,
             unsubscribe: str = "<https://click.good.test/u/abc>, <mailto:u@good.test>",
             post: str | None = "List-Unsubscribe=One-Click", from_domain: str = "good.test",
             signer: str = "good.test", body_link: str = "https://click.good.test/c/1",
             tamper: bool = False) -> Path:
    message = EmailMessage()
    message["From"] = f"News <news@{from_domain}>"
    message["To"] = "ann@example.com"
    message["Subject"] = "Autumn news"
    message["List-Unsubscribe"] = unsubscribe
    if post is not None:
        message["List-Unsubscribe-Post"] = post
    message.set_content("Hello")
    message.add_alternative(f'<p><a href="{body_link}">Read</a></p>', subtype="html")
    raw = message.as_bytes()
    headers = sign_headers or ("from", "to", "subject", "list-unsubscribe",
                               "list-unsubscribe-post")
    private = KEYS[2048].private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.TraditionalOpenSSL,
                                       serialization.NoEncryption())
    signature = dkim.sign(raw, b"s1", signer.encode(), private,
                          include_headers=[h.encode() for h in headers])
    signed = signature + raw
    if tamper:
        signed = signed.replace(b"Hello", b"Hullo")
    path = tmp / f"message-{len(list(tmp.iterdir()))}.eml"
    path.write_bytes(signed)
    return path


@pytest.mark.parametrize(("variant", "expected", "status"), [
    ({}, {"dkim": "ok", "list_unsubscribe": "ok", "dmarc": "ok"}, 0),
    ({"sign_headers": ("from", "to", "subject")}, {"dkim": "fail"}, 1),
    ({"tamper": True}, {"dkim": "fail", "dmarc": "fail"}, 1),
    ({"post": None}, {"list_unsubscribe": "fail"}, 1),
    ({"unsubscribe": "<http://click.good.test/u/abc>, <mailto:u@good.test>"},
     {"list_unsubscribe": "fail"}, 1),
    ({"unsubscribe": "<https://click.good.test/u/abc>"}, {"list_unsubscribe": "warn"}, 0),
    ({"from_domain": "other.test"}, {"dmarc": "fail"}, 1),
    ({"body_link": "http://click.good.test/c/1"}, {"tracking_host": "warn"}, 0),
])
def test_prepared_message(nameserver: str, tmp_path: Path, variant: dict[str, Any],
                          expected: dict[str, str], status: int) -> None:
    path = _message(tmp_path, **variant)
    code, document = doctor(nameserver, "good.test", "--dkim-selector", "s1",
                            "--message", str(path))
    for check, want in expected.items():
        assert worst(document, check) == want, document
    assert code == status


def test_table_fits_80_columns_and_is_kept_for_reports(nameserver: str, tmp_path: Path
                                                       ) -> None:
    from clicksift.configuration import load_settings
    from clicksift.storage import open_store

    database = tmp_path / "store.db"
    env = {"CLICKSIFT_DATABASE": str(database), "COLUMNS": "80"}
    with open_store(load_settings(None, overrides={"database": str(database)}).settings):
        pass
    result = CliRunner().invoke(main, ["doctor", "nospf.test", "--nameserver", nameserver,
                                       "--no-tracking-host", "--dkim-selector", "s1"], env=env)
    assert result.exit_code == 1
    assert "fix: Publish one TXT record" in " ".join(result.output.split())
    assert max(len(line) for line in result.output.splitlines()) <= 80
    with open_store(load_settings(None, overrides={"database": str(database)}).settings
                    ) as store:
        kept = store.doctor_report("nospf.test")
    assert kept is not None and kept.report["findings"][0]["check"] == "spf"


def test_nameserver_option_is_checked() -> None:
    assert parse_nameserver("127.0.0.1:5353") == ("127.0.0.1", 5353)
    assert parse_nameserver("[::1]:53") == ("::1", 53)
    assert parse_nameserver("::1") == ("::1", 53)
    result = CliRunner().invoke(main, ["doctor", "good.test", "--nameserver", "host:port"],
                                env={"CLICKSIFT_DATABASE": os.devnull + "x"})
    assert result.exit_code == 2 and "is not HOST or HOST:PORT" in result.output


def test_unreachable_nameserver_is_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["doctor", "good.test", "--nameserver",
                                       f"127.0.0.1:{free_port()}", "--no-tracking-host"],
                                env={"CLICKSIFT_DATABASE": str(tmp_path / "x.db")})
    assert "Traceback" not in result.output
    assert result.exit_code == 1
