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
        store.execute("INSERT INTO api_keys (id, name, secret_hash, created_at) "
                      "VALUES (?, ?, ?, ?)", (key_id, name, _digest(secret), now))
    return NewKey(ApiKey(key_id, name, now, None, None), f"{KEY_PREFIX}{key_id}_{secret}")


def list_keys(store: SqlStore) -> list[ApiKey]:
    rows = store.execute("SELECT id, name, created_at, last_used_at, revoked_at FROM api_keys "
                         "ORDER BY created_at").fetchall()
    return [ApiKey(*row) for row in rows]


def revoke_key(store: SqlStore, key_id: str) -> None:
    with store.transaction():
        done = store.execute("UPDATE api_keys SET revoked_at = ? WHERE id = ? AND "
                             "revoked_at IS NULL", (time.time(), key_id)).rowcount
        store.execute("DELETE FROM sessions WHERE login LIKE ?", (f"key:{key_id}:%",))
    if not done:
        raise NotFoundError(f"no active API key '{key_id}' (see 'clicksift keys list')")


def key_is_active(store: SqlStore, key_id: str) -> bool:
    row = store.execute("SELECT 1 FROM api_keys WHERE id = ? AND revoked_at IS NULL",
                        (key_id,)).fetchone()
    return row is not None


def user_exists(store: SqlStore, name: str) -> bool:
    return store.execute("SELECT 1 FROM users WHERE name = ?", (name,)).fetchone() is not None


def verify_key(store: SqlStore, presented: str) -> ApiKey | None:
    """The key PRESENTED names, when it is genuine and not revoked."""
    match = _KEY.match(presented.strip())
    if match is None:
        return None
    key_id, secret = match.groups()
    row = store.execute("SELECT id, name, created_at, last_used_at, revoked_at, secret_hash "
                        "FROM api_keys WHERE id = ?", (key_id,)).fetchone()
    if row is None or not hmac.compare_digest(row[5], _digest(secret)) or row[4] is not None:
        return None
    key = ApiKey(*row[:5])
    if key.last_used_at is None or time.time() - key.last_used_at > _TOUCH_SECONDS:
        try:
            with store.transaction():
                store.execute("UPDATE api_keys SET last_used_at = ? WHERE id = ?",
                              (time.time(), key_id))
        except StorageError as exc:   # a busy store: still let them read
            log.debug("could not note the use of key %s: %s", key_id, exc)
    return key


# -- dashboard sessions -------------------------------------------------------------------------

def open_session(store: SqlStore, login: str) -> str:
    """A new session for LOGIN ('user:NAME' or 'key:ID:NAME'); its id goes in the cookie."""
    session_id = secrets.token_urlsafe(32)
    with store.transaction():
        store.execute("INSERT INTO sessions (id_hash, login, created_at) VALUES (?, ?, ?)",
                      (_digest(session_id), login, time.time()))
    return session_id


def session_valid(store: SqlStore, login: str, session_id: str) -> bool:
    """Is SESSION_ID a live session of LOGIN, whose user or key still stands?"""
    row = store.execute("SELECT 1 FROM sessions WHERE id_hash = ? AND login = ?",
                        (_digest(session_id), login)).fetchone()
    if row is None:
        return False
    kind, _, rest = login.partition(":")
    if kind == "user":
        return user_exists(store, rest)
    return kind == "key" and key_is_active(store, rest.split(":", 1)[0])


def close_session(store: SqlStore, session_id: str) -> None:
    with store.transaction():
        store.execute("DELETE FROM sessions WHERE id_hash = ?", (_digest(session_id),))


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
        store.execute("INSERT INTO users (name, password_hash, created_at) VALUES (?, ?, ?) "
                      "ON CONFLICT (name) DO UPDATE SET password_hash = excluded.password_hash",
                      (name, hash_password(password), time.time()))
        store.execute("DELETE FROM sessions WHERE login = ?", (f"user:{name}",))


def list_users(store: SqlStore) -> list[tuple[str, float]]:
    return [(row[0], row[1]) for row in
            store.execute("SELECT name, created_at FROM users ORDER BY name").fetchall()]


def delete_user(store: SqlStore, name: str) -> None:
    with store.transaction():
        done = store.execute("DELETE FROM users WHERE name = ?", (name,)).rowcount
        store.execute("DELETE FROM sessions WHERE login = ?", (f"user:{name}",))
    if not done:
        raise NotFoundError(f"no user '{name}' (see 'clicksift users list')")


def verify_password(store: SqlStore, name: str, password: str) -> bool:
    row = store.execute("SELECT password_hash FROM users WHERE name = ?", (name,)).fetchone()
    if row is None:
        hash_password(password)   # same work either way: no timing hint that NAME exists
        return False
    return check_password(row[0], password)


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
