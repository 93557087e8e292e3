"""Amazon SES event publishing through an Amazon SNS topic (HTTPS subscription).

SNS posts an envelope (``Type`` Notification, SubscriptionConfirmation or
UnsubscribeConfirmation) whose ``Message`` is the SES event record as a JSON string. The
envelope is signed with RSA (SignatureVersion 1: SHA1, 2: SHA256) over a canonical string
of its fields; the certificate named by ``SigningCertURL`` must be one the operator
configured or cached (``ses_certificates``): nothing is fetched to verify.
Sources: https://docs.aws.amazon.com/sns/latest/dg/sns-verify-signature-of-message.html
https://docs.aws.amazon.com/ses/latest/dg/event-publishing-retrieving-sns-contents.html
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Any

import httpx
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from clicksift.events import Event, loads, parse_timestamp
from clicksift.ingest import base, errors, ids, normalize, reading, signing, times
from clicksift.ingest.base import Headers, Secrets

log = logging.getLogger("clicksift.webhooks")

NAME = "amazon_ses"
#: Where SNS signing certificates may come from (and nowhere else).
CERT_URL = re.compile(r"^https://sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?/[A-Za-z0-9._/-]+\.pem$")
NOTIFICATION_FIELDS = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
CONFIRMATION_FIELDS = ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token",
                       "TopicArn", "Type")
#: SNS retries for up to an hour with a custom delivery policy.
TOLERANCE = 3600.0

TYPES = {
    "Send": "sent",
    "Delivery": "delivered",
    "Open": "open",
    "Click": "click",
    "Bounce": "bounce",
    "Complaint": "complaint",
    "Subscription": "unsubscribe",
}
#: Where each SES event type keeps its details (and its time).
DETAIL = {"Send": "send", "Delivery": "delivery", "Open": "open", "Click": "click",
          "Bounce": "bounce", "Complaint": "complaint", "Reject": "reject",
          "Rendering Failure": "failure", "DeliveryDelay": "deliveryDelay",
          "Subscription": "subscription"}


def string_to_sign(envelope: dict[str, Any]) -> bytes:
    names = NOTIFICATION_FIELDS if envelope.get("Type") == "Notification" \
        else CONFIRMATION_FIELDS
    parts = []
    for name in names:
        value = envelope.get(name)
        if value is None:
            if name == "Subject":
                continue
            raise errors.SignatureError(f"the SNS envelope has no {name}")
        parts.append(f"{name}\n{value}\n")
    return "".join(parts).encode("utf-8")


def certificate_file(folder: str, url: str) -> Path:
    """Where the certificate at URL is cached in FOLDER (its last path part)."""
    return Path(folder) / os.path.basename(url)


def _certificate(location: str, url: str) -> x509.Certificate:
    if not CERT_URL.match(url):
        raise errors.SignatureError(f"SigningCertURL {url!r} is not an Amazon SNS address")
    path = Path(location)
    if path.is_dir():
        path = certificate_file(location, url)
    try:
        return x509.load_pem_x509_certificate(path.read_bytes())
    except FileNotFoundError:
        raise errors.SignatureError(
            f"the SNS certificate {os.path.basename(url)} is not in {location}; download "
            f"{url} into that folder (or turn on ses_fetch_certificates)") from None
    except (OSError, ValueError) as exc:
        raise errors.SignatureError(f"cannot read the SNS certificate {path}: {exc}") from None


def envelope_of(body: bytes) -> dict[str, Any] | None:
    """The SNS envelope, or None when the body is a bare SES record (raw delivery)."""
    document = reading.decode_json(body)
    if isinstance(document, dict) and "Type" in document and "TopicArn" in document:
        return document
    return None


def verify(body: bytes, headers: Headers, secrets: Secrets, *, now: float | None = None) -> None:
    location = signing.secret(secrets, "certificates", NAME)
    try:
        envelope = envelope_of(body)
    except errors.PayloadError as exc:
        raise errors.SignatureError(f"cannot read the SNS envelope: {exc}") from None
    if envelope is None:
        raise errors.SignatureError("the body is not an SNS envelope (turn raw message delivery "
                                  "off: raw SES records carry no signature)")
    topics = _topics(secrets)
    if topics and envelope.get("TopicArn") not in topics:
        raise errors.SignatureError(f"topic {envelope.get('TopicArn')!r} is not in ses_topic_arns")
    version = str(envelope.get("SignatureVersion", ""))
    if version not in ("1", "2"):
        raise errors.SignatureError(f"SignatureVersion {version!r} is not 1 or 2")
    try:
        moment = parse_timestamp(envelope.get("Timestamp"))
    except ValueError:
        raise errors.SignatureError("the SNS envelope's Timestamp is not a date-time") from None
    times.check_fresh(str(moment), times.epoch_now() if now is None else now, TOLERANCE)
    certificate = _certificate(location, str(envelope.get("SigningCertURL", "")))
    key = certificate.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise errors.SignatureError("the SNS certificate does not hold an RSA key")
    signature = signing.b64decode(str(envelope.get("Signature", "")), "Signature")
    digest = hashes.SHA1() if version == "1" else hashes.SHA256()  # noqa: S303 (SNS v1)
    try:
        key.verify(signature, string_to_sign(envelope), padding.PKCS1v15(), digest)
    except InvalidSignature:
        raise errors.SignatureError("the SNS signature does not match the message") from None


def subscription_confirmation(body: bytes, secrets: base.Secrets) -> base.Handshake | None:
    """BODY as SNS's subscription confirmation, confirmed when its topic is in
    ses_topic_arns."""
    envelope = envelope_of(body)
    if not envelope or envelope.get("Type") != "SubscriptionConfirmation":
        return None
    topic = str(envelope.get("TopicArn"))
    return base.Handshake(topic, str(envelope.get("SubscribeURL")),
                          topic in _topics(secrets),
                          "add the topic to ses_topic_arns to confirm automatically")


def _topics(secrets: base.Secrets) -> list[str]:
    return [t for t in secrets.get("topic_arns", "").split(",") if t]


def fetch_certificate(body: bytes, secrets: base.Secrets) -> None:
    """Download the SNS certificate the envelope names into the ses_certificates folder,
    once, when ses_fetch_certificates allows it (only from an Amazon SNS address)."""
    folder = secrets.get("certificates", "")
    if secrets.get("fetch_certificates") != "true" or not os.path.isdir(folder):
        return
    try:
        envelope = envelope_of(body)
    except errors.PayloadError:
        return
    url = str((envelope or {}).get("SigningCertURL", ""))
    if not CERT_URL.match(url):
        return
    path = certificate_file(folder, url)
    if path.exists():
        return
    try:
        response = httpx.get(url, timeout=10, follow_redirects=False)
        response.raise_for_status()
    except httpx.HTTPError as exc:
        log.warning("cannot download the SNS certificate %s: %s", url, exc)
        return
    temporary = path.with_suffix(".part")
    temporary.write_bytes(response.content)
    temporary.replace(path)
    log.info("cached the SNS certificate %s", path)


def _one_recipient(addresses: Any) -> str | None:
    if isinstance(addresses, list) and len(addresses) == 1:
        first = addresses[0]
        return first.get("emailAddress") if isinstance(first, dict) else first
    return None


def _canonical(kind: str, detail: dict[str, Any]) -> str | None:
    if kind == "Bounce" and detail.get("bounceType") != "Permanent":
        return "unknown"            # Transient and Undetermined are not bounces
    if kind == "Subscription" and not reading.dig(detail, "newTopicPreferences", "unsubscribeAll"):
        return "unknown"
    return None


def parse_record(record: Any, index: int | None) -> Event:
    kind = record.get("eventType") or record.get("notificationType") \
        if isinstance(record, dict) else None
    if not isinstance(kind, str):
        raise reading.payload_error("is missing", record=index, field="eventType")
    mail = reading.need(record, "mail", index, dict)
    message = ids.text_id(mail.get("messageId"))
    detail = record.get(DETAIL.get(kind, kind.lower())) or {}
    if not isinstance(detail, dict):
        detail = {}
    raw_time = detail.get("timestamp") or mail.get("timestamp")
    ts = times.instant(raw_time, index, f"{DETAIL.get(kind, 'mail')}.timestamp")
    recipient = (_one_recipient(detail.get("recipients"))
                 or _one_recipient(detail.get("bouncedRecipients"))
                 or _one_recipient(detail.get("complainedRecipients"))
                 or _one_recipient(mail.get("destination")))
    tags = reading.obj(mail.get("tags"))
    return normalize.build(
        NAME, kind, record, types=TYPES, index=index, canonical=_canonical(kind, detail),
        event_id=ids.stable_id(NAME, message, kind, raw_time, detail.get("link"),
                                detail.get("ipAddress"), recipient),
        message_id=message, timestamp=ts, recipient=recipient,
        campaign_id=ids.campaign_of(tags.get("campaign_id"), tags.get("campaign")),
        url=detail.get("link"), ip=detail.get("ipAddress"), user_agent=detail.get("userAgent"))


def parse(body: bytes, headers: Headers) -> list[Event]:
    envelope = envelope_of(body)
    if envelope is None:                      # raw message delivery, or an import file
        document = reading.decode_json(body)
        return normalize.readable(_records(reading.as_list(document, "SES events")))
    if envelope.get("Type") != "Notification":
        return []                             # subscription handshakes carry no events
    message = envelope.get("Message")
    if not isinstance(message, str):
        return [normalize.unreadable(NAME, None, envelope, "Message: is missing")]
    try:
        record = loads(message)
    except ValueError:
        # A notification that is not an SES event (plain text, an inbound receipt's
        # text): kept whole, with why.
        return [normalize.unreadable(NAME, None, envelope, "Message: is not a JSON SES event")]
    return _records([record], numbered=False)


def _records(records: list[Any], *, numbered: bool = True) -> list[Event]:
    events: list[Event] = []
    for index, record in enumerate(records):
        with normalize.one_record(NAME, index, record, events):
            events.append(parse_record(record, index if numbered else None))
    return events


SETTINGS = (
    base.esp_setting(
        "ses_certificates",
        "", "Amazon SNS signing certificates: a PEM file, or a folder of cached certificates "
        "named as in their SigningCertURL."),
    base.esp_setting(
        "ses_fetch_certificates",
        False, "Download an SNS signing certificate that is not cached yet from its Amazon "
        "address (sns.REGION.amazonaws.com only) into ses_certificates."),
    base.esp_setting(
        "ses_topic_arns",
        [], "SNS topics accepted (empty: any topic whose signature verifies). A subscription "
        "to one of these topics is confirmed automatically."),
)


GUIDE = base.Guide(
    setup="Create an SNS topic, and in SES a **configuration set** with an **event "
          "destination** publishing Sends, Deliveries, Opens, Clicks, Bounces, Complaints, "
          "Delivery delays and Subscriptions to that topic. Subscribe the URL below to "
          "the topic (protocol HTTPS) with **raw message delivery off**. Send with the "
          "configuration set, and tag messages with `campaign` to group them.",
    signature="SNS signs every envelope with RSA (SignatureVersion 1: SHA1, 2: SHA256) "
              "over its fields. The certificate named by `SigningCertURL` must be in "
              "`ses_certificates` (a PEM file, or a folder of certificates named as in "
              "their URL): download it once from the `sns.REGION.amazonaws.com` address, "
              "or turn on `ses_fetch_certificates` to let the server cache it. Only "
              "`sns.*.amazonaws.com` certificate URLs are accepted. `ses_topic_arns` "
              "limits the topics accepted.",
    quirks=(
        "SNS first posts a `SubscriptionConfirmation`. When its topic is in "
        "`ses_topic_arns` the server confirms it (a GET of `SubscribeURL`); otherwise "
        "it logs the URL to open and answers 200.",
        "SNS posts with `Content-Type: text/plain`.",
        "The event's time is the time in the SES record (`open.timestamp`, "
        "`click.timestamp`, ...), never the envelope's publish time.",
        "A `Bounce` is a bounce only with `bounceType: Permanent`; `DeliveryDelay`, "
        "`Reject` and `Rendering Failure` stay `unknown`. A `Subscription` event is an "
        "unsubscribe when it unsubscribes from all topics.",
        "The message id is SES's `messageId`, which names a send, not a recipient. Opens "
        "and clicks do not say which recipient acted: when the send had one addressee it "
        "is the recipient, otherwise the recipient stays unknown (send one message per "
        "recipient for per-person numbers).",
    ),
    docs=("https://docs.aws.amazon.com/ses/latest/dg/event-publishing-retrieving-sns-"
          "contents.html",
          "https://docs.aws.amazon.com/sns/latest/dg/sns-verify-signature-of-message.html",
          "https://docs.aws.amazon.com/sns/latest/dg/http-subscription-confirmation-"
          "json.html"),
)


ADAPTER = base.Adapter(
    name=NAME, title="Amazon SES", types=TYPES, parse=parse, verify=verify,
    secrets={"certificates": "ses_certificates", "topic_arns": "ses_topic_arns",
             "fetch_certificates": "ses_fetch_certificates"},
    optional=("topic_arns", "fetch_certificates"), handshake=subscription_confirmation,
    fetch=fetch_certificate,
    content_types=("text/plain", "application/json"), carries=("ip", "user_agent"),
    guide=GUIDE, settings=SETTINGS)
