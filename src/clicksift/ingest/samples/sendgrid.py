"""SendGrid's format written from canonical events, signed as SendGrid signs: the
inverse of :mod:`clicksift.ingest.sendgrid`, for the demo, the accuracy benchmark, tests and
fixtures (never on the path of real traffic)."""

from __future__ import annotations

from collections.abc import Sequence

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from clicksift.events import Event, EventType
from clicksift.ingest import reading
from clicksift.ingest.samples import common
from clicksift.ingest.sendgrid import SIGNATURE, TIMESTAMP


def render(events: Sequence[Event]) -> list[bytes]:
    reverse = {"sent": "processed", "delivered": "delivered", "open": "open",
               "click": "click", "bounce": "bounce", "complaint": "spamreport",
               "unsubscribe": "unsubscribe"}
    records = []
    for event, name in common.reported(events, reverse):
        record: dict[str, object] = {
            "email": event.recipient or "", "timestamp": int(event.ts),
            "event": name, "sg_event_id": event.id,
            "sg_message_id": event.message_id,
            "smtp-id": f"<{event.message_id}@ismtpd-0>"}
        if event.campaign_id:
            record["singlesend_id"] = event.campaign_id
        if event.type in (EventType.OPEN, EventType.CLICK):
            record["ip"] = event.ip or ""
            record["useragent"] = event.user_agent or ""
            if event.type == EventType.OPEN:
                record["sg_machine_open"] = common.apple_proxy(event)
        if event.type == EventType.CLICK:
            record["url"] = event.url or ""
        records.append(record)
    return [reading.json_body(batch) for batch in common.chunks(records, 500)]


def sign(body: bytes, private_key: ec.EllipticCurvePrivateKey, timestamp: int) -> dict[str, str]:
    """Headers SendGrid would send with BODY (for tests and the demo)."""
    import base64

    signature = private_key.sign(str(timestamp).encode() + body, ec.ECDSA(hashes.SHA256()))
    return {SIGNATURE: base64.b64encode(signature).decode(), TIMESTAMP: str(timestamp)}
