"""The shop's consent-event endpoint and "your data" page, in-process.

SETs are signed here with the fake provider's key; the shop trusts that provider through a
``client_sdk.Client`` with static metadata (an https issuer, as consent_spec requires).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sdk_consent_docs import NARROWED, PORTA_TEST_ISSUER, receipt_claims, withdrawal_event
from sdk_fake_op import CLIENT_ID, FakeProvider

from client_sdk import Client
from examples.shop.app import create_app

SET_TYPE = "application/secevent+jwt"


@pytest.fixture
def shop(fake_op: FakeProvider, tmp_path: Path):
    client = Client(
        PORTA_TEST_ISSUER,
        CLIENT_ID,
        metadata={"issuer": PORTA_TEST_ISSUER, "jwks_uri": fake_op.issuer + "/jwks"},
    )
    app = create_app(
        {"SHOP_CLIENT": client, "SHOP_DATABASE": str(tmp_path / "shop.sqlite"), "SHOP_SECRET_KEY": "k"}
    )
    return app, app.extensions["shop_store"]


def log_in(http: FlaskClient, sub: str) -> None:
    with http.session_transaction() as session:
        session["porta_login.user"] = {"sub": sub, "claims": {"name": "Alice", "email": "a@x.test"}}


def test_withdrawal_event_makes_the_shop_forget_the_person(shop, fake_op: FakeProvider) -> None:
    app, store = shop
    store.remember("alice", {"name": "Alice", "email": "a@x.test"}, None)
    store.add_order("alice", "tea")
    store.remember("bob", {"name": "Bob"}, None)
    http = app.test_client()
    log_in(http, "alice")
    assert "Welcome back, Alice" in http.get("/").get_data(as_text=True)

    token = fake_op.ec.sign(withdrawal_event("alice", CLIENT_ID), headers={"typ": "secevent+jwt"})
    response = app.test_client().post("/events", data=token, content_type=SET_TYPE)
    assert response.status_code == 202
    assert store.customer("alice") is None
    assert store.customer("bob") is not None  # nobody else is touched

    page = http.get("/").get_data(as_text=True)
    assert "deleted your data and logged you out" in page
    assert "Welcome back" not in page


def test_narrowing_event_drops_only_the_removed_claims(shop, fake_op: FakeProvider) -> None:
    app, store = shop
    store.remember("alice", {"name": "Alice", "email": "a@x.test"}, None)
    claims = withdrawal_event("alice", CLIENT_ID, event_type=NARROWED)
    token = fake_op.ec.sign(claims, headers={"typ": "secevent+jwt"})
    assert app.test_client().post("/events", data=token, content_type=SET_TYPE).status_code == 202
    assert store.customer("alice")["claims"] == {"name": "Alice"}


def test_forged_event_is_refused_and_forgets_nothing(shop, fake_op: FakeProvider) -> None:
    app, store = shop
    store.remember("alice", {"name": "Alice"}, None)
    token = fake_op.ec.sign(withdrawal_event("alice", "another-shop"), headers={"typ": "secevent+jwt"})
    response = app.test_client().post("/events", data=token, content_type=SET_TYPE)
    assert response.status_code == 400 and response.get_json()["err"] == "invalid_audience"
    assert store.customer("alice") is not None


def test_your_data_page_shows_a_verified_receipt(shop, fake_op: FakeProvider) -> None:
    app, store = shop
    receipt = fake_op.ec.sign(receipt_claims("alice", CLIENT_ID), headers={"typ": "consent-receipt+jwt"})
    store.remember("alice", {"name": "Alice"}, receipt)
    http = app.test_client()
    log_in(http, "alice")
    page = http.get("/your-data").get_data(as_text=True)
    assert "verified by this shop" in page
    assert "email — for service-provision" in page
    assert f'href="{PORTA_TEST_ISSUER}/"' in page  # withdraw at the provider


def test_your_data_page_says_when_a_receipt_does_not_verify(shop, fake_op: FakeProvider) -> None:
    app, store = shop
    receipt = fake_op.ec.sign(receipt_claims("alice", CLIENT_ID), headers={"typ": "JWT"})
    store.remember("alice", {"name": "Alice"}, receipt)
    http = app.test_client()
    log_in(http, "alice")
    page = http.get("/your-data").get_data(as_text=True)
    assert "could not be verified" in page and "not a consent receipt" in page


def test_buying_needs_login_and_the_form_token(shop) -> None:
    app, store = shop
    http = app.test_client()
    assert http.post("/buy/tea").status_code == 302  # to /login
    store.remember("alice", {"name": "Alice"}, None)
    log_in(http, "alice")
    http.get("/")  # issues the form token
    with http.session_transaction() as session:
        token = session["csrf"]
    assert http.post("/buy/tea", data={"csrf": "wrong"}).status_code == 400
    assert http.post("/buy/tea", data={"csrf": token}).status_code == 302
    assert [o["product"] for o in store.customer("alice")["orders"]] == ["tea"]
