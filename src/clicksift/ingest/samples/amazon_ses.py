"""Amazon SES's format written from canonical events, signed as Amazon SES signs: the
inverse of :mod:`clicksift.ingest.amazon_ses`, for the demo, the accuracy benchmark, tests and
fixtures (never on the path of real traffic)."""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from clicksift.events import Event
from clicksift.ingest import ids
from clicksift.ingest.amazon_ses import DETAIL, TYPES, string_to_sign
from clicksift.ingest.samples import common


def render(events: Sequence[Event], topic: str = "arn:aws:sns:us-east-1:123456789012:ses-events",
           cert_url: str = "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-demo.pem"
           ) -> list[bytes]:
    reverse = {v: k for k, v in TYPES.items() if k != "Subscription"}
    bodies = []
    for event, kind in common.reported(events, reverse):
        when = common.iso(event.ts, 3)
        mail = {"timestamp": when, "source": "news@example.com",
                "sendingAccountId": "123456789012", "messageId": event.message_id,
                "destination": [event.recipient or "unknown@example.com"],
                "headersTruncated": False,
                "tags": {"campaign": [event.campaign_id]} if event.campaign_id else {}}
        detail: dict[str, Any] = {"timestamp": when}
        if kind in ("Open", "Click"):
            detail.update({"ipAddress": event.ip or "", "userAgent": event.user_agent or ""})
        if kind == "Click":
            detail.update({"link": event.url or "", "linkTags": {}})
        if kind == "Delivery":
            detail.update({"recipients": mail["destination"], "smtpResponse": "250 2.6.0 OK",
                           "processingTimeMillis": 500})
        if kind == "Bounce":
            detail.update({"bounceType": "Permanent", "bounceSubType": "General",
                           "bouncedRecipients": [{"emailAddress": event.recipient}]})
        if kind == "Complaint":
            detail.update({"complainedRecipients": [{"emailAddress": event.recipient}]})
        record = {"eventType": kind, "mail": mail, DETAIL[kind]: {} if kind == "Send"
                  else detail}
        envelope = {"Type": "Notification", "MessageId": ids.stable_id("sns", event.id)[4:],
                    "TopicArn": topic, "Subject": "Amazon SES Email Event Notification",
                    "Message": json.dumps(record), "Timestamp": when,
                    "SignatureVersion": "2", "Signature": "", "SigningCertURL": cert_url,
                    "UnsubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe"}
        bodies.append(json.dumps(envelope).encode())
    return bodies


def sign_envelope(envelope: dict[str, Any], private_key: rsa.RSAPrivateKey,
                  version: str = "2") -> dict[str, Any]:
    """ENVELOPE signed the way SNS signs (for tests and the demo)."""
    envelope = dict(envelope, SignatureVersion=version)
    digest = hashes.SHA1() if version == "1" else hashes.SHA256()  # noqa: S303
    signature = private_key.sign(string_to_sign(envelope), padding.PKCS1v15(), digest)
    envelope["Signature"] = base64.b64encode(signature).decode()
    return envelope
