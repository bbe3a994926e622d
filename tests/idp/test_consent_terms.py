"""Consent follows the terms it was given under, and ends when it expires — at the first use."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from idp.base.clock import now
from idp.storage.models import ConsentRecord
from tests.conftest import (
    RegisteredClient,
    authorize,
    exchange,
    obtain_code,
    store_of,
    token_request,
)


def _terms(purpose: str, disclosed: bool = False) -> dict:
    entry = {"purposes": [purpose], "third_party_disclosure": {"disclosed": disclosed}}
    if disclosed:
        entry["third_party_disclosure"]["recipients"] = [{"name": "Ad Network Ltd"}]
    return {"claims": {"email": entry}}


def _set_terms(app, client_id: str, consent: dict) -> None:
    store = store_of(app)
    client = store.get_client(client_id)
    store.update_client(client, {**client.metadata_, "consent": consent}, client.client_secret_hash)
    store.commit()
    store.close()


def test_changed_terms_ask_again(app, http, register, user):
    client = register(consent=_terms("customer-care"))
    obtain_code(http, client, scope="openid email")
    assert authorize(http, client, scope="openid email").status_code == 302  # remembered
    _set_terms(app, client.client_id, _terms("advertising", disclosed=True))
    response = authorize(http, client, scope="openid email")
    assert response.status_code == 303 and response.headers["Location"].startswith("/consent")
    page = http.get(response.headers["Location"]).get_data(as_text=True)
    assert "for advertising" in page and "shared with third parties" in page


def test_unchanged_terms_do_not_ask_again(app, http, register, user):
    client = register(consent=_terms("customer-care"))
    obtain_code(http, client, scope="openid email")
    _set_terms(app, client.client_id, _terms("customer-care"))
    assert authorize(http, client, scope="openid email").status_code == 302


def test_expired_consent_stops_tokens_at_their_next_use(app, http, rp, user):
    params = obtain_code(http, rp, scope="openid email offline_access", prompt="consent")
    tokens = exchange(http, rp, params["code"]).get_json()
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert http.get("/userinfo", headers=bearer).status_code == 200
    store = store_of(app)
    store.session.execute(update(ConsentRecord).values(expires_at=now() - timedelta(seconds=1)))
    store.commit()
    store.close()
    # No pump has run: the first use itself ends the consent, records it, and refuses.
    assert http.get("/userinfo", headers=bearer).status_code == 401
    refreshed = token_request(http, rp, grant_type="refresh_token", refresh_token=tokens["refresh_token"])
    assert refreshed.status_code == 400 and refreshed.get_json()["error"] == "invalid_grant"
    store = store_of(app)
    states = [r.state for r in store.session.query(ConsentRecord).order_by(ConsentRecord.sequence)]
    store.close()
    assert states == ["given", "expired"]


def test_deleting_a_client_invalidates_its_consents(app, http, user):
    """RFC 7592 §2.3 delete: the person's consent with it ends as 'invalidated' (SPEC.md §6.1)."""
    reg = http.post("/register", json={"redirect_uris": ["https://gone.example/cb"], "client_name": "Gone"}).get_json()
    client = RegisteredClient(reg["client_id"], reg["client_secret"], "https://gone.example/cb", reg)
    obtain_code(http, client, scope="openid email")
    token = reg["registration_access_token"]
    deleted = http.delete(f"/register/{client.client_id}", headers={"Authorization": f"Bearer {token}"})
    assert deleted.status_code == 204
    store = store_of(app)
    states = [r.state for r in store.session.query(ConsentRecord).order_by(ConsentRecord.sequence)]
    store.close()
    assert states == ["given", "invalidated"]
    page = http.get("/account").get_data(as_text=True)
    assert "invalidated" in page
