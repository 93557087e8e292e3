"""Signed tracking tokens.

A token is the URL-safe base64 (no padding) of a compact binary payload followed by its
HMAC-SHA256 tag truncated to 128 bits::

    version(1) action(1) key_id_len(1) key_id issued_at(4, big endian Unix seconds)
    message_id_len(varint) message_id [link_index(varint) link_kind(1) url(rest)]  tag(16)

The payload carries everything a redirect needs, so a click is served without reading
the store, and the key id lets several keys verify while the first one signs (rotation
without breaking mail already sent). Any change to a token, a truncation, or a key that
is not configured makes :meth:`Signer.verify` raise :class:`TokenError`; the server turns
that into a 404 and never redirects to an unsigned address.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import NamedTuple

from clicksift.errors import ConfigError, TokenError

VERSION = 1
TAG_BYTES = 16
#: A click id's signature: 80 bits, as hex after the id.
CLICK_ID_TAG_BYTES = 10
MAX_TOKEN_CHARS = 6000
_KEY_ID = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
_LINK_KINDS = ("content", "honeypot", "unsubscribe")


class Action(IntEnum):
    CLICK = 1
    OPEN = 2
    UNSUBSCRIBE = 3


@dataclass(frozen=True, slots=True)
class SigningKey:
    id: str
    secret: bytes

    def __post_init__(self) -> None:
        if not _KEY_ID.match(self.id):
            raise ConfigError(f"signing key id {self.id!r} must be 1-32 letters, digits, _ or -")
        if len(self.secret) < 16:
            raise ConfigError(f"signing key {self.id!r} is too short: use at least 16 bytes")


class Claims(NamedTuple):
    """What a token says. Clicks carry link_index, link_kind and url; opens and
    unsubscribes do not."""

    action: Action
    message_id: str
    issued_at: int
    link_index: int | None = None
    link_kind: str | None = None
    url: str | None = None
    key_id: str = ""


def generate_key(key_id: str = "k1") -> str:
    """A new 'id:secret' signing key (256 random bits)."""
    return f"{key_id}:{secrets.token_urlsafe(32)}"


def parse_keys(text: str) -> list[SigningKey]:
    """Parse 'id:secret,id2:secret2' (the signing_keys setting)."""
    keys = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        key_id, sep, secret = part.partition(":")
        if not sep:
            raise ConfigError("setting 'signing_keys': each key is 'id:secret' "
                              "(separated by commas)")
        keys.append(SigningKey(key_id, secret.encode()))
    ids = [k.id for k in keys]
    if len(set(ids)) != len(ids):
        raise ConfigError("setting 'signing_keys': key ids must be unique")
    return keys


def _varint(number: int) -> bytes:
    out = bytearray()
    while True:
        byte = number & 0x7F
        number >>= 7
        if number:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    if pos < len(data) and data[pos] < 0x80:  # one byte: the common case
        return data[pos], pos + 1
    number = shift = 0
    while True:
        if pos >= len(data) or shift > 28:
            raise TokenError("token is truncated")
        byte = data[pos]
        pos += 1
        number |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return number, pos
        shift += 7


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


_FROM_URLSAFE = bytes.maketrans(b"-_", b"+/")
_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
# For a token whose length is 2 or 3 modulo 4, the last character carries 4 or 2 unused bits.
_UNUSED_BITS_MASK = {2: 0b1111, 3: 0b11}
_URLSAFE = re.compile(r"[A-Za-z0-9_-]*")


def _b64decode(token: str) -> bytes:
    """Decode a token, accepting only its one canonical spelling (strict alphabet, no
    padding, unused trailing bits zero), so any altered character is a different token."""
    if len(token) > MAX_TOKEN_CHARS:
        raise TokenError("token is too long")
    remainder = len(token) % 4
    if remainder == 1 or not _URLSAFE.fullmatch(token):   # no '=', '+' or '/' spellings
        raise TokenError("token is not URL-safe base64")
    mask = _UNUSED_BITS_MASK.get(remainder)
    if mask is not None and _ALPHABET.find(token[-1]) & mask:
        raise TokenError("token is not canonical URL-safe base64")
    raw = token.encode("ascii").translate(_FROM_URLSAFE) + (b"==" if remainder == 2 else
                                                           b"=" if remainder == 3 else b"")
    try:
        return binascii.a2b_base64(raw, strict_mode=True)
    except binascii.Error:
        raise TokenError("token is not URL-safe base64") from None


class Signer:
    """Signs with the first key, verifies with any configured key."""

    def __init__(self, keys: Sequence[SigningKey]) -> None:
        if not keys:
            raise ConfigError("no signing key configured")
        self._signing = keys[0]
        self._by_id = {k.id: k.secret for k in keys}

    @property
    def key_ids(self) -> list[str]:
        return list(self._by_id)

    def _tag(self, secret: bytes, payload: bytes) -> bytes:
        return hmac.digest(secret, payload, hashlib.sha256)[:TAG_BYTES]

    def sign(self, claims: Claims) -> str:
        key_id = self._signing.id.encode("ascii")
        message_id = claims.message_id.encode("utf-8")
        if not message_id:
            raise ValueError("message id must not be empty")
        parts = [bytes((VERSION, int(claims.action), len(key_id))), key_id,
                 (claims.issued_at & 0xFFFFFFFF).to_bytes(4, "big"),
                 _varint(len(message_id)), message_id]
        if claims.action is Action.CLICK:
            if claims.link_index is None or claims.url is None or claims.link_kind is None:
                raise ValueError("a click token needs link_index, link_kind and url")
            parts += [_varint(claims.link_index), bytes((_LINK_KINDS.index(claims.link_kind),)),
                      claims.url.encode("utf-8")]
        payload = b"".join(parts)
        return _b64encode(payload + self._tag(self._signing.secret, payload))

    def verify(self, token: str) -> Claims:
        data = _b64decode(token)
        if len(data) < 8 + TAG_BYTES:
            raise TokenError("token is truncated")
        payload, tag = data[:-TAG_BYTES], data[-TAG_BYTES:]
        if payload[0] != VERSION:
            raise TokenError(f"token version {payload[0]} is not supported")
        key_len = payload[2]
        key_id = payload[3:3 + key_len].decode("ascii", "replace")
        secret = self._by_id.get(key_id)
        if secret is None:
            raise TokenError("token is signed with an unknown key")
        if not hmac.compare_digest(tag, self._tag(secret, payload)):
            raise TokenError("token signature does not match")
        return _decode_payload(payload, 3 + key_len, key_id)


    # -- click ids --------------------------------------------------------------------------

    def sign_click_id(self, click_id: str) -> str:
        """CLICK_ID (32 hex digits) followed by its signature (CLICK_ID_TAG_BYTES in hex):
        what a click's destination carries, so that only someone who followed the click can
        report a conversion of it through the pixel."""
        return click_id + self._tag(self._signing.secret, b"click-id:" + click_id.encode(
            "ascii"))[:CLICK_ID_TAG_BYTES].hex()

    def verify_click_id(self, signed: str) -> str | None:
        """The click id SIGNED carries, when its signature matches a configured key."""
        click_id, tag = signed[:-2 * CLICK_ID_TAG_BYTES], signed[-2 * CLICK_ID_TAG_BYTES:]
        payload = b"click-id:" + click_id.encode("ascii", "replace")
        for secret in self._by_id.values():
            expected = self._tag(secret, payload)[:CLICK_ID_TAG_BYTES].hex()
            if hmac.compare_digest(expected, tag):
                return click_id
        return None


_ACTIONS = {a.value: a for a in Action}


def _decode_payload(payload: bytes, pos: int, key_id: str) -> Claims:
    """Read a payload whose tag is already verified (a failure here is a version mismatch)."""
    try:
        action = _ACTIONS[payload[1]]
        issued_at = int.from_bytes(payload[pos:pos + 4], "big")
        length, pos = _read_varint(payload, pos + 4)
        message_id = payload[pos:pos + length].decode("utf-8")
        pos += length
        if action is not Action.CLICK:
            return Claims(action, message_id, issued_at, key_id=key_id)
        index, pos = _read_varint(payload, pos)
        kind = _LINK_KINDS[payload[pos]]
        url = payload[pos + 1:].decode("utf-8")
    except (KeyError, ValueError, IndexError, UnicodeDecodeError):
        raise TokenError("token payload is malformed") from None
    return Claims(action, message_id, issued_at, index, kind, url, key_id)
