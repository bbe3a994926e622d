"""``client_sdk.flask`` against node-oidc-provider: routes, session, current_user, login_required,
login button, logout — the Flask app runs in-process, the provider on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from flask import Flask, render_template_string
from sdk_browser import drive

from client_sdk.flask import PortaLogin, current_user, login_required

node_launcher = pytest.importorskip("tests.interop.node_op.launcher")

SECRET = "flask-rp-secret-0123456789-0123456789-abcdef"
CALLBACK = "http://localhost/callback"
BYE = "http://localhost/"
ANSWERS = {"login": "alice@example.com", "password": "anything"}


@pytest.fixture(scope="module")
def node_issuer() -> Iterator[str]:
    try:
        node_launcher.ensure_installed()
    except node_launcher.NodeOPError as exc:  # pragma: no cover - depends on the machine
        pytest.skip(f"node-oidc-provider unavailable: {exc}")
    client = {
        "client_id": "flask-rp",
        "client_secret": SECRET,
        "redirect_uris": [CALLBACK],
        "post_logout_redirect_uris": [BYE],
    }
    with node_launcher.node_op(clients=[client]) as issuer:
        yield issuer


def make_app(issuer: str, logins: list) -> Flask:
    app = Flask(__name__)
    app.secret_key = "test-secret-key"
    PortaLogin(
        app,
        issuer=issuer,
        client_id="flask-rp",
        client_secret=SECRET,
        post_logout_redirect_uri=BYE,
        on_login=lambda tokens, claims: logins.append((tokens, claims)),
    )

    @app.get("/")
    def index() -> str:
        return render_template_string(
            "{% if current_user.is_authenticated %}Hello {{ current_user['name'] }}"
            "{% else %}{{ login_button() }}{% endif %}"
        )

    @app.get("/account")
    @login_required
    def account() -> dict:
        return {"sub": current_user.sub, "email": current_user.get("email"), "claims": dict(current_user)}

    return app


def test_login_button_is_accessible_and_self_hosted(node_issuer: str) -> None:
    http = make_app(node_issuer, []).test_client()
    page = http.get("/").get_data(as_text=True)
    assert 'class="porta-login-button" href="/login"' in page
    assert "Log in with your profile" in page
    assert 'aria-hidden="true"' in page  # the icon is decoration, the text is the name
    css_href = page.split('<link rel="stylesheet" href="')[1].split('"')[0]
    assert not css_href.startswith("http")
    css = http.get(css_href)
    assert css.status_code == 200 and b":focus-visible" in css.data


def test_login_callback_current_user_and_logout(node_issuer: str) -> None:
    logins: list = []
    http = make_app(node_issuer, logins).test_client()
    gate = http.get("/account?tab=orders")
    assert gate.status_code == 302 and gate.headers["Location"].startswith("/login?next=")
    start = http.get(gate.headers["Location"])
    assert start.status_code == 302 and start.headers["Location"].startswith(node_issuer)

    arrival = drive(requests.Session(), start.headers["Location"], CALLBACK, ANSWERS)
    parts = urlsplit(arrival.url)
    done = http.get(f"{parts.path}?{parts.query}")
    assert done.status_code == 302 and done.headers["Location"] == "/account?tab=orders"

    account = http.get("/account").get_json()
    assert account["sub"] == "alice@example.com"
    assert account["email"] == "alice@example.com"
    assert "nonce" not in account["claims"] and "aud" not in account["claims"]
    assert "Hello Alice Example" in http.get("/").get_data(as_text=True)
    (tokens, claims), = logins
    assert tokens.access_token and claims["email"] == "alice@example.com"

    replay = http.get(f"{parts.path}?{parts.query}")
    assert replay.status_code == 400  # the state was used up

    out = http.get("/logout")
    query = parse_qs(urlsplit(out.headers["Location"]).query)
    assert out.headers["Location"].startswith(node_issuer)
    assert query["post_logout_redirect_uri"] == [BYE] and query["id_token_hint"] == [tokens.id_token]
    assert http.get("/account").status_code == 302


def test_forged_callback_is_refused(node_issuer: str) -> None:
    http = make_app(node_issuer, []).test_client()
    http.get("/login")
    response = http.get("/callback?code=x&state=forged")
    assert response.status_code == 400
    assert b"not started in this browser" in response.data


def test_next_parameter_cannot_redirect_off_site(node_issuer: str) -> None:
    http = make_app(node_issuer, []).test_client()
    start = http.get("/login?next=//evil.example/")
    arrival = drive(requests.Session(), start.headers["Location"], CALLBACK, ANSWERS)
    parts = urlsplit(arrival.url)
    assert http.get(f"{parts.path}?{parts.query}").headers["Location"] == "/"
