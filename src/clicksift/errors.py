"""The exceptions clicksift raises, one family.

    ClicksiftError                 anything clicksift reports to a person
    ├── ConfigError                a setting has a bad value (names the setting and its source)
    ├── InputError                 bad input data (names the file, line and field)
    │   └── InvalidEventError      an event line breaks the event contract
    ├── TokenError                 a tracking token is malformed, forged or signed by an unknown key
    ├── PrepareError               an email body cannot be prepared (names the problem)
    ├── NotFoundError              a campaign, message or key asked for does not exist
    └── StorageError               the store failed (wraps the driver's exception)
        └── StoreBusy              another writer holds the store longer than the timeout

Foreign exceptions (sqlite3, psycopg, json) are translated at the boundary, so callers
catch ``ClicksiftError`` and show its message; the command line never prints a traceback
for one of these.
"""

from __future__ import annotations


class ClicksiftError(Exception):
    """Base of every error clicksift reports to a person."""


class ConfigError(ClicksiftError):
    """A setting has a value clicksift cannot use."""


class InputError(ClicksiftError):
    """Input data is malformed; the message says where."""

    def __init__(self, message: str, *, source: str | None = None, line: int | None = None,
                 field: str | None = None) -> None:
        self.source = source
        self.line = line
        self.field = field
        self.reason = message
        super().__init__(self._render())

    def _render(self) -> str:
        where = ""
        if self.source is not None:
            where = self.source if self.line is None else f"{self.source}, line {self.line}"
        if self.field is not None:
            where = f"{where}, field '{self.field}'" if where else f"field '{self.field}'"
        return f"{where}: {self.reason}" if where else self.reason


class InvalidEventError(InputError):
    """An event does not follow the event contract (docs/events.md)."""


class TokenError(ClicksiftError):
    """A tracking token cannot be trusted: malformed, altered, or signed by an unknown key."""


class PrepareError(ClicksiftError):
    """An email cannot be prepared for tracking."""


class NotFoundError(ClicksiftError):
    """What was asked for (a campaign, a message, a key) does not exist."""


class StorageError(ClicksiftError):
    """The store failed to read or write."""


class StoreDamaged(StorageError):
    """The store's files are damaged (a corrupted page, not a database): restore a backup."""


class StoreBusy(StorageError):
    """Another writer holds the store; the write did not happen."""
