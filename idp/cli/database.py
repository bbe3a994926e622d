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


@db.command("cleanup")
@click.option(
    "--retention",
    type=int,
    default=None,
    help="Keep finished rows this many seconds (default: PORTA_CLEANUP_RETENTION_SECONDS).",
)
@pass_runtime
def db_cleanup(runtime: Runtime, retention: int | None) -> None:
    """Delete expired codes, tokens, interactions, assertions, pending imports and sent mail,
    in batches until none is left (for cron; each server also does one batch per pump round).
    The consent ledger is never deleted."""
    settings = runtime.settings
    keep = settings.cleanup_retention_seconds if retention is None else retention
    if keep < 0:
        raise click.BadParameter("must be 0 or more", param_hint="--retention")
    totals: dict[str, int] = {}
    store = runtime.store()
    try:
        while True:
            counts = store.purge_batch(keep, settings.cleanup_batch_size)
            for table, count in counts.items():
                totals[table] = totals.get(table, 0) + count
            if max(counts.values()) < settings.cleanup_batch_size:
                break
    finally:
        store.close()
    for table, count in totals.items():
        click.echo(f"{table}: {count} deleted")
