"""The ``porta`` command: serve, demo, and manage users, clients, keys and the database.

One module per command group; this one assembles them under :func:`main`
(the ``porta`` console script, ``idp.cli:main``).
"""

from __future__ import annotations

import os
from typing import Any

import click

from idp.base.settings import describe
from idp.cli.clients import clients
from idp.cli.consents import consents, events
from idp.cli.database import db
from idp.cli.keys import keys
from idp.cli.serving import demo, serve
from idp.cli.users import users


class _PortaGroup(click.Group):
    """Turns the provider's known operator errors into one clear line and exit status 1."""

    def invoke(self, ctx: click.Context) -> Any:
        from idp.keys import KeyDecryptionError
        from idp.storage.db import DatabaseUnavailableError

        try:
            return super().invoke(ctx)
        except (KeyDecryptionError, DatabaseUnavailableError) as exc:
            raise click.ClickException(str(exc)) from exc


@click.group(cls=_PortaGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="porta")
@click.option(
    "--database",
    metavar="URL",
    help="Database URL for this command (sets PORTA_DATABASE_URL), e.g. "
    "sqlite:///porta-demo.sqlite for the demo's.",
)
def main(database: str | None) -> None:
    """Porta: an OpenID Connect provider where the person owns the relationship.

    Settings come from PORTA_* environment variables; `porta config` lists them.
    """
    if database:
        os.environ["PORTA_DATABASE_URL"] = database


@main.command("config")
def config_command() -> None:
    """List every setting with its variable, default and meaning."""
    click.echo(describe())


for command in (db, users, clients, keys, consents, events, serve, demo):
    main.add_command(command)
