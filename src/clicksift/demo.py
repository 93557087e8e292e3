"""The demo: a prepared campaign on the embedded store, served by the real tracking server.

``clicksift demo`` recreates a folder with a SQLite store, prepares the bundled newsletter
for a small audience, writes each prepared message as an HTML file, and runs the tracking
server, which also shows the messages at ``/demo/`` so a person can open them and click.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from clicksift.events import event_from_dict
from clicksift.links import TrackingUrls, load_signer
from clicksift.prepare import PreparedMessage, PrepareOptions, Preparer
from clicksift.settings import Settings
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


def demo_settings(folder: Path, base: Settings) -> Settings:
    """BASE with the demo's store, URL and mailbox."""
    from dataclasses import replace

    return replace(base, database=str(folder / "demo.db"),
                   base_url=f"http://{base.host}:{base.port}",
                   unsubscribe_mailto=base.unsubscribe_mailto or "unsubscribe@example.com",
                   demo_folder=str(folder))


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
                            PrepareOptions.from_settings(settings))
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
