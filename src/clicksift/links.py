"""Tracking URLs: where a click, an open or an unsubscribe of one message goes."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from clicksift.storage import SqlStore
from clicksift.tokens import Action, Claims, Signer, generate_key, parse_keys

CLICK_PREFIX = "/c/"
OPEN_PREFIX = "/o/"
UNSUBSCRIBE_PREFIX = "/u/"
OPEN_SUFFIX = ".gif"
SIGNING_KEYS_META = "signing_keys"


@dataclass(frozen=True)
class TrackingUrls:
    """Builds signed tracking URLs under BASE_URL."""

    base_url: str
    signer: Signer

    def __post_init__(self) -> None:
        object.__setattr__(self, "base_url", self.base_url.rstrip("/"))

    def click(self, message_id: str, index: int, kind: str, destination: str,
              issued_at: int) -> str:
        token = self.signer.sign(Claims(Action.CLICK, message_id, issued_at, index, kind,
                                        destination))
        return f"{self.base_url}{CLICK_PREFIX}{token}"

    def open(self, message_id: str, issued_at: int) -> str:
        token = self.signer.sign(Claims(Action.OPEN, message_id, issued_at))
        return f"{self.base_url}{OPEN_PREFIX}{token}{OPEN_SUFFIX}"

    def unsubscribe(self, message_id: str, issued_at: int) -> str:
        token = self.signer.sign(Claims(Action.UNSUBSCRIBE, message_id, issued_at))
        return f"{self.base_url}{UNSUBSCRIBE_PREFIX}{token}"

    @property
    def is_https(self) -> bool:
        return urlsplit(self.base_url).scheme == "https"


def load_signer(signing_keys: str, store: SqlStore) -> Signer:
    """The signer from the signing_keys setting, or the key kept with the store (made once)."""
    text = signing_keys or store.get_meta(SIGNING_KEYS_META) or store.put_meta_if_absent(
        SIGNING_KEYS_META, generate_key())
    return Signer(parse_keys(text))
