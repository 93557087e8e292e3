"""Postal webhooks: one JSON object per event, ``{"event", "timestamp", "uuid", "payload"}``.

Signature: ``X-Postal-Signature-256`` is the base64 RSA-SHA256 signature of the body
(older servers send only ``X-Postal-Signature``, RSA-SHA1), checked with the server's public
key as shown in Postal's web interface (the ``p=`` value, base64 DER, or a PEM file's text).
Source: https://docs.postalserver.io/developer/webhooks
"""

from __future__ import annotations

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from clicksift.events import Event
from clicksift.ingest import base, errors, ids, normalize, reading, signing, times
from clicksift.ingest.base import Headers, Secrets

NAME = "postal"
SIGNATURE_256 = "x-postal-signature-256"
SIGNATURE_1 = "x-postal-signature"

#: 'MessageSent' is delivery to the recipient's server; 'MessageDelayed' (a soft failure)
#: and 'MessageHeld' are not bounces.
TYPES = {
    "MessageSent": "delivered",
    "MessageLoaded": "open",
    "MessageLinkClicked": "click",
    "MessageDeliveryFailed": "bounce",
    "MessageBounced": "bounce",
}


def _public_key(text: str) -> rsa.RSAPublicKey:
    key = signing.public_key(text.strip().removeprefix("p=").rstrip(";"), "Postal")
    if not isinstance(key, rsa.RSAPublicKey):
        raise errors.SignatureError("the configured Postal public key is not an RSA key")
    return key


def verify(body: bytes, headers: Headers, secrets: Secrets) -> None:
    key = _public_key(signing.secret(secrets, "public_key", NAME))
    digest: hashes.HashAlgorithm
    if headers.get(SIGNATURE_256):
        signature, digest = headers[SIGNATURE_256], hashes.SHA256()
    else:
        signature, digest = signing.header(headers, SIGNATURE_1), hashes.SHA1()  # noqa: S303
    try:
        key.verify(signing.b64decode(signature, "signature"), body, padding.PKCS1v15(), digest)
    except InvalidSignature:
        raise errors.SignatureError("the RSA signature does not match the body") from None


def parse(body: bytes, headers: Headers) -> list[Event]:
    events: list[Event] = []
    for index, record in enumerate(reading.as_list(reading.decode_json(body), "a Postal event")):
        with normalize.one_record(NAME, index, record, events):
            kind = reading.need(record, "event", index)
            payload = reading.obj(record.get("payload"))
            message = payload.get("message") or payload.get("original_message") or {}
            if not isinstance(message, dict):
                message = {}
            canonical = None
            if kind == "MessageDeliveryFailed" and payload.get("status") not in (None, "HardFail"):
                canonical = "unknown"
            if message.get("direction") == "incoming":
                # mail Postal received (its delivery to an HTTP endpoint or a forward) is not
                # the sender's outgoing mail: kept, never a bounce or a delivery of it
                canonical = "unknown"
            raw_time = payload.get("timestamp") if kind == "MessageSent" else None
            raw_time = raw_time or reading.need(record, "timestamp", index, (int, float, str))
            uuid = ids.text_id(record.get("uuid"))
            message_id = ids.text_id(message.get("id")) or ids.text_id(message.get("token"))
            events.append(normalize.build(
                NAME, kind, record, types=TYPES, index=index, canonical=canonical,
                event_id=ids.stable_id(NAME, uuid) if uuid else
                ids.stable_id(NAME, message_id, kind, raw_time),
                message_id=message_id, timestamp=times.seconds(raw_time, index, "timestamp"),
                recipient=message.get("to"), campaign_id=ids.campaign_of(message.get("tag")),
                url=payload.get("url"), ip=payload.get("ip_address"),
                user_agent=payload.get("user_agent")))
    return normalize.readable(events)


SETTINGS = (
    base.esp_setting(
        "postal_public_key",
        "", "Postal server's webhook public key (the p= value shown by Postal, or PEM)."),
)


GUIDE = base.Guide(
    setup="In Postal open the mail server's **Webhooks → Add webhook**, enter the URL "
          "below, and select MessageSent, MessageDelayed, MessageDeliveryFailed, "
          "MessageBounced, MessageLinkClicked and MessageLoaded.",
    signature="Postal signs the body with its RSA key: `X-Postal-Signature-256` (SHA-256; "
              "older servers send only `X-Postal-Signature`, SHA-1). Copy the public key "
              "Postal shows (the `p=` value of its DNS record, or a PEM file) into "
              "`postal_public_key`.",
    quirks=(
        "`MessageSent` is delivery to the recipient's server; its time is the payload's "
        "`timestamp`. `MessageDelayed` and `MessageHeld` stay `unknown`; "
        "`MessageDeliveryFailed` is a bounce only with status `HardFail`.",
        "Postal creates one message per recipient; the message id is Postal's message "
        "id, the campaign its tag.",
        "Formats read: the events of outgoing mail; events about mail Postal received "
        "(`direction: incoming`: its delivery to your endpoint, a held or failed "
        "forward) are kept as `unknown`, never a delivery or a bounce of your mail.",
    ),
    docs=("https://docs.postalserver.io/developer/webhooks",),
)


ADAPTER = base.Adapter(
    name=NAME, title="Postal", types=TYPES, parse=parse, verify=verify,
    secrets={"public_key": "postal_public_key"}, carries=("ip", "user_agent"),
    guide=GUIDE, settings=SETTINGS)
