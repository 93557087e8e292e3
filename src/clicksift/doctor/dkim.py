"""DKIM (RFC 6376): published keys (type, length) and, for a message, its signatures (dkimpy
verifies them) and whether they cover the RFC 8058 unsubscribe headers."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from email.message import Message
from typing import Any

import dkim
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import load_der_public_key

from clicksift.doctor.findings import Finding, fail, ok, warn
from clicksift.lookup.resolver import LookupFailed, Resolver

CHECK = "dkim"
#: Selectors tried when none is given: the defaults of widely used ESPs and mail hosts
#: (Google Workspace 'google', Microsoft 365 'selector1/2', Mailchimp/Mandrill 'k1..k3' and
#: 'mandrill', SendGrid 's1/s2', Mailgun 'mx/pic/krs', Postmark 'pm', Amazon SES (CNAMEs
#: of random names, not guessable), cPanel 'default', and generic names).
COMMON_SELECTORS = ("default", "google", "selector1", "selector2", "k1", "k2", "k3",
                    "s1", "s2", "mandrill", "mx", "krs", "pic", "pm", "dkim", "mail",
                    "mailjet", "smtp", "sig1", "cm", "scph0122")
_WHY = ("Mail that DKIM-signs with your own domain (aligned with From) is what DMARC, Gmail "
        "and Yahoo expect of bulk senders; unsigned or badly signed mail is filtered harder, "
        "and gateways scan suspicious mail more aggressively.")


def _tags(text: str) -> dict[str, str]:
    tags = {}
    for part in text.split(";"):
        name, sep, value = part.partition("=")
        if sep:
            tags[name.strip().lower()] = "".join(value.split())
    return tags


def key_findings(selector: str, domain: str, text: str, given: bool) -> list[Finding]:
    """What the key record TEXT at SELECTOR._domainkey.DOMAIN says."""
    name = f"{selector}._domainkey.{domain}"
    tags = _tags(text)
    if tags.get("v", "DKIM1") != "DKIM1":
        return [fail(CHECK, f"{name}: v={tags['v']} is not DKIM1", "Publish 'v=DKIM1; k=rsa; "
                     "p=<key>' as your ESP gives it.", _WHY)]
    key = tags.get("p")
    if key is None:
        return [fail(CHECK, f"{name} has no p= tag (no key)",
                     "Publish the public key your ESP gives you.", _WHY)]
    if not key:
        finding = fail if given else warn
        return [finding(CHECK, f"{name}: the key is revoked (empty p=)",
                        "Sign with a selector that has a key, or publish this one's.", _WHY)]
    kind = tags.get("k", "rsa").lower()
    try:
        der = base64.b64decode(key, validate=True)
    except (binascii.Error, ValueError):
        return [fail(CHECK, f"{name}: p= is not base64", "Copy the key again exactly.", _WHY)]
    if kind == "ed25519":
        return [ok(CHECK, f"{name}: Ed25519 key"),
                warn(CHECK, f"{name}: some receivers do not verify Ed25519 yet",
                     "Sign with an RSA-2048 key too (a second selector).", _WHY)]
    if kind != "rsa":
        return [fail(CHECK, f"{name}: unknown key type k={kind}", "Use k=rsa.", _WHY)]
    try:
        public = load_der_public_key(der)
    except ValueError:
        return [fail(CHECK, f"{name}: p= is not an RSA public key", "Copy the key again "
                     "exactly, without quotes or spaces inside.", _WHY)]
    if not isinstance(public, rsa.RSAPublicKey):
        return [fail(CHECK, f"{name}: k=rsa but the key is not RSA", "Publish the RSA key.",
                     _WHY)]
    bits = public.key_size
    if bits < 1024:
        return [fail(CHECK, f"{name}: RSA key of {bits} bits; receivers ignore keys under "
                     "1024 bits (RFC 8301)", "Publish a 2048-bit key.", _WHY)]
    if bits < 2048:
        return [warn(CHECK, f"{name}: RSA key of {bits} bits", "Rotate to a 2048-bit key "
                     "(ask your ESP; most rotate on request).", _WHY)]
    return [ok(CHECK, f"{name}: RSA key of {bits} bits")]


def check_keys(domain: str, selectors: Sequence[str], resolver: Resolver) -> list[Finding]:
    given = bool(selectors)
    findings: list[Finding] = []
    for selector in selectors or COMMON_SELECTORS:
        name = f"{selector}._domainkey.{domain}"
        try:
            records = [t for t in resolver.txt(name) if "p=" in t or "v=DKIM1" in t]
        except LookupFailed as exc:
            findings.append(fail(CHECK, f"{name} could not be looked up: {exc}",
                                 "Make sure the name servers answer.", _WHY))
            continue
        if not records:
            if given:
                findings.append(fail(CHECK, f"no DKIM key at {name}",
                                     f"Publish the TXT (or CNAME) record your ESP gives for "
                                     f"selector '{selector}'.", _WHY))
            continue
        findings.extend(key_findings(selector, domain, records[0], given))
    if not findings:
        findings.append(warn(CHECK, f"no DKIM key at the common selectors of {domain}",
                             "Run again with --dkim-selector NAME (the s= of your mail's "
                             "DKIM-Signature), or set up DKIM with your ESP.", _WHY))
    return findings


def check_message(raw: bytes, message: Message, domain: str, resolver: Resolver
                  ) -> list[Finding]:
    """The message's DKIM signatures: verified, aligned with DOMAIN, covering RFC 8058."""
    signatures = message.get_all("DKIM-Signature") or []
    if not signatures:
        return [fail(CHECK, "the message carries no DKIM signature",
                     "Have your ESP sign with your domain (a branded DKIM set-up).", _WHY)]

    def txt(name: bytes | str, timeout: float = 5) -> bytes | None:
        text = name.decode() if isinstance(name, bytes) else name
        records = resolver.txt(text.rstrip("."))
        return records[0].encode() if records else None

    verifier: Any = dkim.DKIM(raw)
    findings = []
    wants = [h for h in ("list-unsubscribe", "list-unsubscribe-post") if message.get(h)]
    for index, header in enumerate(signatures):
        tags = _tags(str(header))
        signer = tags.get("d", "?").lower()
        try:
            valid = bool(verifier.verify(idx=index, dnsfunc=txt))
        except (dkim.DKIMException, LookupFailed) as exc:
            valid, reason = False, str(exc)
        else:
            reason = "the signature does not match the message"
        if not valid:
            findings.append(fail(CHECK, f"the DKIM signature of d={signer} s="
                                 f"{tags.get('s', '?')} does not verify: {reason}",
                                 "Check that the published key is the one signing, and that "
                                 "nothing rewrites the message after signing.", _WHY))
            continue
        signed = {h.strip().lower() for h in tags.get("h", "").split(":")}
        missing = [h for h in wants if h not in signed]
        if missing:
            findings.append(fail(CHECK, f"the DKIM signature of d={signer} does not cover "
                                 f"{', '.join(missing)} (RFC 8058 section 4 requires it)",
                                 "Sign List-Unsubscribe and List-Unsubscribe-Post (your ESP's "
                                 "one-click unsubscribe option does).", _WHY))
        else:
            findings.append(ok(CHECK, f"the DKIM signature of d={signer} verifies"
                                      + (" and covers the unsubscribe headers" if wants else "")))
    return findings


def signing_domains(message: Message) -> list[str]:
    return [_tags(str(h)).get("d", "").lower() for h in message.get_all("DKIM-Signature") or []]
