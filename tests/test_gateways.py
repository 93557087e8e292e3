"""Recipient domains' MX -> gateway vendor: the sourced table, lookups over a real DNS
server on loopback, the cache in the store (TTL, failures, offline), the command."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from clicksift.classify.gateways import load_gateways
from clicksift.cli import main
from clicksift.lookup.mx import FAILED_TTL, MIN_TTL, GatewayLookup, normalize
from clicksift.lookup.resolver import Resolver
from clicksift.storage import SqlStore
from clicksift.storage.records import MessageRecord
from tests.dnszone import dns_server
from tests.support import free_port

ZONE = """\
acme.test. 86400 IN MX 10 mx0a-0012.pphosted.com.
acme.test. 86400 IN MX 20 mx0b-0012.pphosted.com.
bolt.test. 60 IN MX 10 bolt-test.mail.protection.outlook.com.
cask.test. 3600 IN MX 10 us-smtp-inbound-1.mimecast.com.
dune.test. 3600 IN MX 5 smtp.google.com.
echo.test. 3600 IN MX 10 mail.echo.test.
mail.echo.test. 3600 IN A 192.0.2.7
fjord.test. 3600 IN A 192.0.2.8
void.test. 3600 IN MX 0 .
backup.test. 3600 IN MX 10 mail.backup.test.
backup.test. 3600 IN MX 50 d1234a.ess.barracudanetworks.com.
"""


def test_suffixes_match_whole_labels_only() -> None:
    table = load_gateways()
    assert table.match_host("MX0A-1.PPHOSTED.COM.").vendor == "proofpoint"  # type: ignore[union-attr]
    assert table.match_host("evilpphosted.com") is None
    assert table.match(["mail.example.org", "d1a.ess.barracudanetworks.com"]).vendor \
        == "barracuda"  # type: ignore[union-attr]


def test_lookups_are_cached_with_their_ttl(store: SqlStore) -> None:
    clock = [1_000_000.0]
    with dns_server(ZONE) as (address, zone):
        lookup = GatewayLookup(store, Resolver(address), rate=1000, clock=lambda: clock[0],
                               sleep=lambda _: None)
        found = lookup.lookup(["acme.test", "Ann@Bolt.test", "cask.test", "dune.test",
                               "echo.test", "fjord.test", "void.test", "nosuch.test",
                               "backup.test"])
        assert found["acme.test"].vendor == "proofpoint"
        assert found["acme.test"].hosts == ("mx0a-0012.pphosted.com", "mx0b-0012.pphosted.com")
        assert found["bolt.test"].scanning_gateway
        assert found["cask.test"].vendor == "mimecast"
        assert found["dune.test"].vendor == "google_workspace"
        assert not found["dune.test"].scanning_gateway
        assert found["echo.test"].entry is None and found["echo.test"].status == "ok"
        assert found["fjord.test"].status == "no_mx"
        assert found["void.test"].status == "null_mx"
        assert found["nosuch.test"].status == "no_domain"
        assert found["backup.test"].vendor == "barracuda"     # a backup MX still scans
        # the TTL is kept, within bounds: a day as published, a minute raised to an hour
        assert found["acme.test"].record.expires_at == clock[0] + 86400  # type: ignore[union-attr]
        assert found["bolt.test"].record.expires_at == clock[0] + MIN_TTL  # type: ignore[union-attr]
        asked = len(zone.queries)
        again = lookup.lookup(["acme.test", "bolt.test"])
        assert len(zone.queries) == asked                        # from the cache
        assert again["acme.test"].vendor == "proofpoint"
        clock[0] += MIN_TTL + 1                                  # bolt.test expired
        lookup.lookup(["acme.test", "bolt.test"])
        assert [name for name, _ in zone.queries[asked:]] == ["bolt.test"]


def test_failures_are_kept_briefly_and_offline_reads_the_cache(store: SqlStore) -> None:
    clock = [2_000_000.0]
    dead = Resolver(f"127.0.0.1:{free_port()}", timeout=0.5)
    lookup = GatewayLookup(store, dead, rate=1000, clock=lambda: clock[0],
                           sleep=lambda _: None)
    failed = lookup.lookup(["acme.test"])["acme.test"]
    assert failed.status == "failed"
    assert failed.record.expires_at == clock[0] + FAILED_TTL  # type: ignore[union-attr]
    offline = GatewayLookup(store, None).lookup(["acme.test", "other.test"], offline=True)
    assert offline["acme.test"].status == "failed"
    assert offline["other.test"].status == "not looked up"


def test_lookups_keep_to_the_rate(store: SqlStore) -> None:
    clock = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock[0] += seconds

    with dns_server(ZONE) as (address, _):
        lookup = GatewayLookup(store, Resolver(address), rate=10, clock=lambda: clock[0],
                               sleep=sleep)
        lookup.lookup(["acme.test", "bolt.test", "cask.test", "dune.test"])
    assert clock[0] == pytest.approx(0.3)          # four lookups at 10 a second


def test_normalize() -> None:
    assert normalize(" Ann@Example.COM. ") == "example.com"


def test_command_looks_up_recipient_domains(tmp_path: Path) -> None:
    database = str(tmp_path / "store.db")
    from clicksift.configuration import load_settings
    from clicksift.storage import open_store

    settings = load_settings(None, overrides={"database": database}).settings
    with open_store(settings) as store, store.transaction():
        store.save_messages([
            MessageRecord(f"m{i}", "autumn", f"p{i}@{domain}", 1.0, None)
            for i, domain in enumerate(["acme.test", "acme.test", "bolt.test", "echo.test"])])
    env = {"CLICKSIFT_DATABASE": database, "COLUMNS": "80"}
    with dns_server(ZONE) as (address, zone):
        result = CliRunner().invoke(main, ["gateways", "--recipients", "--nameserver",
                                           address], env=env)
        assert result.exit_code == 0, result.output
        assert "Proofpoint" in result.output and "Microsoft" in result.output
        assert "2 of 3 domains" in result.output
        assert max(len(line) for line in result.output.splitlines()) <= 80
        asked = len(zone.queries)
        result = CliRunner().invoke(main, ["gateways", "acme.test", "--offline",
                                           "--format", "json"], env=env)
        assert len(zone.queries) == asked
    document = json.loads(result.output)
    assert document["domains"][0]["vendor"] == "proofpoint"
    assert document["domains"][0]["scans_links"] is True
    result = CliRunner().invoke(main, ["gateways"], env=env)
    assert result.exit_code == 2 and "--recipients" in result.output


def test_report_shows_recipients_by_gateway_in_80_columns(report_site: Any) -> None:
    campaign = report_site.api("/campaigns").json()["campaigns"][0]["id"]
    env = {"CLICKSIFT_DATABASE": report_site.database, "COLUMNS": "80"}
    result = CliRunner().invoke(main, ["report", campaign, "--section", "gateways",
                                       "--section", "domains"], env=env)
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "Recipients by their domain's mail gateway" in text
    assert "Proofpoint Email Protection" in text and "not looked up" in text
    assert max(len(line) for line in result.output.splitlines()) <= 80
    api = report_site.api(f"/campaigns/{campaign}").json()
    if api["doctor"] is not None:        # machines made most clicks: the doctor's findings
        assert "clicksift doctor news.example" in text and "set p=quarantine" in text
    document = json.loads(CliRunner().invoke(
        main, ["report", campaign, "--section", "gateways", "--format", "json"],
        env=env).output)
    assert document["mx_gateways"] == api["mx_gateways"]
