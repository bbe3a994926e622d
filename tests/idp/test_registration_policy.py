"""Registration policy: which scopes a self-registered client may obtain (issue 13, item 3).

RFC 7591 §2 leaves the meaning of ``scope`` to the server and §3.2.1 lets the server
replace requested metadata; Porta keeps only the OpenID Connect scopes, plus those the
operator lists in ``PORTA_REGISTRATION_ALLOWED_SCOPES``, for clients registered through
``/register``. Operator-made clients (``porta clients create --scope``) are not limited.
"""

from __future__ import annotations

import json

from idp.protocol.clients import create_client, validate_metadata
from tests.conftest import (
    RegisteredClient,
    assert_oauth_error,
    basic,
    context_of,
    store_of,
    token_request,
)

MACHINE = {"client_name": "Batch", "grant_types": ["client_credentials"], "scope": "admin payments:write"}


def _register(http, document):
    response = http.post("/register", data=json.dumps(document), content_type="application/json")
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    return body, RegisteredClient(body["client_id"], body["client_secret"], "", body)


def test_a_self_registered_client_cannot_mint_scopes_nobody_granted(http):
    body, client = _register(http, MACHINE)
    assert "scope" not in body  # replaced (RFC 7591 §3.2.1): the response shows what was registered
    for scope in ("admin", "payments:write", "admin payments:write"):
        response = token_request(http, client, grant_type="client_credentials", scope=scope)
        assert_oauth_error(response, 400, "invalid_scope")
    bare = token_request(http, client, grant_type="client_credentials").get_json()
    assert "scope" not in bare


def test_oidc_scopes_are_kept_at_registration(http):
    body, _ = _register(http, {"redirect_uris": ["https://rp.example/cb"], "scope": "openid email admin"})
    assert body["scope"] == "openid email"


def test_the_operator_may_grant_self_registered_clients_more(make_app):
    http = make_app(REGISTRATION_ALLOWED_SCOPES="payments:write").test_client()
    body, client = _register(http, MACHINE)
    assert body["scope"] == "payments:write"
    granted = token_request(http, client, grant_type="client_credentials", scope="payments:write")
    assert granted.status_code == 200 and granted.get_json()["scope"] == "payments:write"
    refused = token_request(http, client, grant_type="client_credentials", scope="admin")
    assert_oauth_error(refused, 400, "invalid_scope")


def test_an_update_cannot_add_a_scope_either(http):
    """RFC 7592 §2.2: the management endpoint is self-service too."""
    body, _ = _register(http, MACHINE)
    uri = body["registration_client_uri"].split("/register", 1)[1]
    update = {k: v for k, v in body.items() if k not in {"registration_client_uri", "registration_access_token", "client_secret_expires_at", "client_id_issued_at"}}
    update["scope"] = "admin"
    response = http.put(
        "/register" + uri,
        data=json.dumps(update),
        content_type="application/json",
        headers={"Authorization": f"Bearer {body['registration_access_token']}"},
    )
    assert response.status_code == 200, response.get_json()
    assert "scope" not in response.get_json()


def test_a_client_registered_before_the_policy_loses_the_scope_at_the_token_endpoint(app, http):
    """A registration stored with ``admin`` (before this policy) is held to today's list."""
    store = store_of(app)
    try:
        stored, secret, _ = create_client(context_of(app, store), validate_metadata(MACHINE), dynamic=True)
        store.commit()
    finally:
        store.close()
    assert stored.metadata_["scope"] == "admin payments:write"
    response = http.post(
        "/token", data={"grant_type": "client_credentials", "scope": "admin"}, headers=basic(RegisteredClient(stored.client_id, secret, "", {}))
    )
    assert_oauth_error(response, 400, "invalid_scope")


def test_an_operator_client_keeps_the_scopes_it_was_given(http, register):
    client = register(grant_types=["client_credentials"], redirect_uris=None, scope="admin payments:write")
    response = token_request(http, client, grant_type="client_credentials", scope="admin payments:write")
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["scope"] == "admin payments:write"
