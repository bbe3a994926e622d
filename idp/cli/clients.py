"""``porta clients``: relying parties registered by the operator (RFC 7591 metadata)."""

from __future__ import annotations

import json
from typing import Any

import click

from idp.cli.runtime import Runtime, pass_runtime


@click.group()
def clients() -> None:
    """Manage relying parties (clients)."""


@clients.command("create")
@click.option("--name", required=True, help="Client name shown to people (client_name).")
@click.option("--redirect-uri", "redirect_uris", multiple=True, help="A redirect URI; repeatable.")
@click.option("--public", is_flag=True, help="A public client (no secret; PKCE required).")
@click.option(
    "--grant-type",
    "grant_types",
    multiple=True,
    help="A grant type; repeatable. Default: authorization_code and refresh_token.",
)
@click.option(
    "--token-endpoint-auth-method",
    type=click.Choice(["client_secret_basic", "client_secret_post", "private_key_jwt", "none"]),
    help="How the client authenticates at the token endpoint.",
)
@click.option(
    "--post-logout-redirect-uri",
    "post_logout",
    multiple=True,
    help="A post-logout redirect URI; repeatable.",
)
@click.option(
    "--jwks-file", type=click.File("r"), help="The client's public JWK Set (for private_key_jwt)."
)
@click.option(
    "--native", is_flag=True, help="A native app (RFC 8252): loopback redirect ports may vary."
)
@click.option(
    "--subject-type",
    type=click.Choice(["pairwise", "public"]),
    help="Subject identifier type (OIDC Core §8).",
)
@click.option(
    "--id-token-alg", type=click.Choice(["ES256", "RS256"]), help="id_token_signed_response_alg."
)
@click.option("--scope", help="Scopes the client may ask for with client_credentials.")
@click.option("--client-id", help="Use this client_id instead of a random one.")
@click.option("--consent-event-endpoint", help="Where consent-event SETs are pushed (RFC 8935).")
@click.option(
    "--sector-identifier-uri", help="JSON list of the redirect URIs of one sector (OIDC Core §8.1)."
)
@click.option("--backchannel-logout-uri", help="Where back-channel logout tokens are sent.")
@click.option(
    "--consent-file",
    type=click.File("r"),
    help="JSON: the RP's consent terms per claim (purposes, retention…).",
)
@click.option("--json", "as_json", is_flag=True, help='Print {"client_id": …, "client_secret": …}.')
@pass_runtime
def clients_create(
    runtime: Runtime,
    name: str,
    redirect_uris: tuple[str, ...],
    public: bool,
    grant_types: tuple[str, ...],
    token_endpoint_auth_method: str | None,
    post_logout: tuple[str, ...],
    jwks_file,
    native: bool,
    subject_type: str | None,
    id_token_alg: str | None,
    scope: str | None,
    client_id: str | None,
    consent_event_endpoint: str | None,
    backchannel_logout_uri: str | None,
    consent_file,
    sector_identifier_uri: str | None,
    as_json: bool,
) -> None:
    """Register a client and print its credentials."""
    result = register_client(
        runtime,
        name=name,
        redirect_uris=redirect_uris,
        public=public,
        grant_types=grant_types,
        auth_method=token_endpoint_auth_method,
        post_logout=post_logout,
        jwks=json.load(jwks_file) if jwks_file else None,
        native=native,
        subject_type=subject_type,
        id_token_alg=id_token_alg,
        scope=scope,
        client_id=client_id,
        sector_identifier_uri=sector_identifier_uri,
        event_endpoint=consent_event_endpoint,
        backchannel_logout_uri=backchannel_logout_uri,
        consent=json.load(consent_file) if consent_file else None,
    )
    if as_json:
        click.echo(json.dumps(result))
    else:
        for key, value in result.items():
            click.echo(f"{key}: {value}")


def register_client(
    runtime: Runtime,
    *,
    name: str,
    redirect_uris,
    public: bool,
    grant_types,
    auth_method: str | None,
    post_logout=(),
    jwks=None,
    native: bool = False,
    subject_type: str | None = None,
    id_token_alg: str | None = None,
    scope: str | None = None,
    client_id: str | None = None,
    secret: str | None = None,
    event_endpoint: str | None = None,
    backchannel_logout_uri: str | None = None,
    consent: dict | None = None,
    sector_identifier_uri: str | None = None,
) -> dict[str, str]:
    """Register a client from command-line options; returns its client_id (and secret)."""
    from idp.base.errors import OAuthError
    from idp.protocol.clients import create_client
    from idp.protocol.registration import prepare_metadata

    method = auth_method or ("none" if public else "client_secret_basic")
    if public and method != "none":
        raise click.ClickException("--public clients use token_endpoint_auth_method none")
    raw: dict[str, Any] = {
        "client_name": name,
        "grant_types": list(grant_types) or ["authorization_code", "refresh_token"],
        "token_endpoint_auth_method": method,
        "application_type": "native" if native else "web",
    }
    # Client metadata (RFC 7591 §2) from the options that were given; absent ones stay out.
    optional = {
        "redirect_uris": list(redirect_uris),
        "post_logout_redirect_uris": list(post_logout),
        "jwks": jwks,
        "subject_type": subject_type,
        "id_token_signed_response_alg": id_token_alg,
        "scope": scope,
        "consent_event_endpoint": event_endpoint,
        "backchannel_logout_uri": backchannel_logout_uri,
        "consent": consent,
        "sector_identifier_uri": sector_identifier_uri,
    }
    raw.update({member: value for member, value in optional.items() if value})
    try:
        with runtime.unit_of_work() as store:
            ctx = runtime.context(store)
            metadata = prepare_metadata(ctx, raw)
            if client_id and store.get_client(client_id) is not None:
                raise click.ClickException(f"client {client_id} already exists")
            client, generated_secret, _ = create_client(
                ctx, metadata, client_id=client_id, secret=secret
            )
    except OAuthError as exc:
        raise click.ClickException(f"{exc.error}: {exc.description}") from exc
    result = {"client_id": client.client_id}
    if generated_secret:
        result["client_secret"] = generated_secret
    return result


@clients.command("list")
@pass_runtime
def clients_list(runtime: Runtime) -> None:
    """List clients."""
    store = runtime.store()
    for client in store.list_clients():
        meta = client.metadata_
        click.echo(
            f"{client.client_id}  {meta.get('client_name', '')}  {meta.get('token_endpoint_auth_method')}  "
            f"{' '.join(meta.get('redirect_uris', []))}"
        )
    store.close()
