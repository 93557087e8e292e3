"""The PostgreSQL store, for several tracking servers sharing one database."""

from __future__ import annotations

from typing import Any, ClassVar

from clicksift.errors import StorageError
from clicksift.storage.sql import SqlStore

#: Advisory lock key that serialises migrations across processes ("clicksift" in hex-ish).
_MIGRATION_LOCK = 0x0C11C5F7


class PostgresStore(SqlStore):
    dialect = "postgresql"
    dialect_words: ClassVar[dict[str, str]] = {
        "serial": "BIGSERIAL PRIMARY KEY", "real": "DOUBLE PRECISION", "blob": "BYTEA"}

    @classmethod
    def open(cls, url: str, *, timeout: float = 5.0, application_name: str = "clicksift"
             ) -> PostgresStore:
        try:
            import psycopg
        except ImportError:
            raise StorageError("a postgresql:// database needs the psycopg driver: "
                               "pip install 'clicksift[postgres]'") from None
        cls.driver_errors = (psycopg.Error,)
        try:
            millis = max(1, int(timeout * 1000))
            connection = psycopg.connect(
                url, autocommit=False, connect_timeout=max(1, round(timeout)),
                options=f"-c lock_timeout={millis}", application_name=application_name)
        except psycopg.Error as exc:
            raise StorageError(f"cannot connect to PostgreSQL: {exc}".strip()) from None
        return cls(connection, _redact(url))

    def sql(self, statement: str) -> str:
        return statement.replace("?", "%s")

    def json_field(self, column: str, name: str, *, numeric: bool = False) -> str:
        text = f"(({column})::jsonb ->> '{name}')"
        if not numeric:
            return text
        return (f"CASE WHEN jsonb_typeof(({column})::jsonb -> '{name}') = 'number' "
                f"THEN {text}::double precision END")

    def _lock_for_migration(self) -> None:
        self.execute("SELECT pg_advisory_xact_lock(?)", (_MIGRATION_LOCK,))

    def executemany(self, statement: str, rows: Any) -> int:
        try:
            cursor = self.connection.cursor()
            cursor.executemany(self.sql(statement), rows)
        except self.driver_errors as exc:
            raise self.failure(exc) from None
        return max(int(cursor.rowcount), 0)


def _redact(url: str) -> str:
    """The URL without its password, for messages."""
    scheme, sep, rest = url.partition("://")
    if "@" not in rest:
        return url
    credentials, _, host = rest.rpartition("@")
    user = credentials.split(":", 1)[0]
    return f"{scheme}{sep}{user}:***@{host}" if ":" in credentials else url
