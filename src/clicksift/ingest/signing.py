"""Checking ESP signatures: secrets, headers, constant-time comparisons, HTTP basic
authentication, public keys and HMACs.
"""

from __future__ import annotations

import base64
import binascii
import hmac

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

from clicksift.ingest.base import Headers, Secrets
from clicksift.ingest.errors import SignatureError


def secret(secrets: Secrets, name: str, esp: str) -> str:
    value = secrets.get(name, "")
    if not value:
        raise SignatureError(f"no {name} is configured for {esp}")
    return value


def header(headers: Headers, name: str) -> str:
    value = headers.get(name)
    if not value:
        raise SignatureError(f"the {name} header is missing")
    return value


def same(a: str | bytes, b: str | bytes) -> bool:
    """Constant-time comparison."""
    left = a.encode("utf-8") if isinstance(a, str) else a
    right = b.encode("utf-8") if isinstance(b, str) else b
    return hmac.compare_digest(left, right)


def check_basic_auth(headers: Headers, expected: str, esp: str) -> None:
    """The request's HTTP basic credentials must be EXPECTED ('user:password'), or its
    bearer token must be EXPECTED."""
    given = headers.get("authorization", "")
    scheme, _, value = given.partition(" ")
    if scheme.lower() == "basic":
        try:
            credentials = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise SignatureError("the Authorization header is not valid basic auth") from None
    elif scheme.lower() == "bearer":
        credentials = value.strip()
    else:
        raise SignatureError(f"{esp} webhooks must carry the configured basic-auth credentials "
                             "(put them in the webhook URL: https://user:password@host/...)")
    if not same(credentials, expected):
        raise SignatureError("the basic-auth credentials are wrong")


def basic_auth_header(credentials: str) -> dict[str, str]:
    return {"authorization": "Basic " + base64.b64encode(credentials.encode()).decode()}


def b64decode(value: str, what: str) -> bytes:
    try:
        return base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise SignatureError(f"the {what} is not base64") from None


def public_key(text: str, title: str) -> PublicKeyTypes:
    """A configured public key: PEM text, or base64 DER (SubjectPublicKeyInfo)."""
    text = text.strip()
    try:
        if text.startswith("-----BEGIN"):
            return serialization.load_pem_public_key(text.encode())
        return serialization.load_der_public_key(b64decode(text, "public key"))
    except (ValueError, SignatureError):
        raise SignatureError(f"the configured {title} public key is not base64 DER or "
                             "PEM") from None


def hmac_hex(key: bytes, message: bytes, digest: str = "sha256") -> str:
    return hmac.new(key, message, digest).hexdigest()


def hmac_b64(key: bytes, message: bytes, digest: str = "sha256") -> str:
    return base64.b64encode(hmac.new(key, message, digest).digest()).decode("ascii")
