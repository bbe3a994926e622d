"""Porta Shop: a small web shop that lets people log in with their Porta profile.

It shows the whole relying-party side of Porta with ``client_sdk``:

* a "Log in with your profile" button (``client_sdk.flask.PortaLogin``),
* a front page personalised from the claims the person consented to,
* a "Your data" page showing what the shop keeps, the signed consent receipt and a link
  to withdraw consent at the provider,
* ``POST /events``, the RFC 8935 endpoint where the provider pushes consent events; when
  consent is withdrawn the shop forgets the person.

Run it against ``porta demo`` (see README.md)::

    python -m examples.shop
"""

from __future__ import annotations

import argparse
import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

from flask import Flask, abort, flash, redirect, render_template, request, session, url_for

from client_sdk import Client, ConsentReceiptError, EventReceiver, PortaClientError, SecurityEvent
from client_sdk.flask import PortaLogin, current_user, login_required
from examples.shop.store import ShopStore

PRODUCTS = {
    "tea": {"name": "Mountain tea", "price": "4.50", "blurb": "Loose-leaf herbal tea from the hills."},
    "mug": {"name": "Stoneware mug", "price": "12.00", "blurb": "Holds exactly one good idea."},
    "notebook": {"name": "Dot-grid notebook", "price": "9.90", "blurb": "For plans, lists and doodles."},
}

#: Settings, their environment variables and defaults (which match ``porta demo``).
DEFAULTS = {
    "SHOP_ISSUER": "http://127.0.0.1:8000",
    "SHOP_CLIENT_ID": "demo-shop",
    "SHOP_CLIENT_SECRET": "demo-shop-secret-change-me",
    "SHOP_URL": "http://127.0.0.1:5001",
    "SHOP_DATABASE": "porta-shop.sqlite",
    "SHOP_SECRET_KEY": None,
    "SHOP_SCOPE": "openid profile email",
    "SHOP_CONSENT_URL": None,
}


def load_settings(overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Settings from defaults, then ``SHOP_*`` environment variables, then ``overrides``."""
    settings = {name: os.environ.get(name, default) for name, default in DEFAULTS.items()}
    settings.update(overrides or {})
    return settings


def consent_page(client: Client) -> str:
    """Where the person manages (and withdraws) their consent to this shop at the provider.

    Porta (a provider implementing the consent_spec profile, which it announces with
    ``consent_receipts_supported``) shows each relationship at
    ``/account/relationships/<client_id>``; elsewhere the provider's home page is the best
    guess.  ``SHOP_CONSENT_URL`` overrides both.
    """
    issuer = client.issuer.rstrip("/")
    try:
        porta_profile = bool(client.metadata().get("consent_receipts_supported"))
    except PortaClientError:
        porta_profile = False
    if porta_profile:
        return f"{issuer}/account/relationships/{quote(client.client_id, safe='')}"
    return issuer + "/"


def create_app(overrides: Mapping[str, Any] | None = None) -> Flask:
    """Build the shop.  ``overrides`` may also hold ``SHOP_CLIENT``, a ready ``client_sdk.Client``."""
    settings = load_settings(overrides)
    app = Flask(__name__)
    app.secret_key = settings["SHOP_SECRET_KEY"] or secrets.token_hex(32)
    app.config.update(SESSION_COOKIE_SAMESITE="Lax", SESSION_COOKIE_HTTPONLY=True)
    store = ShopStore(str(Path(settings["SHOP_DATABASE"]).resolve()))
    base = settings["SHOP_URL"].rstrip("/")

    def on_login(tokens: Any, claims: dict[str, Any]) -> None:
        store.remember(tokens.sub, claims, tokens.consent_receipt)

    login = PortaLogin(
        app,
        issuer=settings["SHOP_ISSUER"],
        client_id=settings["SHOP_CLIENT_ID"],
        client_secret=settings["SHOP_CLIENT_SECRET"],
        client=settings.get("SHOP_CLIENT"),
        scope=settings["SHOP_SCOPE"],
        redirect_uri=base + "/callback",
        post_logout_redirect_uri=base + "/",
        on_login=on_login,
    )

    def forget(event: SecurityEvent) -> None:
        for change in event.consent_events:
            if not change.subject:
                continue
            if change.ends_consent:
                store.forget(change.subject)
                app.logger.info("consent %s: forgot customer %s", change.change, change.subject)
            elif change.affected_claims:
                store.drop_claims(change.subject, change.affected_claims)

    receiver: EventReceiver | None = None

    def receive_event() -> Any:
        nonlocal receiver
        if receiver is None:
            receiver = EventReceiver(login.client, forget)
        return receiver.flask_view()()

    app.add_url_rule("/events", "events", receive_event, methods=["POST"])

    @app.before_request
    def drop_forgotten_logins() -> None:
        """A person the shop forgot (consent withdrawn) is logged out here too."""
        if current_user.is_authenticated and store.customer(current_user.sub) is None:
            session.pop("porta_login.user", None)
            flash("Your consent was withdrawn, so the shop has deleted your data and logged you out.")

    @app.context_processor
    def csrf() -> dict[str, Any]:
        if "csrf" not in session:
            session["csrf"] = secrets.token_urlsafe(16)
        return {"csrf_token": session["csrf"]}

    @app.get("/")
    def index() -> str:
        return render_template("index.html", products=PRODUCTS)

    @app.post("/buy/<product>")
    @login_required
    def buy(product: str) -> Any:
        if product not in PRODUCTS:
            abort(404)
        if not secrets.compare_digest(request.form.get("csrf", ""), session.get("csrf", "")):
            abort(400, "The form expired; please try again.")
        store.add_order(current_user.sub, product)
        flash(f"Thank you! {PRODUCTS[product]['name']} is on its way.")
        return redirect(url_for("your_data"))

    @app.get("/your-data")
    @login_required
    def your_data() -> str:
        record = store.customer(current_user.sub) or {"claims": {}, "orders": [], "receipt": None}
        receipt, receipt_error = None, None
        if record["receipt"]:
            try:
                receipt = login.client.verify_consent_receipt(record["receipt"])
            except (ConsentReceiptError, PortaClientError) as exc:
                receipt_error = str(exc)
        consent_url = settings["SHOP_CONSENT_URL"] or consent_page(login.client)
        return render_template(
            "your_data.html",
            record=record,
            receipt=receipt,
            receipt_error=receipt_error,
            consent_url=consent_url,
            products=PRODUCTS,
        )

    app.extensions["shop_store"] = store
    return app


def main(argv: list[str] | None = None) -> None:
    """Command line: ``python -m examples.shop [--port 5001] [--issuer URL] …``."""
    parser = argparse.ArgumentParser(description="Porta Shop, an example relying party.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5001)
    parser.add_argument("--issuer", help="provider issuer (default: SHOP_ISSUER or porta demo's)")
    parser.add_argument("--client-id")
    parser.add_argument("--client-secret")
    parser.add_argument("--database", help="SQLite file for the shop's own data")
    args = parser.parse_args(argv)
    overrides = {
        "SHOP_URL": os.environ.get("SHOP_URL", f"http://{args.host}:{args.port}"),
    }
    for name, value in (
        ("SHOP_ISSUER", args.issuer),
        ("SHOP_CLIENT_ID", args.client_id),
        ("SHOP_CLIENT_SECRET", args.client_secret),
        ("SHOP_DATABASE", args.database),
    ):
        if value:
            overrides[name] = value
    app = create_app(overrides)
    print(f"Porta Shop on http://{args.host}:{args.port}/ (provider {load_settings(overrides)['SHOP_ISSUER']})", flush=True)
    app.run(host=args.host, port=args.port, debug=False, use_reloader=False)


if __name__ == "__main__":
    main()
