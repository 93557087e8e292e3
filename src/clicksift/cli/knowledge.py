"""``clicksift knowledge``: see the knowledge base, update it from vendors' lists."""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table

from clicksift.classify.gateways import load_gateways
from clicksift.classify.knowledge import load_knowledge
from clicksift.classify.knowledge_update import SOURCES, update_knowledge
from clicksift.cli.common import Context, console_err, pass_context, show_table, warn
from clicksift.errors import ConfigError


@click.group("knowledge")
def knowledge() -> None:
    """The user agents and networks the classifier knows (docs/knowledge.md)."""


@knowledge.command("show")
@pass_context
def show(ctx: Context) -> None:
    """List every knowledge-base entry with its source and date."""
    settings = ctx.settings()
    kb = load_knowledge(settings.knowledge_dir or None)
    table = Table("id", "what", "vendor", "certainty", "date", "source",
                  title=f"knowledge base {kb.version}"
                  + (f" from {settings.knowledge_dir}" if settings.knowledge_dir else ""),
                  title_justify="left")
    for entry in kb.raw_agents:
        table.add_row(entry["id"], f"user agent: {entry['role']}", entry.get("vendor") or "",
                      entry["certainty"], entry["date"], entry["source"])
    for entry in kb.raw_networks:
        table.add_row(entry["id"], f"network: {entry['role']} ({len(entry['cidrs'])} blocks)",
                      entry.get("vendor") or "", entry["certainty"], entry["date"],
                      entry["source"])
    for gateway in load_gateways(Path(settings.knowledge_dir) if settings.knowledge_dir
                                 else None).entries:
        table.add_row(gateway.id, f"MX: {gateway.role.replace('_', ' ')}", gateway.vendor,
                      "certain", gateway.date, gateway.source)
    show_table(table)


@knowledge.command("update")
@click.option("--to", "folder", metavar="DIR",
              help="Where to write the updated knowledge base (default: setting "
                   "'knowledge_dir').")
@click.option("--source", "sources", multiple=True, metavar="NAME=URL",
              help=f"Fetch a list from another address ({', '.join(SOURCES)}).")
@pass_context
def update(ctx: Context, folder: str | None, sources: tuple[str, ...]) -> None:
    """Update vendor networks from the vendors' published lists (needs the network)."""
    settings = ctx.settings()
    target = folder or settings.knowledge_dir
    if not target:
        raise ConfigError("say where the updated knowledge base goes: --to DIR, or the "
                          "knowledge_dir setting (then the classifier uses it)")
    urls = {}
    for item in sources:
        name, sep, url = item.partition("=")
        if not sep or name not in SOURCES:
            raise ConfigError(f"--source {item!r}: use NAME=URL with NAME one of "
                              f"{', '.join(SOURCES)}")
        urls[name] = url
    result = update_knowledge(Path(target), urls)
    for entry, count in result.updated.items():
        console_err.print(f"updated {entry}: {count} address blocks")
    for name, why in result.failed.items():
        warn(f"{name} not updated: {why}")
    console_err.print(f"knowledge base written to {result.folder}"
                      + ("" if folder is None or folder == settings.knowledge_dir else
                         f"; set knowledge_dir = \"{result.folder}\" to use it"))
    if result.failed and not result.updated:
        raise SystemExit(1)


COMMANDS = [knowledge]
