"""The demo: a prepared campaign on the embedded store, served by the real tracking server.

``clicksift demo`` recreates a folder with a SQLite store, prepares the bundled newsletter
for a small audience, writes each prepared message as an HTML file, and runs the tracking
server, which also shows the messages at ``/demo/`` so a person can open them and click.
"""

from __future__ import annotations

import base64
import dataclasses
import shutil
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from clicksift.events import event_from_dict
from clicksift.links import TrackingUrls, load_signer
from clicksift.prepare import PreparedMessage, PrepareOptions, Preparer
from clicksift.settings import Settings
from clicksift.simulate import SimulationConfig
from clicksift.simulate.driver import ServerCampaign, prepare_campaign
from clicksift.storage import open_store

CAMPAIGN = "summer-arrivals"
AUDIENCE = (
    "ann.lee@gmail.example", "bob.stone@contoso-bank.example", "chen.wu@icloud.example",
    "dara.okafor@fabrikam-health.example", "eli.moreau@outlook.example",
    "fatima.khan@yahoo.example",
)
MESSAGES_FOLDER = "messages"


@dataclass(frozen=True)
class DemoCampaign:
    folder: Path
    settings: Settings
    messages: tuple[PreparedMessage, ...]


SIMULATED_CAMPAIGN = "spring-sale"
ESP_CAMPAIGN = "autumn-digest"
ESP_KEY_FILE = "sendgrid-demo-key.pem"


def _demo_options(settings: Settings) -> PrepareOptions:
    """The demo sends its mail itself, through no ESP: its template's unsubscribe merge tag
    becomes clicksift's unsubscribe link."""
    return dataclasses.replace(PrepareOptions.from_settings(settings),
                               replace_unsubscribe_merge_tags=True)


def demo_settings(folder: Path, base: Settings) -> Settings:
    """BASE with the demo's store, URL and mailbox. The demo's traffic comes from this
    machine with its simulated sender in X-Forwarded-For and its time in a header, so the
    server trusts the loopback address as a proxy and accepts simulated time."""
    from dataclasses import replace

    return replace(base, database=str(folder / "demo.db"),
                   esp={**base.esp, "sendgrid_public_key": base.esp.get("sendgrid_public_key")
                        or _sendgrid_demo_key(folder)},
                   topics=base.topics or ["news:Newsletter", "offers:Special offers"],
                   sender_name=base.sender_name or "Northwind Outfitters (clicksift demo)",
                   hook_settle_seconds=5.0, hook_poll_seconds=1.0,
                   base_url=f"http://{base.host}:{base.port}",
                   unsubscribe_mailto=base.unsubscribe_mailto or "unsubscribe@example.com",
                   demo_folder=str(folder), trusted_proxies=["127.0.0.1/32", "::1/128"],
                   accept_simulated_time=True)


def _sendgrid_demo_key(folder: Path) -> str:
    """The public half of the demo's SendGrid signing key (the private half is kept in
    FOLDER to sign the demo's webhooks, as SendGrid would)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    path = folder / ESP_KEY_FILE
    if path.exists():
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    else:
        key = ec.generate_private_key(ec.SECP256R1())
        folder.mkdir(parents=True, exist_ok=True)
        path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    der = key.public_key().public_bytes(serialization.Encoding.DER,
                                        serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(der).decode()


def esp_webhooks(folder: Path, recipients: int, seed: int, days_ago: float = 2.0
                 ) -> list[tuple[bytes, dict[str, str]]]:
    """ESP_CAMPAIGN as SendGrid's Event Webhook would post it: simulated traffic rendered in
    SendGrid's format, in signed batches (the demo's stand-in for a sender on an ESP)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    from clicksift.ingest.samples import sendgrid
    from clicksift.simulate import events_and_truth, simulate

    key = serialization.load_pem_private_key((folder / ESP_KEY_FILE).read_bytes(),
                                             password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    config = SimulationConfig(recipients=recipients, seed=seed, mix="mixed",
                              start=time.time() - days_ago * 86400)
    raw, _ = events_and_truth(simulate(config))
    events = [event_from_dict(dict(e, campaign_id=ESP_CAMPAIGN) if "campaign_id" in e else e)
              for e in raw if e["type"] in ("delivered", "open", "click")]
    now = int(time.time())
    return [(body, {"content-type": "application/json", **sendgrid.sign(body, key, now)})
            for body in sendgrid.render(events)]


def newsletter_html() -> str:
    return (resources.files("clicksift.data.demo") / "newsletter.html").read_text("utf-8")


def build_demo(folder: Path, base: Settings) -> DemoCampaign:
    """Recreate FOLDER with a store and the demo campaign prepared for every recipient."""
    if folder.exists():
        shutil.rmtree(folder)
    (folder / MESSAGES_FOLDER).mkdir(parents=True)
    settings = demo_settings(folder, base)
    store = open_store(settings)
    try:
        preparer = Preparer(TrackingUrls(settings.base_url,
                                         load_signer(settings.signing_keys, store)),
                            _demo_options(settings))
        html = newsletter_html()
        messages = tuple(preparer.prepare(html, recipient=address, campaign_id=CAMPAIGN)
                         for address in AUDIENCE)
        with store.transaction():
            store.add_events([event_from_dict(m.delivered_event()) for m in messages])
    finally:
        store.close()
    for message in messages:
        (folder / MESSAGES_FOLDER / f"{message.message_id}.html").write_text(
            message.html, encoding="utf-8")
    return DemoCampaign(folder, settings, messages)


def simulated_campaign(settings: Settings, recipients: int, seed: int,
                       days_ago: float = 3.0) -> ServerCampaign:
    """Prepare SIMULATED_CAMPAIGN for a simulated audience as if sent DAYS_AGO, and record
    its messages; the requests that followed are in the result, ready to replay."""
    store = open_store(settings)
    try:
        preparer = Preparer(TrackingUrls(settings.base_url,
                                         load_signer(settings.signing_keys, store)),
                            _demo_options(settings))
        config = SimulationConfig(recipients=recipients, seed=seed, mix="mixed",
                                  start=time.time() - days_ago * 86400)
        return prepare_campaign(store, preparer, newsletter_html(), SIMULATED_CAMPAIGN, config)
    finally:
        store.close()
