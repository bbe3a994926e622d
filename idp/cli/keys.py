"""``porta keys``: the signing keys (list, rotate, retire, revoke)."""

from __future__ import annotations

import click

from idp.cli.runtime import Runtime, pass_runtime


@click.group()
def keys() -> None:
    """Manage signing keys."""


@keys.command("list")
@pass_runtime
def keys_list(runtime: Runtime) -> None:
    """List signing keys: kid, algorithm, state, creation time, signing start."""
    from idp.base.clock import now
    from idp.keys import current_signer, ensure_keys

    with runtime.unit_of_work() as store:
        ensure_keys(store, runtime.settings.secret_key)
        keys = store.list_keys(include_retired=True, include_revoked=True)
    moment = now()
    live = [key for key in keys if key.retired_at is None and key.revoked_at is None]
    signers = {getattr(current_signer(live, alg, moment), "kid", None) for alg in ("ES256", "RS256")}
    for key in keys:
        if key.revoked_at:
            state = "revoked"
        elif key.retired_at:
            state = "retired"
        elif key.kid in signers:
            state = "signing"
        elif key.sign_from > moment:
            state = "published"  # waiting for its turn to sign
        else:
            state = "verifying"
        click.echo(
            f"{key.kid}  {key.alg}  {state}  created {key.created_at.isoformat()}  "
            f"signs from {key.sign_from.isoformat()}"
        )


@keys.command("rotate")
@pass_runtime
def keys_rotate(runtime: Runtime) -> None:
    """Publish new ES256 and RS256 keys now; they sign after PORTA_KEY_PUBLISH_SECONDS, and the
    old ones keep verifying until every token they signed has expired."""
    from idp.keys import rotate_keys

    with runtime.unit_of_work() as store:
        fresh = rotate_keys(
            store, runtime.settings.secret_key, runtime.settings.key_publish_seconds
        )
    for key in fresh:
        click.echo(f"new {key.alg} key {key.kid}: published now, signs from {key.sign_from.isoformat()}")


@keys.command("retire")
@click.argument("kid")
@pass_runtime
def keys_retire(runtime: Runtime, kid: str) -> None:
    """Stop publishing key KID (tokens it signed stop verifying; receipts it signed stay
    verifiable through the retired JWKS). The pump retires superseded keys by itself."""
    try:
        with runtime.unit_of_work() as store:
            if not store.retire_key(kid):
                raise click.ClickException(f"no published key {kid}")
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"retired {kid}")


@keys.command("revoke")
@click.argument("kid")
@pass_runtime
def keys_revoke(runtime: Runtime, kid: str) -> None:
    """Emergency: key KID was compromised. Every token and receipt it signed is refused at once
    on every host; if it was signing, another key signs from now on."""
    from idp.keys import revoke_key

    try:
        with runtime.unit_of_work() as store:
            added = revoke_key(store, runtime.settings.secret_key, kid)
    except LookupError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"revoked {kid}")
    for key in added:
        click.echo(f"new {key.alg} key {key.kid}: signs now")
