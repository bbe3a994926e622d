"""Public clients never get codes from remembered consent (RFC 8252 §8.6)."""

from __future__ import annotations

from tests.conftest import authorize, callback_params, obtain_code, pkce_pair


def test_public_client_is_asked_again_and_prompt_none_needs_consent(http, register, user):
    client = register(token_endpoint_auth_method="none", redirect_uris=["https://app.example/cb"])
    _verifier, challenge = pkce_pair()
    pkce = {"code_challenge": challenge, "code_challenge_method": "S256"}
    assert "code" in obtain_code(http, client, **pkce)
    again = authorize(http, client, **pkce)
    assert again.status_code == 303 and again.headers["Location"].startswith("/consent")
    silent = authorize(http, client, prompt="none", **pkce)
    assert callback_params(silent.headers["Location"])["error"] == "consent_required"


def test_confidential_client_keeps_remembered_consent(http, rp, user):
    obtain_code(http, rp)
    assert authorize(http, rp).status_code == 302
    assert "code" in callback_params(authorize(http, rp, prompt="none").headers["Location"])
