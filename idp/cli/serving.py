"""``porta serve`` and ``porta demo``: prepare the database and run the WSGI server."""

from __future__ import annotations

import os
from urllib.parse import urlsplit

import click

from idp.cli.clients import register_client
from idp.cli.runtime import Runtime, pass_runtime

DEMO_EMAIL = "demo@example.org"
DEMO_PASSWORD = "demo-password"
DEMO_CLIENT_ID = "demo-shop"
DEMO_CLIENT_SECRET = "demo-shop-secret-change-me"
DEMO_CLI_CLIENT_ID = "demo-cli"


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", type=int, default=None, help="Worker processes (default: CPU count).")
@click.option("--threads", type=int, default=4, show_default=True, help="Threads per worker.")
@click.option("--dev", is_flag=True, help="Flask's development server with the reloader.")
@pass_runtime
def serve(
    runtime: Runtime, host: str, port: int, workers: int | None, threads: int, dev: bool
) -> None:
    """Serve the provider (HTTP/1.1 keep-alive, several workers)."""
    if dev:
        os.environ["PORTA_DEV"] = "true"  # read by load_settings: allows an http issuer
    _check_issuer(host, port)
    _prepare_database(runtime)
    _serve(host, port, workers or os.cpu_count() or 1, threads, dev)


def _check_issuer(host: str, port: int) -> None:
    """The issuer must be where this server listens, or in front of it (a proxy).

    Unset, PORTA_ISSUER becomes http://HOST:PORT. Set to a loopback URL whose port is not
    --port, nothing could reach the advertised endpoints (OIDC Discovery §4.3: every URL
    starts with the issuer), so the command stops and names both ways out.
    """
    issuer = os.environ.get("PORTA_ISSUER")
    if not issuer:
        os.environ["PORTA_ISSUER"] = f"http://{host}:{port}"
        return
    parts = urlsplit(issuer)
    advertised = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    loopback = parts.hostname in {"localhost", "127.0.0.1", "::1"}
    if loopback and advertised != port:
        fixed = parts._replace(netloc=f"{parts.hostname}:{port}").geturl()
        raise click.ClickException(
            f"PORTA_ISSUER is {issuer} but --port is {port}: tokens and discovery would point "
            f"at port {advertised}. Set PORTA_ISSUER={fixed}, or serve with --port {advertised}."
        )


def _prepare_database(runtime: Runtime) -> None:
    from idp.keys import ensure_keys

    with runtime.unit_of_work(upgrade_sqlite=True) as store:
        ensure_keys(store, runtime.settings.secret_key)


def _serve(host: str, port: int, workers: int, threads: int, dev: bool) -> None:
    from idp.server import run

    run(host=host, port=port, workers=workers, threads=threads, dev=dev)


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--no-serve", is_flag=True, help="Set up the demo data and exit.")
def demo(host: str, port: int, no_serve: bool) -> None:
    """Create a demo person and demo clients on a SQLite file, print them, and serve."""
    os.environ.setdefault("PORTA_DATABASE_URL", "sqlite:///porta-demo.sqlite")
    os.environ.setdefault("PORTA_ISSUER", f"http://{host}:{port}")
    os.environ.setdefault("PORTA_DEV", "true")  # demo data and an http issuer on any --host
    runtime = Runtime()
    _prepare_database(runtime)
    from idp.base.encoding import digest
    from idp.profile.accounts import create_user

    with runtime.unit_of_work() as store:
        if store.get_user_by_email(DEMO_EMAIL) is None:
            user = create_user(store, DEMO_EMAIL, DEMO_PASSWORD, "Dana Demo")
            extra = {"email_verified": True, "locale": "en", "nickname": "dana"}
            store.save_profile(user, {**user.profile, **extra})
        shop = store.get_client(DEMO_CLIENT_ID)
    if shop is None:
        register_client(
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
        register_client(
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
        with runtime.unit_of_work() as store:
            client = store.get_client(DEMO_CLIENT_ID)
            store.update_client(client, client.metadata_, digest(DEMO_CLIENT_SECRET))
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
                f"  manage it:      porta --database {runtime.settings.database_url} users list",
            ]
        )
    )
    if not no_serve:
        _serve(host, port, 2, 4, False)
