"""The ``porta`` command: serve, demo, and manage users, clients, keys and the database."""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import click

from idp.base.settings import Settings, describe, load_settings
from idp.profile.catalogue import load_catalogue

DEMO_EMAIL = "demo@example.org"
DEMO_PASSWORD = "demo-password"
DEMO_CLIENT_ID = "demo-shop"
DEMO_CLIENT_SECRET = "demo-shop-secret-change-me"
DEMO_CLI_CLIENT_ID = "demo-cli"


class _Runtime:
    """Configuration and storage opened lazily for the CLI commands."""

    def __init__(self) -> None:
        self._settings: Settings | None = None
        self._catalogue = None
        self._engine = None
        self._sessions = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            try:
                settings = load_settings()
                # A bad PORTA_CLAIMS_CATALOGUE stops the command here, naming the problem,
                # and every command's Context carries the operator's catalogue.
                self._catalogue = load_catalogue(settings.claims_catalogue)
            except ValueError as exc:
                raise click.ClickException(str(exc)) from exc
            self._settings = settings
        return self._settings

    @property
    def engine(self):
        if self._engine is None:
            from idp.storage.db import make_engine

            self._engine = make_engine(self.settings.database_url)
        return self._engine

    def store(self, *, upgrade_sqlite: bool = True):
        from idp.storage import Store
        from idp.storage.db import is_up_to_date, make_sessionmaker, upgrade

        if not is_up_to_date(self.engine):
            if upgrade_sqlite and self.engine.dialect.name == "sqlite":
                upgrade(self.engine)
            else:
                raise click.ClickException(
                    "the database schema is not up to date: run `porta db upgrade`"
                )
        if self._sessions is None:
            self._sessions = make_sessionmaker(self.engine)
        return Store(self._sessions())

    def context(self, store):
        from idp.base.context import Context
        from idp.base.outbound import json_fetcher
        from idp.keys import KeyRing

        keys = KeyRing(lambda: self.store(), self.settings.secret_key, 0)
        return Context(
            settings=self.settings,
            store=store,
            keys=keys,
            fetch_json=json_fetcher(self.settings),
            catalogue=self._catalogue,
        )


pass_runtime = click.make_pass_decorator(_Runtime, ensure=True)


class _PortaGroup(click.Group):
    """Turns the provider's known operator errors into one clear line and exit status 1."""

    def invoke(self, ctx: click.Context) -> Any:
        from idp.keys import KeyDecryptionError

        try:
            return super().invoke(ctx)
        except KeyDecryptionError as exc:
            raise click.ClickException(str(exc)) from exc


@click.group(cls=_PortaGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="porta")
def main() -> None:
    """Porta: an OpenID Connect provider where the person owns the relationship.

    Settings come from PORTA_* environment variables; `porta config` lists them.
    """


@main.command("config")
def config_command() -> None:
    """List every setting with its variable, default and meaning."""
    click.echo(describe())


# -- database ---------------------------------------------------------------------------


@main.group()
def db() -> None:
    """Database schema management (Alembic)."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True, help="Target revision.")
@pass_runtime
def db_upgrade(runtime: _Runtime, revision: str) -> None:
    """Apply database migrations."""
    from idp.storage.db import current_revision, upgrade

    upgrade(runtime.engine, revision)
    click.echo(f"database at revision {current_revision(runtime.engine)}")


# -- users ------------------------------------------------------------------------------


@main.group()
def users() -> None:
    """Manage people's accounts."""


@users.command("create")
@click.argument("email")
@click.option("--name", help="The person's full name (the `name` claim).")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@pass_runtime
def users_create(runtime: _Runtime, email: str, name: str | None, password_stdin: bool) -> None:
    """Create a person who logs in with EMAIL."""
    from idp.profile.accounts import AccountError, create_user

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    store = runtime.store()
    try:
        user = create_user(store, email, password, name)
        store.commit()
    except AccountError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        store.close()
    click.echo(f"created {user.email} (id {user.id})")


@users.command("import")
@click.argument("file", type=click.File("r"))
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the person's new password for this provider from standard input.",
)
@pass_runtime
def users_import(runtime: _Runtime, file, password_stdin: bool) -> None:
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
    store = runtime.store()
    try:
        user = import_export(runtime.context(store), token, password=password)
        store.commit()
    except ImportRefusedError as exc:
        raise click.ClickException(f"export refused, nothing imported: {exc}") from exc
    finally:
        store.close()
    click.echo(f"imported {user.email} (id {user.id})")


@users.command("list")
@pass_runtime
def users_list(runtime: _Runtime) -> None:
    """List people."""
    store = runtime.store()
    for user in store.list_users():
        click.echo(f"{user.id}  {user.email}  {user.profile.get('name', '')}")
    store.close()


# -- clients ----------------------------------------------------------------------------


@main.group()
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
    runtime: _Runtime,
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
    result = _create_client(
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


def _create_client(
    runtime: _Runtime,
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
    if redirect_uris:
        raw["redirect_uris"] = list(redirect_uris)
    if post_logout:
        raw["post_logout_redirect_uris"] = list(post_logout)
    if jwks:
        raw["jwks"] = jwks
    if subject_type:
        raw["subject_type"] = subject_type
    if id_token_alg:
        raw["id_token_signed_response_alg"] = id_token_alg
    if scope:
        raw["scope"] = scope
    if event_endpoint:
        raw["consent_event_endpoint"] = event_endpoint
    if backchannel_logout_uri:
        raw["backchannel_logout_uri"] = backchannel_logout_uri
    if consent:
        raw["consent"] = consent
    if sector_identifier_uri:
        raw["sector_identifier_uri"] = sector_identifier_uri
    store = runtime.store()
    try:
        ctx = runtime.context(store)
        metadata = prepare_metadata(ctx, raw)
        if client_id and store.get_client(client_id) is not None:
            raise click.ClickException(f"client {client_id} already exists")
        client, generated_secret, _ = create_client(
            ctx, metadata, client_id=client_id, secret=secret
        )
        store.commit()
    except OAuthError as exc:
        raise click.ClickException(f"{exc.error}: {exc.description}") from exc
    finally:
        store.close()
    result = {"client_id": client.client_id}
    if generated_secret:
        result["client_secret"] = generated_secret
    return result


@clients.command("list")
@pass_runtime
def clients_list(runtime: _Runtime) -> None:
    """List clients."""
    store = runtime.store()
    for client in store.list_clients():
        meta = client.metadata_
        click.echo(
            f"{client.client_id}  {meta.get('client_name', '')}  {meta.get('token_endpoint_auth_method')}  "
            f"{' '.join(meta.get('redirect_uris', []))}"
        )
    store.close()


# -- keys -------------------------------------------------------------------------------


@main.group()
def keys() -> None:
    """Manage signing keys."""


@keys.command("list")
@pass_runtime
def keys_list(runtime: _Runtime) -> None:
    """List signing keys: kid, algorithm, state, creation time."""
    from idp.keys import ensure_keys

    store = runtime.store()
    ensure_keys(store, runtime.settings.secret_key)
    store.commit()
    for key in store.list_keys(include_retired=True):
        state = "retired" if key.retired_at else ("active" if key.active else "verifying")
        click.echo(f"{key.kid}  {key.alg}  {state}  {key.created_at.isoformat()}")
    store.close()


@keys.command("rotate")
@pass_runtime
def keys_rotate(runtime: _Runtime) -> None:
    """Add new active ES256 and RS256 keys; the old ones keep verifying until retired."""
    from idp.keys import rotate_keys

    store = runtime.store()
    fresh = rotate_keys(store, runtime.settings.secret_key)
    store.commit()
    store.close()
    for key in fresh:
        click.echo(f"new active {key.alg} key {key.kid}")


@keys.command("retire")
@click.argument("kid")
@pass_runtime
def keys_retire(runtime: _Runtime, kid: str) -> None:
    """Stop publishing key KID (tokens it signed stop verifying)."""
    store = runtime.store()
    try:
        if not store.retire_key(kid):
            raise click.ClickException(f"no published key {kid}")
        store.commit()
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        store.close()
    click.echo(f"retired {kid}")


# -- consents and events -------------------------------------------------------------------


@main.group()
def consents() -> None:
    """The consent ledger."""


@consents.command("verify-ledger")
@pass_runtime
def consents_verify_ledger(runtime: _Runtime) -> None:
    """Check every person's hash chain; report the first broken link of each (exit 1 if any)."""
    from idp.consent.ledger import verify_ledgers

    store = runtime.store()
    try:
        checked, broken = verify_ledgers(store)
    finally:
        store.close()
    for link in broken:
        click.echo(
            f"BROKEN ledger of user {link.user_id}: entry {link.sequence} (record {link.record_id}): {link.reason}",
            err=True,
        )
    if broken:
        raise SystemExit(1)
    click.echo(f"ledger verified: {checked} entries, every chain intact")


@consents.command("expire")
@pass_runtime
def consents_expire(runtime: _Runtime) -> None:
    """Expire consents whose time has come (run it from cron; serve also does it)."""
    from idp.consent.decisions import expire_due

    store = runtime.store()
    try:
        count = expire_due(runtime.context(store))
        store.commit()
    finally:
        store.close()
    click.echo(f"expired {count} consent(s)")


@main.group()
def events() -> None:
    """Notifications to relying parties (consent events, back-channel logout)."""


@events.command("deliver")
@pass_runtime
def events_deliver(runtime: _Runtime) -> None:
    """Push every due event once (retries follow the outbox backoff)."""
    from idp.consent.events import deliver_due

    runtime.store().close()
    from idp.base.outbound import guard

    delivered = deliver_due(lambda: runtime.store(), guard=guard(runtime.settings))
    click.echo(f"delivered {delivered} event(s)")


# -- serving ----------------------------------------------------------------------------


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", type=int, default=None, help="Worker processes (default: CPU count).")
@click.option("--threads", type=int, default=4, show_default=True, help="Threads per worker.")
@click.option("--dev", is_flag=True, help="Flask's development server with the reloader.")
@pass_runtime
def serve(
    runtime: _Runtime, host: str, port: int, workers: int | None, threads: int, dev: bool
) -> None:
    """Serve the provider (HTTP/1.1 keep-alive, several workers)."""
    _prepare_database(runtime)
    _serve(host, port, workers or os.cpu_count() or 1, threads, dev)


def _prepare_database(runtime: _Runtime) -> None:
    from idp.keys import ensure_keys

    store = runtime.store(upgrade_sqlite=True)
    ensure_keys(store, runtime.settings.secret_key)
    store.commit()
    store.close()


def _serve(host: str, port: int, workers: int, threads: int, dev: bool) -> None:
    from idp.server import run

    run(host=host, port=port, workers=workers, threads=threads, dev=dev)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--no-serve", is_flag=True, help="Set up the demo data and exit.")
def demo(host: str, port: int, no_serve: bool) -> None:
    """Create a demo person and demo clients on a SQLite file, print them, and serve."""
    os.environ.setdefault("PORTA_DATABASE_URL", "sqlite:///porta-demo.sqlite")
    os.environ.setdefault("PORTA_ISSUER", f"http://{host}:{port}")
    runtime = _Runtime()
    _prepare_database(runtime)
    from idp.base.encoding import digest
    from idp.profile.accounts import create_user

    store = runtime.store()
    if store.get_user_by_email(DEMO_EMAIL) is None:
        user = create_user(store, DEMO_EMAIL, DEMO_PASSWORD, "Dana Demo")
        user.profile = {**user.profile, "email_verified": True, "locale": "en", "nickname": "dana"}
        store.commit()
    shop = store.get_client(DEMO_CLIENT_ID)
    store.close()
    if shop is None:
        _create_client(
            runtime,
            name="Demo Shop",
            redirect_uris=("http://127.0.0.1:5001/callback", "http://localhost:5001/callback"),
            public=False,
            grant_types=(),
            auth_method="client_secret_basic",
            post_logout=("http://127.0.0.1:5001/", "http://localhost:5001/"),
            client_id=DEMO_CLIENT_ID,
            secret=DEMO_CLIENT_SECRET,
            subject_type="public",
            event_endpoint="http://127.0.0.1:5001/events",
        )
        _create_client(
            runtime,
            name="Demo CLI",
            redirect_uris=("http://127.0.0.1/callback",),
            public=True,
            grant_types=(),
            auth_method="none",
            native=True,
            client_id=DEMO_CLI_CLIENT_ID,
        )
    else:
        store = runtime.store()
        client = store.get_client(DEMO_CLIENT_ID)
        client.client_secret_hash = digest(DEMO_CLIENT_SECRET)
        store.commit()
        store.close()
    issuer = runtime.settings.issuer
    click.echo(
        "\n".join(
            [
                "Porta demo",
                f"  issuer:         {issuer}",
                f"  discovery:      {issuer}/.well-known/openid-configuration",
                f"  database:       {runtime.settings.database_url}",
                f"  person:         {DEMO_EMAIL} / {DEMO_PASSWORD}",
                f"  shop client:    client_id={DEMO_CLIENT_ID} client_secret={DEMO_CLIENT_SECRET}",
                "                  redirect_uri=http://127.0.0.1:5001/callback",
                f"  cli client:     client_id={DEMO_CLI_CLIENT_ID} (public, PKCE, loopback http://127.0.0.1:<any port>/callback)",
                "  registration:   open (RFC 7591)",
            ]
        )
    )
    if not no_serve:
        _serve(host, port, 2, 4, False)


if __name__ == "__main__":  # pragma: no cover
    main()
