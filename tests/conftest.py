from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from clicksift.settings import Settings
from clicksift.storage import SqlStore, open_store
from tests.support import ROOT, SOURCE, PostgresCluster, ServerProcess, running_server

REQUIRE_POSTGRES = os.environ.get("CLICKSIFT_REQUIRE_POSTGRES") == "1"


def pytest_sessionstart(session: pytest.Session) -> None:
    """The tests run the installed package (`make test` installs it); stop rather than test
    an installation older than the source in src/."""
    import clicksift

    installed = Path(clicksift.__file__).resolve().parent
    if installed == SOURCE or not SOURCE.is_dir():
        return                                  # the source itself (editable or PYTHONPATH)
    built = (installed / "__init__.py").stat().st_mtime
    newer = [p for p in SOURCE.rglob("*") if p.is_file() and "__pycache__" not in p.parts
             and p.stat().st_mtime > built]
    if newer:
        pytest.exit(f"the installed clicksift ({installed}) is older than "
                    f"{newer[0].relative_to(ROOT)}: run `make test`, which "
                    "installs it again, or `pip install .`", returncode=2)


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster | str]:
    """A PostgreSQL server: $CLICKSIFT_TEST_POSTGRES, or a throwaway cluster started here."""
    if os.environ.get("CLICKSIFT_TEST_POSTGRES"):
        yield os.environ["CLICKSIFT_TEST_POSTGRES"]
        return
    if not PostgresCluster.available():
        if REQUIRE_POSTGRES:
            pytest.fail("PostgreSQL is required (CLICKSIFT_REQUIRE_POSTGRES=1) but initdb "
                        "is not on PATH")
        pytest.skip("PostgreSQL binaries (initdb, pg_ctl) are not installed")
    cluster = PostgresCluster()
    cluster.start()
    yield cluster
    cluster.stop()


def _database_url(cluster: PostgresCluster | str, name: str) -> str:
    if isinstance(cluster, str):
        import psycopg

        with psycopg.connect(cluster, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}"')
            connection.execute(f'CREATE DATABASE "{name}"')
        return cluster.rsplit("/", 1)[0] + f"/{name}"
    return cluster.fresh_database(name)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh database location: a SQLite file, then a PostgreSQL database."""
    if request.param == "sqlite":
        return str(tmp_path / "test.db")
    cluster = request.getfixturevalue("postgres_cluster")
    name = "t_" + re.sub(r"[^a-z0-9]+", "_", request.node.name.lower())[:50]
    return _database_url(cluster, name)


@pytest.fixture
def store(database: str) -> Iterator[SqlStore]:
    opened = open_store(Settings(database=database))
    yield opened
    opened.close()


@pytest.fixture
def sqlite_path(tmp_path: Path) -> str:
    return str(tmp_path / "clicksift.db")


@dataclass
class ReportSite:
    """A tracking server over a store holding two judged simulated campaigns."""

    server: ServerProcess
    database: str
    api_key: str
    user: str
    password: str

    def api(self, path: str, **params: Any) -> httpx.Response:
        return httpx.get(f"{self.server.base_url}/api/v1{path}", params=params,
                         headers={"authorization": f"Bearer {self.api_key}"}, timeout=30)


#: The report site's recipient domains with a cached MX (companies first) and its doctor
#: report: the gateways section, the domains' MX column and the doctor's advice show.
MX_HOSTS = ("mx0a-0001.pphosted.com", "us-smtp-inbound-1.mimecast.com")


def _gateways_and_doctor(store: SqlStore) -> None:
    import time

    from clicksift.storage.records import DoctorReport, MxRecord

    now = time.time()
    domains = sorted((d for d, _ in store.recipient_domains()),
                     key=lambda d: (d.endswith((".com", ".net")), d))
    store.save_mx_records(MxRecord(domain, (host,), "ok", now, now + 86400)
                          for domain, host in zip(domains, MX_HOSTS, strict=False))
    store.save_doctor_report(DoctorReport("news.example", now, {
        "domain": "news.example", "findings": [
            {"check": "dmarc", "status": "warn", "message": "DMARC policy is p=none",
             "fix": "set p=quarantine"}]}))


@pytest.fixture(scope="session")
def report_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReportSite]:
    from clicksift import access
    from clicksift.classify import BatchClassifier, Engine
    from clicksift.events import event_from_dict
    from clicksift.simulate import SimulationConfig, events_and_truth, simulate

    folder = tmp_path_factory.mktemp("reports")
    database = str(folder / "reports.db")
    raw, _truth = events_and_truth(simulate(SimulationConfig(recipients=200, campaigns=2,
                                                             seed=11)))
    events = [event_from_dict(item) for item in raw]
    verdicts = list(BatchClassifier(Engine()).classify(events))
    store = open_store(Settings(database=database))
    try:
        with store.transaction():
            store.add_events(events)
            store.save_verdicts(verdicts, "test-engine")
        key = access.create_key(store, "tests").secret
        access.set_password(store, "ann", "a long enough password")
        _gateways_and_doctor(store)
    finally:
        store.close()
    with running_server({"CLICKSIFT_DATABASE": database,
                         "CLICKSIFT_REPORT_REFRESH_SECONDS": "0.5"}, folder) as server:
        yield ReportSite(server, database, key, "ann", "a long enough password")
