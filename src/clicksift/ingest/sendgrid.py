"""SendGrid Event Webhook: a JSON array of events, signed with ECDSA (P-256, SHA-256).

Signature: ``X-Twilio-Email-Event-Webhook-Signature`` is the base64 DER signature of
``X-Twilio-Email-Event-Webhook-Timestamp`` + the raw body, made with the key whose public
half the SendGrid console shows ("Signed Event Webhook", base64 DER SubjectPublicKeyInfo).
Source: https://www.twilio.com/docs/sendgrid/for-developers/tracking-events/getting-started-event-webhook-security-features
"""

from __future__ import annotations

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from clicksift.events import Event
from clicksift.ingest import base, errors, ids, normalize, reading, signing, times
from clicksift.ingest.base import Headers, Secrets

NAME = "sendgrid"
SIGNATURE = "x-twilio-email-event-webhook-signature"
TIMESTAMP = "x-twilio-email-event-webhook-timestamp"

#: SendGrid event -> canonical type. 'deferred' is a temporary failure (never a bounce),
#: 'dropped' never left SendGrid: both stay 'unknown'.
TYPES = {
    "processed": "sent",
    "delivered": "delivered",
    "open": "open",
    "click": "click",
    "bounce": "bounce",
    "spamreport": "complaint",
    "unsubscribe": "unsubscribe",
    "group_unsubscribe": "unsubscribe",
}


def _public_key(text: str) -> ec.EllipticCurvePublicKey:
    key = signing.public_key(text, "SendGrid")
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise errors.SignatureError("the configured SendGrid public key is not an ECDSA key")
    return key


def verify(body: bytes, headers: Headers, secrets: Secrets, *, now: float | None = None) -> None:
    key = _public_key(signing.secret(secrets, "public_key", NAME))
    signature = signing.b64decode(signing.header(headers, SIGNATURE), "signature")
    timestamp = signing.header(headers, TIMESTAMP)
    times.check_fresh(timestamp, times.epoch_now() if now is None else now)
    try:
        key.verify(signature, timestamp.encode("utf-8") + body, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise errors.SignatureError("the ECDSA signature does not match the body") from None


def parse(body: bytes, headers: Headers) -> list[Event]:
    events: list[Event] = []
    records = reading.as_list(reading.decode_json(body), "an array of events")
    for index, record in enumerate(records):
        with normalize.one_record(NAME, index, record, events):
            kind = reading.need(record, "event", index)
            message = ids.text_id(record.get("sg_message_id"))
            event_id = ids.text_id(record.get("sg_event_id"))
            ts = times.seconds(reading.need(record, "timestamp", index, (int, float, str)), index,
                              "timestamp")
            machine = record.get("sg_machine_open")
            events.append(normalize.build(
                NAME, kind, record, types=TYPES, index=index,
                event_id=ids.stable_id(NAME, event_id) if event_id else
                ids.stable_id(NAME, message, kind, ts, record.get("url")),
                message_id=message, timestamp=ts,
                recipient=record.get("email"),
                campaign_id=ids.campaign_of(record.get("singlesend_id"),
                                             record.get("marketing_campaign_id"),
                                             record.get("campaign_id"), record.get("category")),
                url=record.get("url"), ip=record.get("ip"), user_agent=record.get("useragent"),
                esp_flags={"sg_machine_open": machine} if machine is not None else None))
    return normalize.readable(events)


SETTINGS = (
    base.esp_setting(
        "sendgrid_public_key",
        "", "SendGrid Signed Event Webhook verification key (the base64 public key shown in "
        "SendGrid's Mail Settings)."),
)


GUIDE = base.Guide(
    setup="In the SendGrid console open **Settings → Mail Settings → Event Webhooks**, "
          "create a webhook with the URL below, tick the events you want (at least "
          "Delivered, Opened, Clicked, Unsubscribed, Group Unsubscribes, Spam Reports, "
          "Bounced), and turn on **Signed Event Webhook Requests**.",
    signature="SendGrid signs each POST with ECDSA (P-256, SHA-256) over the "
              "`X-Twilio-Email-Event-Webhook-Timestamp` header followed by the raw body; "
              "the signature is in `X-Twilio-Email-Event-Webhook-Signature`. Copy the "
              "**Verification Key** SendGrid shows after enabling signing into "
              "`sendgrid_public_key`. Timestamps more than 5 minutes from the server's "
              "clock are refused.",
    quirks=(
        "One POST carries a JSON array of up to hundreds of events; the whole batch is "
        "stored in one transaction, so a retry after a failure stores each event once.",
        "`deferred` (a temporary failure) and `dropped` (never left SendGrid) stay "
        "`unknown`; only `bounce` is a bounce.",
        "Opens that SendGrid attributes to Apple Mail Privacy Protection carry "
        "`sg_machine_open: true`; it is passed through in `esp_flags` and the classifier "
        "treats it as a privacy prefetch.",
        "The event id is `sg_event_id`; the message id is `sg_message_id` (one recipient). "
        "The campaign is `singlesend_id`, `marketing_campaign_id`, a `campaign_id` custom "
        "argument, or the first category, in that order.",
        "Times are whole Unix seconds, so bursts within one second cannot be ordered.",
    ),
    docs=("https://www.twilio.com/docs/sendgrid/for-developers/tracking-events/event",
          "https://www.twilio.com/docs/sendgrid/for-developers/tracking-events/"
          "getting-started-event-webhook-security-features"),
)


ADAPTER = base.Adapter(
    name=NAME, title="SendGrid", types=TYPES, parse=parse, verify=verify,
    secrets={"public_key": "sendgrid_public_key"},
    carries=("ip", "user_agent", "esp_flags"),
    guide=GUIDE, settings=SETTINGS)
