"""API keys, dashboard users and their sessions (``clicksift.access``)."""

from __future__ import annotations

from typing import NamedTuple

INSERT_KEY = "INSERT INTO api_keys (id, name, secret_hash, created_at) VALUES (?, ?, ?, ?)"
KEY_COLUMNS = "id, name, created_at, last_used_at, revoked_at"
SELECT_KEYS = f"SELECT {KEY_COLUMNS} FROM api_keys ORDER BY created_at"
SELECT_KEY_WITH_HASH = f"SELECT {KEY_COLUMNS}, secret_hash FROM api_keys WHERE id = ?"
REVOKE_KEY = "UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL"
TOUCH_KEY = "UPDATE api_keys SET last_used_at = ? WHERE id = ?"
ACTIVE_KEY = "SELECT 1 FROM api_keys WHERE id = ? AND revoked_at IS NULL"

INSERT_SESSION = "INSERT INTO sessions (id_hash, login, created_at) VALUES (?, ?, ?)"
SESSION = "SELECT 1 FROM sessions WHERE id_hash = ? AND login = ?"
DELETE_SESSION = "DELETE FROM sessions WHERE id_hash = ?"
DELETE_LOGIN_SESSIONS = "DELETE FROM sessions WHERE login = ?"
DELETE_SESSIONS_LIKE = "DELETE FROM sessions WHERE login LIKE ?"

UPSERT_USER = """
INSERT INTO users (name, password_hash, created_at) VALUES (?, ?, ?)
ON CONFLICT (name) DO UPDATE SET password_hash = excluded.password_hash"""
USER = "SELECT 1 FROM users WHERE name = ?"
SELECT_USERS = "SELECT name, created_at FROM users ORDER BY name"
DELETE_USER = "DELETE FROM users WHERE name = ?"
STORED_HASH_OF_USER = "SELECT password_hash FROM users WHERE name = ?"


class KeyWithHash(NamedTuple):
    id: str
    name: str
    created_at: float
    last_used_at: float | None
    revoked_at: float | None
    secret_hash: str


class UserRow(NamedTuple):
    name: str
    created_at: float
