"""``porta keys``: the signing keys (list, rotate, retire)."""

from __future__ import annotations

import click

from idp.cli.runtime import Runtime, pass_runtime


@click.group()
def keys() -> None:
    """Manage signing keys."""


@keys.command("list")
@pass_runtime
def keys_list(runtime: Runtime) -> None:
    """List signing keys: kid, algorithm, state, creation time."""
    from idp.keys import ensure_keys

    with runtime.unit_of_work() as store:
        ensure_keys(store, runtime.settings.secret_key)
        keys = store.list_keys(include_retired=True)
    for key in keys:
        state = "retired" if key.retired_at else ("active" if key.active else "verifying")
        click.echo(f"{key.kid}  {key.alg}  {state}  {key.created_at.isoformat()}")
    store.close()


@keys.command("rotate")
@pass_runtime
def keys_rotate(runtime: Runtime) -> None:
    """Add new active ES256 and RS256 keys; the old ones keep verifying until retired."""
    from idp.keys import rotate_keys

    with runtime.unit_of_work() as store:
        fresh = rotate_keys(store, runtime.settings.secret_key)
    for key in fresh:
        click.echo(f"new active {key.alg} key {key.kid}")


@keys.command("retire")
@click.argument("kid")
@pass_runtime
def keys_retire(runtime: Runtime, kid: str) -> None:
    """Stop publishing key KID (tokens it signed stop verifying)."""
    try:
        with runtime.unit_of_work() as store:
            if not store.retire_key(kid):
                raise click.ClickException(f"no published key {kid}")
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"retired {kid}")
