"""Times in ESP records: Unix seconds or milliseconds, RFC 3339 and the other documented
forms, and the freshness of signed timestamps.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from clicksift.events import format_timestamp
from clicksift.ingest.errors import SignatureError
from clicksift.ingest.reading import payload_error

#: How far a signed timestamp may be from our clock (seconds), where the scheme signs one.
TIMESTAMP_TOLERANCE = 300.0


def seconds(value: Any, index: int | None, name: str) -> float:
    """Unix seconds from an int, float or numeric string."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise payload_error(f"{value!r} is not Unix seconds", record=index, field=name) from None
    if not math.isfinite(number):
        raise payload_error(f"{value!r} is not Unix seconds", record=index, field=name)
    return number


def millis(value: Any, index: int | None, name: str) -> float:
    return seconds(value, index, name) / 1000.0


def instant(value: Any, index: int | None, name: str) -> str | float:
    """An ISO 8601 / RFC 3339 text with a zone (any fraction length, space or T), or
    Unix seconds; returned in a form the event contract accepts."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, str) or not value.strip():
        raise payload_error(f"{value!r} is not a date-time", record=index, field=name)
    text = value.strip()
    try:
        return float(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text[:-1] + "+00:00" if text[-1] in "zZ" else text)
    except ValueError:
        raise payload_error(f"{value!r} is not an ISO 8601 date-time", record=index,
                            field=name) from None
    if moment.tzinfo is None:
        raise payload_error(f"{value!r} has no time zone", record=index, field=name)
    return format_timestamp(moment.timestamp())


def check_fresh(signed: str, now: float, tolerance: float = TIMESTAMP_TOLERANCE) -> None:
    """A signed Unix timestamp must be within TOLERANCE seconds of NOW (replay window)."""
    try:
        moment = float(signed)
    except ValueError:
        raise SignatureError(f"the signed timestamp {signed!r} is not a number") from None
    if not math.isfinite(moment) or abs(now - moment) > tolerance:
        raise SignatureError(
            f"the signed timestamp is {int(now - moment) if math.isfinite(moment) else '?'} s "
            f"away from now; at most {int(tolerance)} s is accepted (replayed or a wrong clock)")


def epoch_now() -> float:
    return datetime.now(UTC).timestamp()
