"""Signing keys: what the JWKS publishes (RFC 7517), what the database holds, rotation and
retirement through `porta keys`, and the secret that protects them (DESIGN §8)."""

from __future__ import annotations

import hashlib
import json
import re

import jwt
import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from sqlalchemy import text

from idp.base.clock import now
from idp.cli import main as porta
from idp.keys import KeyDecryptionError, decrypt_private_key, rotate_keys
from idp.profile.accounts import create_user
from idp.storage.models import SigningKey
from tests.conftest import (
    ISSUER,
    PASSWORD,
    SECRET_KEY,
    authorize,
    b64,
    bearer,
    callback_params,
    count_rows,
    log_in,
    register_on,
    store_of,
    tokens_for,
)

PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}


def thumbprint(jwk: dict) -> str:
    """RFC 7638 §3: SHA-256 over the required members in lexicographic order."""
    members = {"EC": ("crv", "kty", "x", "y"), "RSA": ("e", "kty", "n")}[jwk["kty"]]
    canonical = json.dumps({m: jwk[m] for m in members}, separators=(",", ":"), sort_keys=True)
    return b64(hashlib.sha256(canonical.encode()).digest())


def test_jwks_publishes_public_members_only(anon):
    """RFC 7517 §5 / RFC 7518 §6: a JWK Set for verification holds no private parameters; each
    key names its alg, use and kid (here the RFC 7638 thumbprint)."""
    response = anon.get("/jwks.json")
    assert response.status_code == 200
    keys = response.get_json()["keys"]
    assert {k["alg"] for k in keys} == {"ES256", "RS256"}
    for key in keys:
        assert not PRIVATE_MEMBERS & set(key), key
        assert key["use"] == "sig" and key["kid"] == thumbprint(key)
        jwt.PyJWK(key)  # a usable public key


def test_private_keys_are_not_stored_in_the_clear(shared_app):
    """DESIGN §8: private keys are encrypted at rest; a dump of signing_keys reveals neither a
    PEM nor the private scalar, yet the right secret recovers the published key pair."""
    engine = shared_app.extensions["porta"]["engine"]
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT * FROM signing_keys")).mappings().all()
    assert len(rows) >= 2
    for row in rows:
        dump = b"".join(v if isinstance(v, bytes) else str(v).encode() for v in row.values())
        assert b"PRIVATE KEY" not in dump and b"-----BEGIN" not in dump
        public = row["public_jwk"] if isinstance(row["public_jwk"], dict) else json.loads(row["public_jwk"])
        assert not PRIVATE_MEMBERS & set(public)
        blob = bytes(row["private_key_encrypted"])
        for loader in (serialization.load_pem_private_key, serialization.load_der_private_key):
            with pytest.raises((ValueError, TypeError)):
                loader(blob, password=None)
        private = serialization.load_pem_private_key(
            decrypt_private_key(blob, SECRET_KEY, row["kid"]), password=None
        )
        numbers = private.private_numbers()
        secret = numbers.private_value if row["alg"] == "ES256" else numbers.d
        assert secret.to_bytes((secret.bit_length() + 7) // 8, "big") not in blob
        assert thumbprint(json.loads(jwt.PyJWK(public).Algorithm.to_jwk(private.public_key()))) == row["kid"]


def _cli(app, *args: str, secret: str = SECRET_KEY):
    """Run `porta` in-process with the app's database in PORTA_* variables.

    A kid is base64url and may start with "-", so it is passed after "--".
    """
    settings = app.extensions["porta"]["settings"]
    env = {"PORTA_DATABASE_URL": settings.database_url, "PORTA_SECRET_KEY": secret, "PORTA_ISSUER": ISSUER}
    return CliRunner().invoke(porta, list(args), env=env)


def _jwks(http) -> dict[str, dict]:
    return {k["kid"]: k for k in http.get("/jwks.json").get_json()["keys"]}


def _verify(http, token: str, audience: str) -> dict:
    """Verify as an RP does (OIDC Core §3.1.3.7): key chosen by kid from the JWKS."""
    header = jwt.get_unverified_header(token)
    key = jwt.PyJWK(_jwks(http)[header["kid"]])
    return jwt.decode(token, key.key, algorithms=[header["alg"]], audience=audience, issuer=ISSUER)


def _publishing_window_ends(app, kids) -> None:
    """Stand in for waiting PORTA_KEY_PUBLISH_SECONDS: the new keys' signing starts now."""
    store = store_of(app)
    try:
        for kid in kids:
            store.sign_now(kid, now())
        store.commit()
    finally:
        store.close()


def test_rotation_and_retirement_through_the_cli(make_app):
    """`porta keys rotate`: the new keys are published at once but the old ones keep signing
    until the publishing window ends; then the new kid signs new tokens while the old key stays
    published and old ID tokens still verify (RFC 7517 §5 key rollover); `porta keys retire`
    then withdraws it, and what it signed stops being accepted."""
    app = make_app(KEY_CACHE_SECONDS=0)
    store = store_of(app)
    create_user(store, "alice@example.org", PASSWORD, "Alice Example")
    store.commit()
    store.close()
    browser = log_in(app)
    client = register_on(app)
    old = tokens_for(browser, client, scope="openid offline_access")
    old_kids = {jwt.get_unverified_header(old[name])["kid"] for name in ("id_token", "access_token")}

    rotated = _cli(app, "keys", "rotate")
    assert rotated.exit_code == 0, rotated.output
    new_kids = set(re.findall(r"new (?:ES256|RS256) key (\S+): published now", rotated.output))
    assert len(new_kids) == 2 and not new_kids & old_kids
    published = _jwks(browser)
    assert old_kids | new_kids <= set(published)
    waiting = tokens_for(browser, client, scope="openid")
    assert jwt.get_unverified_header(waiting["id_token"])["kid"] in old_kids  # not yet
    _publishing_window_ends(app, new_kids)

    new = tokens_for(browser, client, scope="openid")
    assert jwt.get_unverified_header(new["id_token"])["kid"] in new_kids
    assert jwt.get_unverified_header(new["access_token"])["kid"] in new_kids
    assert _verify(browser, old["id_token"], client.client_id)["sub"] == _verify(browser, new["id_token"], client.client_id)["sub"]
    assert browser.get("/userinfo", headers=bearer(old["access_token"])).status_code == 200
    hinted = authorize(browser, client, prompt="none", id_token_hint=old["id_token"])
    assert "code" in callback_params(hinted.headers["Location"])

    for kid in new_kids:
        refused = _cli(app, "keys", "retire", "--", kid)
        assert refused.exit_code != 0 and "rotate" in refused.output  # an active key stays
    for kid in old_kids:
        retired = _cli(app, "keys", "retire", "--", kid)
        assert retired.exit_code == 0, retired.output
    assert not old_kids & set(_jwks(browser)) and new_kids <= set(_jwks(browser))
    assert browser.get("/userinfo", headers=bearer(old["access_token"])).status_code == 401
    hinted = authorize(browser, client, prompt="none", id_token_hint=old["id_token"])
    assert callback_params(hinted.headers["Location"])["error"] == "invalid_request"
    again = _cli(app, "keys", "retire", "--", sorted(old_kids)[0])
    assert again.exit_code != 0  # already retired: a clear error, not a silent success


def test_another_secret_key_cannot_use_the_keys(make_app):
    """DESIGN §8: keys are encrypted under SECRET_KEY; a provider (or a rotation) with another
    secret stops with a clear error instead of starting half-broken or mixing keys."""
    app = make_app()
    keys_before = count_rows(app, SigningKey)
    with pytest.raises(KeyDecryptionError, match="SECRET_KEY"):
        make_app(SECRET_KEY="a-different-secret-key-" + "y" * 16)
    store = store_of(app)
    try:
        with pytest.raises(KeyDecryptionError, match="SECRET_KEY"):
            rotate_keys(store, "a-different-secret-key-" + "y" * 16, 3600)
    finally:
        store.rollback()
        store.close()
    assert count_rows(app, SigningKey) == keys_before
    assert app.test_client().get("/jwks.json").status_code == 200  # the right secret still works
