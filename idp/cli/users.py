"""``porta users``: people's accounts (create, import a portable profile, list)."""

from __future__ import annotations

import sys

import click

from idp.cli.runtime import Runtime, pass_runtime


@click.group()
def users() -> None:
    """Manage people's accounts."""


@users.command("create")
@click.argument("email")
@click.option("--name", help="The person's full name (the `name` claim).")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@pass_runtime
def users_create(runtime: Runtime, email: str, name: str | None, password_stdin: bool) -> None:
    """Create a person who logs in with EMAIL."""
    from idp.profile.accounts import AccountError, create_user

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        with runtime.unit_of_work() as store:
            user = create_user(store, email, password, name)
    except AccountError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"created {user.email} (id {user.id})")


@users.command("import")
@click.argument("file", type=click.File("r"))
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the person's new password for this provider from standard input.",
)
@pass_runtime
def users_import(runtime: Runtime, file, password_stdin: bool) -> None:
    """Create a person from a signed portable-profile export FILE (consent_spec §12).

    The signature is checked against the exporting provider's keys (its discovery
    document's jwks_uri); the imported consent history grants nothing here.
    Nothing is created unless every check passes.
    """
    from idp.portability.transfer import ImportRefusedError, import_export

    token = file.read()
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("New password", hide_input=True, confirmation_prompt=True)
    try:
        with runtime.unit_of_work() as store:
            user = import_export(runtime.context(store), token, password=password)
    except ImportRefusedError as exc:
        raise click.ClickException(f"export refused, nothing imported: {exc}") from exc
    click.echo(f"imported {user.email} (id {user.id})")


@users.command("list")
@pass_runtime
def users_list(runtime: Runtime) -> None:
    """List people."""
    store = runtime.store()
    for user in store.list_users():
        click.echo(f"{user.id}  {user.email}  {user.profile.get('name', '')}")
    store.close()
