"""Resource indicators (RFC 8707): ``resource`` at the token endpoint sets the access token's
``aud`` to a resource server the operator listed in ``PORTA_RESOURCES`` (issue 13, item 3)."""

from __future__ import annotations

import jwt
import pytest

from tests.conftest import ISSUER, assert_oauth_error, basic, exchange, obtain_code, token_request

API = "https://api.example/"
LISTED = f"{API} https://payments.example/v1"


@pytest.fixture
def app(make_app):
    """This module's provider knows two resource servers."""
    return make_app(RESOURCES=LISTED)


def _aud(response) -> str | list[str]:
    assert response.status_code == 200, response.get_json()
    token = response.get_json()["access_token"]
    return jwt.decode(token, options={"verify_signature": False})["aud"]


@pytest.fixture
def machine(register):
    return register(grant_types=["client_credentials"], redirect_uris=None, scope="inventory:read")


def test_the_named_resource_becomes_the_audience(http, machine):
    """RFC 8707 §2.2: the access token is restricted to the resource asked for."""
    response = token_request(http, machine, grant_type="client_credentials", resource=API)
    assert _aud(response) == API
    token = response.get_json()["access_token"]
    introspected = http.post("/introspect", data={"token": token}, headers=basic(machine)).get_json()
    assert introspected["active"] is True and introspected["aud"] == API


def test_without_resource_the_audience_is_the_issuer(http, machine):
    response = token_request(http, machine, grant_type="client_credentials")
    assert _aud(response) == ISSUER


@pytest.mark.parametrize(
    "resource",
    ["https://evil.example/", "https://api.example/#frag", "api.example", "/relative"],
    ids=["unlisted", "fragment", "not_absolute", "relative"],
)
def test_an_unknown_or_malformed_resource_is_invalid_target(http, machine, resource):
    """RFC 8707 §2: invalid_target for a resource that is invalid or not one the server serves."""
    response = token_request(http, machine, grant_type="client_credentials", resource=resource)
    assert_oauth_error(response, 400, "invalid_target")


def test_a_code_exchange_may_name_the_resource_and_a_bad_one_does_not_spend_the_code(http, register, user):
    client = register()
    code = obtain_code(http, client, scope="openid")["code"]
    assert_oauth_error(exchange(http, client, code, resource="https://evil.example/"), 400, "invalid_target")
    good = exchange(http, client, code, resource=API)
    assert _aud(good) == API
    # A token for the API is not a token for this provider's userinfo endpoint.
    token = good.get_json()["access_token"]
    userinfo = http.get("/userinfo", headers={"Authorization": f"Bearer {token}"})
    assert userinfo.status_code == 401
