"""``clicksift keys`` (API keys for programs) and ``clicksift users`` (dashboard logins)."""

from __future__ import annotations

import sys

import click
from rich.table import Table

from clicksift import access
from clicksift.cli.common import (
    Context,
    console_err,
    db_option,
    pass_context,
    show_table,
    when,
)


@click.group()
def keys() -> None:
    """API keys for the JSON API (/api/v1) and the dashboard login."""


@keys.command("create")
@click.argument("name")
@db_option
@pass_context
def keys_create(ctx: Context, name: str, database: str | None) -> None:
    """Make a key called NAME and print it (it is shown once; the store keeps a hash)."""
    with ctx.store(ctx.settings(database=database)) as store:
        made = access.create_key(store, name)
    console_err.print(f"API key '{name}' (id {made.key.id}); keep it now, it is not shown "
                      "again. Send it as 'Authorization: Bearer KEY'.")
    print(made.secret)


@keys.command("list")
@db_option
@pass_context
def keys_list(ctx: Context, database: str | None) -> None:
    """List keys (never their secrets)."""
    with ctx.store(ctx.settings(database=database)) as store:
        found = access.list_keys(store)
    table = Table("id", "name", "created", "last used", "state")
    for key in found:
        table.add_row(key.id, key.name, when(key.created_at), when(key.last_used_at),
                      "revoked " + when(key.revoked_at) if key.revoked_at else "active")
    show_table(table)


@keys.command("revoke")
@click.argument("key_id", metavar="ID")
@db_option
@pass_context
def keys_revoke(ctx: Context, key_id: str, database: str | None) -> None:
    """Stop key ID from working (at once, on every server of the store)."""
    with ctx.store(ctx.settings(database=database)) as store:
        access.revoke_key(store, key_id)
    console_err.print(f"key {key_id} revoked")


@click.group()
def users() -> None:
    """People who log in to the dashboard with a password."""


@users.command("create")
@click.argument("name")
@db_option
@click.option("--password-stdin", is_flag=True,
              help="Read the password from standard input (for scripts) instead of asking.")
@pass_context
def users_create(ctx: Context, name: str, database: str | None, password_stdin: bool) -> None:
    """Add user NAME (or set a new password for them)."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    with ctx.store(ctx.settings(database=database)) as store:
        access.set_password(store, name, password)
    console_err.print(f"user '{name}' can log in to the dashboard at /dashboard/")


@users.command("list")
@db_option
@pass_context
def users_list(ctx: Context, database: str | None) -> None:
    with ctx.store(ctx.settings(database=database)) as store:
        found = access.list_users(store)
    table = Table("user", "created")
    for name, created in found:
        table.add_row(name, when(created))
    show_table(table)


@users.command("delete")
@click.argument("name")
@db_option
@pass_context
def users_delete(ctx: Context, name: str, database: str | None) -> None:
    with ctx.store(ctx.settings(database=database)) as store:
        access.delete_user(store, name)
    console_err.print(f"user '{name}' deleted")


COMMANDS = [keys, users]
