"""Our own keys for every ESP's webhook scheme, and requests signed with them.

``EspKeys.env()`` configures a server with the verifying halves; ``sign()`` makes the
headers (or, for Mailgun and Amazon SNS, the body) an ESP would send, with the right key
or a wrong one, at a chosen time.
"""

from __future__ import annotations

import base64
import datetime
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from clicksift.ingest import mandrill
from clicksift.ingest.samples import amazon_ses, mailgun, postal, resend, sendgrid
from clicksift.ingest.signing import basic_auth_header

CERT_URL = "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-clicksift-test.pem"
TOPIC = "arn:aws:sns:us-east-1:123456789012:ses-events"


def _public_b64(key: Any) -> str:
    der = key.public_key().public_bytes(serialization.Encoding.DER,
                                        serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(der).decode()


def _certificate(key: rsa.RSAPrivateKey) -> bytes:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM)


@dataclass
class KeySet:
    ec_key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    rsa_key: rsa.RSAPrivateKey = field(
        default_factory=lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048))
    mailgun_key: str = field(default_factory=lambda: "key-" + os.urandom(16).hex())
    basic: str = field(default_factory=lambda: "hook:" + os.urandom(8).hex())
    mandrill_key: str = field(default_factory=lambda: os.urandom(16).hex())
    resend_secret: str = field(
        default_factory=lambda: "whsec_" + base64.b64encode(os.urandom(24)).decode())


class EspKeys:
    def __init__(self, folder: Path, base_url: str) -> None:
        self.good = KeySet()
        self.bad = KeySet()
        self.base_url = base_url
        self.cert_dir = folder / "sns-certs"
        self.cert_dir.mkdir(exist_ok=True)
        (self.cert_dir / os.path.basename(CERT_URL)).write_bytes(_certificate(self.good.rsa_key))

    def env(self) -> dict[str, str]:
        good = self.good
        return {
            "CLICKSIFT_SENDGRID_PUBLIC_KEY": _public_b64(good.ec_key),
            "CLICKSIFT_MAILGUN_SIGNING_KEY": good.mailgun_key,
            "CLICKSIFT_POSTMARK_BASIC_AUTH": good.basic,
            "CLICKSIFT_SES_CERTIFICATES": str(self.cert_dir),
            "CLICKSIFT_SPARKPOST_BASIC_AUTH": good.basic,
            "CLICKSIFT_MAILJET_BASIC_AUTH": good.basic,
            "CLICKSIFT_MANDRILL_WEBHOOK_KEY": good.mandrill_key,
            "CLICKSIFT_RESEND_SIGNING_SECRET": good.resend_secret,
            "CLICKSIFT_POSTAL_PUBLIC_KEY": _public_b64(good.rsa_key),
            "CLICKSIFT_BREVO_CREDENTIALS": good.basic,
        }

    def sign(self, esp: str, body: bytes, now: float, *, wrong: bool = False
             ) -> tuple[bytes, dict[str, str]]:
        """BODY and headers as ESP would post them, signed at NOW (with a wrong key)."""
        keys = self.bad if wrong else self.good
        stamp = int(now)
        if esp == "sendgrid":
            return body, sendgrid.sign(body, keys.ec_key, stamp)
        if esp == "mailgun":
            document = json.loads(body)
            document["signature"] = mailgun.signature_block(keys.mailgun_key, stamp,
                                                            os.urandom(25).hex())
            return json.dumps(document).encode(), {}
        if esp in ("postmark", "sparkpost", "mailjet"):
            return body, basic_auth_header(keys.basic)
        if esp == "brevo":
            return body, {"authorization": f"Bearer {keys.basic}"}
        if esp == "amazon_ses":
            envelope = json.loads(body)
            envelope.update(SigningCertURL=CERT_URL, TopicArn=TOPIC,
                            Timestamp=datetime.datetime.fromtimestamp(
                                now, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z"))
            return json.dumps(amazon_ses.sign_envelope(envelope, keys.rsa_key)).encode(), {}
        if esp == "mandrill":
            fields = mandrill._fields(body)
            url = self.base_url.rstrip("/") + "/webhooks/mandrill"
            return body, {mandrill.SIGNATURE: mandrill.signature(keys.mandrill_key, url,
                                                                 fields)}
        if esp == "resend":
            return body, resend.sign(keys.resend_secret, "msg_" + os.urandom(8).hex(), stamp,
                                     body)
        if esp == "postal":
            return body, postal.sign(body, keys.rsa_key)
        raise ValueError(esp)
