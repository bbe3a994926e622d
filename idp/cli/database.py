"""``porta db``: the database schema (Alembic migrations)."""

from __future__ import annotations

import click

from idp.cli.runtime import Runtime, pass_runtime


@click.group()
def db() -> None:
    """Database schema management (Alembic)."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True, help="Target revision.")
@pass_runtime
def db_upgrade(runtime: Runtime, revision: str) -> None:
    """Apply database migrations."""
    from idp.storage.db import current_revision, upgrade

    upgrade(runtime.engine, revision)
    click.echo(f"database at revision {current_revision(runtime.engine)}")
