"""Ids of ESP events, messages and campaigns: stable ids derived from the ESP's own, so an
event delivered twice is stored once.
"""

from __future__ import annotations

import hashlib
from typing import Any


def stable_id(esp: str, *parts: Any) -> str:
    """An event id from the ESP's own ids: the same record always gives the same id."""
    if len(parts) == 1 and isinstance(parts[0], str) and 0 < len(parts[0]) <= 80 \
            and "\x00" not in parts[0]:          # no database column holds NUL
        return f"{esp}-{parts[0]}"
    digest = hashlib.sha256("\x1f".join("" if p is None else str(p) for p in parts)
                            .encode("utf-8")).hexdigest()[:32]
    return f"{esp}-{digest}"


def big_number(text: str, bits: int = 60) -> int:
    """A large integer derived from TEXT (beyond 2^53, as some ESPs' ids are)."""
    return (1 << 53) + int(hashlib.sha256(text.encode("utf-8")).hexdigest()[:16], 16) % (
        1 << bits)


def text_id(value: Any) -> str | None:
    """An ESP id as text; integers (Mailjet's exceed 2^53) keep every digit."""
    if value is None or value == "" or isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def campaign_of(*candidates: Any) -> str | None:
    """The first candidate that names a campaign (a string, a number, or a list's first)."""
    for value in candidates:
        if isinstance(value, list):
            value = value[0] if value else None
        text = text_id(value)
        if text:
            return text
    return None


def metadata_campaign(metadata: Any) -> str | None:
    if not isinstance(metadata, dict):
        return None
    return campaign_of(metadata.get("campaign_id"), metadata.get("campaign"))


def key(message_id: str, recipient: Any) -> str:
    """A message id that names one email to one recipient, for ESPs whose ids name a send
    (a recipient that is not text is no recipient)."""
    if isinstance(recipient, str) and recipient:
        return f"{message_id}/{recipient.lower()}"
    return message_id
