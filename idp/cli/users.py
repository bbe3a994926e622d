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
    """Create a person from a portable-profile export FILE (consent_spec §12).

    The operator vouches for the person here. The export is checked as SPEC.md §12.3
    says (signature against the exporting provider's keys, expiry, replay, ledger and
    receipts); its values arrive self-asserted, the email unverified, and the imported
    consent history grants nothing. An encrypted export asks for its passphrase (with
    --password-stdin, the line after the password). Nothing is created unless every
    check passes.
    """
    from idp.portability import imports, opening
    from idp.portability.common import ImportRefusedError

    token = file.read().strip()
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("New password", hide_input=True, confirmation_prompt=True)
    passphrase = None
    if token.count(".") == 4:  # a JWE: encrypted under the person's passphrase
        if password_stdin:
            passphrase = sys.stdin.readline().rstrip("\r\n")
        else:
            passphrase = click.prompt("Passphrase of the export", hide_input=True)
    try:
        with runtime.unit_of_work() as store:
            ctx = runtime.context(store)

            def fetch(issuer: str) -> dict:
                return opening.issuer_jwks(ctx.fetch_json, issuer)

            opened = opening.open_export(token, fetch, passphrase=passphrase)
            user = imports.import_new_account(ctx, opened, fetch, password=password)
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
