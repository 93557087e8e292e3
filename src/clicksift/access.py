"""Who may read reports: API keys (for programs) and dashboard users (for people).

An API key reads ``csk_<id>_<secret>``; the store keeps only a SHA-256 of the secret (the
secret is 192 random bits, so a fast hash is enough), compared in constant time. A user's
password is kept as an scrypt hash (RFC 7914; N=2^14, r=8, p=1, 16-byte salt).

A dashboard session is a row in ``sessions`` (the cookie holds a random id, the store its
SHA-256): logging out ends it, and changing a user's password, deleting the user or
revoking the key it logged in with ends every session of that login.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
import secrets
import time
from dataclasses import dataclass

from clicksift.errors import InputError, NotFoundError, StorageError
from clicksift.storage import SqlStore
from clicksift.storage.queries import access as sql

log = logging.getLogger("clicksift.access")
KEY_PREFIX = "csk_"
_KEY = re.compile(r"^csk_([0-9a-f]{8})_([A-Za-z0-9_-]{32})$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
MIN_PASSWORD = 10
_SCRYPT = {"n": 2 ** 14, "r": 8, "p": 1}
#: A key's last use is written at most this often (reads stay reads).
_TOUCH_SECONDS = 600.0


@dataclass(frozen=True, slots=True)
class ApiKey:
    id: str
    name: str
    created_at: float
    last_used_at: float | None
    revoked_at: float | None


@dataclass(frozen=True, slots=True)
class NewKey:
    key: ApiKey
    secret: str      # the whole key, shown once


def create_key(store: SqlStore, name: str) -> NewKey:
    _check_name(name, "name")
    key_id = secrets.token_hex(4)
    secret = secrets.token_urlsafe(24)
    now = time.time()
    with store.transaction():
        store.change(sql.INSERT_KEY, (key_id, name, _digest(secret), now))
    return NewKey(ApiKey(key_id, name, now, None, None), f"{KEY_PREFIX}{key_id}_{secret}")


def list_keys(store: SqlStore) -> list[ApiKey]:
    return store.rows(ApiKey, sql.SELECT_KEYS)


def revoke_key(store: SqlStore, key_id: str) -> None:
    with store.transaction():
        done = store.change(sql.REVOKE_KEY, (time.time(), key_id))
        store.change(sql.DELETE_SESSIONS_LIKE, (f"key:{key_id}:%",))
    if not done:
        raise NotFoundError(f"no active API key '{key_id}' (see 'clicksift keys list')")


def key_is_active(store: SqlStore, key_id: str) -> bool:
    return store.exists(sql.ACTIVE_KEY, (key_id,))


def user_exists(store: SqlStore, name: str) -> bool:
    return store.exists(sql.USER, (name,))


def verify_key(store: SqlStore, presented: str) -> ApiKey | None:
    """The key PRESENTED names, when it is genuine and not revoked."""
    match = _KEY.match(presented.strip())
    if match is None:
        return None
    key_id, secret = match.groups()
    row = store.row(sql.KeyWithHash, sql.SELECT_KEY_WITH_HASH, (key_id,))
    if row is None or not hmac.compare_digest(row.secret_hash, _digest(secret)) \
            or row.revoked_at is not None:
        return None
    key = ApiKey(row.id, row.name, row.created_at, row.last_used_at, row.revoked_at)
    if key.last_used_at is None or time.time() - key.last_used_at > _TOUCH_SECONDS:
        try:
            with store.transaction():
                store.change(sql.TOUCH_KEY, (time.time(), key_id))
        except StorageError as exc:   # a busy store: still let them read
            log.debug("could not note the use of key %s: %s", key_id, exc)
    return key


# -- dashboard sessions -------------------------------------------------------------------------

def open_session(store: SqlStore, login: str) -> str:
    """A new session for LOGIN ('user:NAME' or 'key:ID:NAME'); its id goes in the cookie."""
    session_id = secrets.token_urlsafe(32)
    with store.transaction():
        store.change(sql.INSERT_SESSION, (_digest(session_id), login, time.time()))
    return session_id


def session_valid(store: SqlStore, login: str, session_id: str) -> bool:
    """Is SESSION_ID a live session of LOGIN, whose user or key still stands?"""
    if not store.exists(sql.SESSION, (_digest(session_id), login)):
        return False
    kind, _, rest = login.partition(":")
    if kind == "user":
        return user_exists(store, rest)
    return kind == "key" and key_is_active(store, rest.split(":", 1)[0])


def close_session(store: SqlStore, session_id: str) -> None:
    with store.transaction():
        store.change(sql.DELETE_SESSION, (_digest(session_id),))


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("ascii")).hexdigest()


# -- users --------------------------------------------------------------------------------------

def set_password(store: SqlStore, name: str, password: str) -> None:
    """Create user NAME, or change their password."""
    _check_name(name, "user")
    if len(password) < MIN_PASSWORD:
        raise InputError(f"the password is too short: use at least {MIN_PASSWORD} characters",
                         field="password")
    with store.transaction():
        store.change(sql.UPSERT_USER, (name, hash_password(password), time.time()))
        store.change(sql.DELETE_LOGIN_SESSIONS, (f"user:{name}",))


def list_users(store: SqlStore) -> list[sql.UserRow]:
    return store.rows(sql.UserRow, sql.SELECT_USERS)


def delete_user(store: SqlStore, name: str) -> None:
    with store.transaction():
        done = store.change(sql.DELETE_USER, (name,))
        store.change(sql.DELETE_LOGIN_SESSIONS, (f"user:{name}",))
    if not done:
        raise NotFoundError(f"no user '{name}' (see 'clicksift users list')")


def verify_password(store: SqlStore, name: str, password: str) -> bool:
    stored = store.value(sql.STORED_HASH_OF_USER, (name,))
    if stored is None:
        hash_password(password)   # same work either way: no timing hint that NAME exists
        return False
    return check_password(stored, password)


def hash_password(password: str, salt: bytes | None = None) -> str:
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, dklen=32, **_SCRYPT)
    return "scrypt${n}${r}${p}${salt}${digest}".format(
        **_SCRYPT, salt=_b64(salt), digest=_b64(digest))


def check_password(stored: str, password: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        expected = base64.urlsafe_b64decode(digest)
        actual = hashlib.scrypt(password.encode("utf-8"), salt=base64.urlsafe_b64decode(salt),
                                n=int(n), r=int(r), p=int(p), dklen=len(expected))
    except (ValueError, TypeError):
        return False
    return scheme == "scrypt" and hmac.compare_digest(actual, expected)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii")


def _check_name(name: str, field: str) -> None:
    if not _NAME.match(name):
        raise InputError("use 1-64 letters, digits and . _ @ - (starting with a letter or "
                         "digit)", field=field)
