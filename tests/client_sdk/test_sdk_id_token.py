"""ID token validation against tampered tokens served by the fake provider (OIDC Core §3.1.3.7)."""

from __future__ import annotations

import time
from typing import Any

import pytest
from sdk_fake_op import (
    CLIENT_ID,
    CLIENT_SECRET,
    REDIRECT_URI,
    FakeProvider,
    SigningKey,
    at_hash,
    hmac_token,
    unsigned_token,
)

from client_sdk import Client, IDTokenError, TokenSet


class FakeClock:
    """A monotonic clock the test moves by hand (no wall-clock dependence)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make_client(fake_op: FakeProvider, **options: Any) -> Client:
    return Client.from_issuer(
        fake_op.issuer, CLIENT_ID, CLIENT_SECRET, redirect_uri=REDIRECT_URI, **options
    )


def login(client: Client, fake_op: FakeProvider, make_id_token) -> TokenSet:
    """Run exchange_code with a callback carrying the right state and iss."""
    request = client.authorization_url("openid email")
    fake_op.answer_with(lambda access_token: make_id_token(request.nonce, access_token))
    callback = f"{REDIRECT_URI}?code=abc&state={request.state}&iss={fake_op.issuer}"
    return client.exchange_code(callback, request)


def test_valid_es256_and_rs256_tokens_are_accepted(fake_op: FakeProvider) -> None:
    client = make_client(fake_op)
    for key in (fake_op.ec, fake_op.rsa):
        tokens = login(
            client,
            fake_op,
            lambda nonce, at, key=key: key.sign(fake_op.claims(nonce, at_hash=at_hash(at))),
        )
        assert tokens.sub == "alice"
        assert tokens.id_token_claims["email"] == "alice@example.com"
        assert tokens.expires_in is not None and tokens.expires_in > 0


@pytest.mark.parametrize(
    ("tamper", "step"),
    [
        ({"iss": "http://127.0.0.1:1/evil"}, "step 2, iss"),
        ({"aud": "someone-else"}, "step 3, aud"),
        ({"aud": [CLIENT_ID, "untrusted-rp"], "azp": CLIENT_ID}, "step 3, aud"),
        ({"azp": "someone-else"}, "step 5, azp"),
        ({"exp": int(time.time()) - 3600}, "step 9, exp"),
        ({"iat": int(time.time()) + 3600}, "step 10, iat"),
        ({"iat": int(time.time()) - 86400}, "step 10, iat"),
        ({"nonce": "not-the-nonce-we-sent"}, "step 11, nonce"),
        ({"nonce": None}, "step 11, nonce"),
        ({"sub": None}, "sub"),
    ],
    ids=[
        "wrong-iss", "wrong-aud", "untrusted-extra-aud", "wrong-azp", "expired", "future-iat",
        "ancient-iat", "bad-nonce", "missing-nonce", "missing-sub",
    ],
)
def test_tampered_claims_are_rejected(fake_op: FakeProvider, tamper: dict, step: str) -> None:
    client = make_client(fake_op)
    with pytest.raises(IDTokenError, match=step):
        login(client, fake_op, lambda nonce, at: fake_op.ec.sign(fake_op.claims(nonce, **tamper)))


def test_several_audiences_need_azp(fake_op: FakeProvider) -> None:
    client = make_client(fake_op, trusted_audiences=["partner-api"])
    with pytest.raises(IDTokenError, match="step 4, azp"):
        login(
            client,
            fake_op,
            lambda nonce, at: fake_op.ec.sign(fake_op.claims(nonce, aud=[CLIENT_ID, "partner-api"])),
        )
    tokens = login(
        client,
        fake_op,
        lambda nonce, at: fake_op.ec.sign(
            fake_op.claims(nonce, aud=[CLIENT_ID, "partner-api"], azp=CLIENT_ID)
        ),
    )
    assert tokens.sub == "alice"


def test_bad_at_hash_is_rejected(fake_op: FakeProvider) -> None:
    client = make_client(fake_op)
    with pytest.raises(IDTokenError, match="at_hash"):
        login(
            client,
            fake_op,
            lambda nonce, at: fake_op.ec.sign(fake_op.claims(nonce, at_hash=at_hash(at + "x"))),
        )


def test_unsigned_alg_none_token_is_rejected(fake_op: FakeProvider) -> None:
    client = make_client(fake_op)
    with pytest.raises(IDTokenError, match="alg 'none'"):
        login(client, fake_op, lambda nonce, at: unsigned_token(fake_op.claims(nonce)))


def test_hs256_signed_with_the_rsa_public_key_is_rejected(fake_op: FakeProvider) -> None:
    """Algorithm confusion (RFC 8725 §2.1): the public key used as an HMAC secret."""
    client = make_client(fake_op)
    with pytest.raises(IDTokenError, match="'HS256' is not allowed"):
        login(
            client,
            fake_op,
            lambda nonce, at: hmac_token(fake_op.claims(nonce), fake_op.rsa.public_pem(), "rsa-1"),
        )


def test_hs256_is_only_accepted_when_registered_and_keyed_with_the_client_secret(
    fake_op: FakeProvider,
) -> None:
    client = make_client(fake_op, id_token_signed_response_alg="HS256")
    tokens = login(
        client, fake_op, lambda nonce, at: hmac_token(fake_op.claims(nonce), CLIENT_SECRET.encode())
    )
    assert tokens.sub == "alice"
    with pytest.raises(IDTokenError, match="signature is invalid"):
        login(
            client,
            fake_op,
            lambda nonce, at: hmac_token(fake_op.claims(nonce), fake_op.rsa.public_pem()),
        )


def test_alg_outside_the_registered_allow_list_is_rejected(fake_op: FakeProvider) -> None:
    client = make_client(fake_op, id_token_signed_response_alg="RS256")
    with pytest.raises(IDTokenError, match="'ES256' is not allowed"):
        login(client, fake_op, lambda nonce, at: fake_op.ec.sign(fake_op.claims(nonce)))


def test_signature_by_a_key_of_the_wrong_type_for_kid_is_rejected(fake_op: FakeProvider) -> None:
    """An RS256 token naming the EC key's kid finds no usable key."""
    client = make_client(fake_op, jwks_min_refetch_interval=0)
    with pytest.raises(IDTokenError, match="signing key"):
        login(
            client,
            fake_op,
            lambda nonce, at: fake_op.rsa.sign(fake_op.claims(nonce), headers={"kid": "ec-1"}),
        )


def test_unknown_kid_is_refetched_once_then_rejected_and_refetching_is_rate_limited(
    fake_op: FakeProvider,
) -> None:
    clock = FakeClock()
    client = make_client(fake_op, jwks_min_refetch_interval=60, clock=clock)
    stranger = SigningKey("EC", "not-published")
    # First token: known key; the JWKS is fetched once.
    login(client, fake_op, lambda nonce, at: fake_op.ec.sign(fake_op.claims(nonce)))
    assert fake_op.jwks_fetches == 1
    clock.now += 120  # long enough since the last fetch that a refetch is allowed
    with pytest.raises(IDTokenError, match="even after fetching it again"):
        login(client, fake_op, lambda nonce, at: stranger.sign(fake_op.claims(nonce)))
    assert fake_op.jwks_fetches == 2
    # A flood of unknown kids right after: no further fetches.
    for _ in range(20):
        with pytest.raises(IDTokenError, match="not fetched again yet"):
            login(client, fake_op, lambda nonce, at: stranger.sign(fake_op.claims(nonce)))
    assert fake_op.jwks_fetches == 2


def test_rotated_key_is_picked_up_by_refetch(fake_op: FakeProvider) -> None:
    clock = FakeClock()
    client = make_client(fake_op, jwks_min_refetch_interval=60, clock=clock)
    login(client, fake_op, lambda nonce, at: fake_op.ec.sign(fake_op.claims(nonce)))
    rotated = SigningKey("EC", "ec-2")
    fake_op.published_keys = [rotated, fake_op.ec]
    clock.now += 61
    tokens = login(client, fake_op, lambda nonce, at: rotated.sign(fake_op.claims(nonce)))
    assert tokens.sub == "alice"
    assert fake_op.jwks_fetches == 2


def test_max_age_requires_recent_auth_time(fake_op: FakeProvider) -> None:
    client = make_client(fake_op)
    request = client.authorization_url("openid", max_age=10)
    assert "max_age=10" in request.url
    fake_op.answer_with(
        lambda at: fake_op.ec.sign(fake_op.claims(request.nonce, auth_time=int(time.time()) - 3600))
    )
    with pytest.raises(IDTokenError, match="step 13, auth_time"):
        client.exchange_code(
            {"code": "c", "state": request.state, "iss": fake_op.issuer}, request
        )


def test_encrypted_or_garbage_tokens_are_rejected_with_a_reason(fake_op: FakeProvider) -> None:
    client = make_client(fake_op)
    with pytest.raises(IDTokenError, match="JWE"):
        login(client, fake_op, lambda nonce, at: "a.b.c.d.e")
    with pytest.raises(IDTokenError, match="compact JWS"):
        login(client, fake_op, lambda nonce, at: "not-a-jwt")
    with pytest.raises(IDTokenError, match="no id_token"):
        login(client, fake_op, lambda nonce, at: None)


def test_concurrent_unknown_kids_cause_a_single_refetch(fake_op: FakeProvider) -> None:
    """The client is shared between threads; a burst of bad tokens makes one JWKS request."""
    import threading

    clock = FakeClock()
    client = make_client(fake_op, jwks_min_refetch_interval=60, clock=clock)
    client.jwks.keys()
    assert fake_op.jwks_fetches == 1
    clock.now += 120
    stranger = SigningKey("EC", "burst")
    token = stranger.sign(fake_op.claims(None, nonce=None))
    failures: list[Exception] = []

    def validate() -> None:
        try:
            client.validate_id_token(token)
        except IDTokenError as exc:
            failures.append(exc)

    threads = [threading.Thread(target=validate) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(failures) == 8
    assert fake_op.jwks_fetches == 2
