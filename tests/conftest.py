from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from clicksift.settings import Settings
from clicksift.storage import SqlStore, open_store
from tests.support import PostgresCluster

REQUIRE_POSTGRES = os.environ.get("CLICKSIFT_REQUIRE_POSTGRES") == "1"


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
