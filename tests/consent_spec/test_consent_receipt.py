"""Receipt signing and verification (SPEC.md section 7)."""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from consent_spec import ReceiptVerificationError, sign_receipt, verify_receipt
from consent_spec.vectors import receipt_vectors, valid_vectors

VECTORS = receipt_vectors()
CLAIMS = next(v.document for v in valid_vectors() if v.name == "consent-receipt/given-receipt-claims.json")
ISSUER = CLAIMS["iss"]
CLIENT = CLAIMS["consent_record"]["request"]["relying_party"]["client_id"]


def _jwk(public_key: Any, kid: str, **extra: str) -> dict[str, Any]:
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        jwk = jwt.algorithms.ECAlgorithm.to_jwk(public_key, as_dict=True)
    elif isinstance(public_key, rsa.RSAPublicKey):
        jwk = jwt.algorithms.RSAAlgorithm.to_jwk(public_key, as_dict=True)
    else:
        jwk = jwt.algorithms.OKPAlgorithm.to_jwk(public_key, as_dict=True)
    return {**jwk, "kid": kid, **extra}


@pytest.fixture(scope="module")
def es256() -> tuple[ec.EllipticCurvePrivateKey, dict[str, Any]]:
    key = ec.generate_private_key(ec.SECP256R1())
    return key, {"keys": [_jwk(key.public_key(), "k1", use="sig", alg="ES256")]}


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


@pytest.mark.parametrize("entry", VECTORS["receipts"], ids=[e["file"] for e in VECTORS["receipts"]])
def test_receipt_vectors_verify_or_fail_for_the_stated_reason(entry: dict[str, Any]) -> None:
    if entry["valid"]:
        claims = verify_receipt(entry["jwt"], VECTORS["jwks"], issuer=VECTORS["issuer"])
        assert claims["consent_record"]["state"] == "given"
    else:
        with pytest.raises(ReceiptVerificationError) as caught:
            verify_receipt(entry["jwt"], VECTORS["jwks"])
        assert caught.value.reason == entry["reason"]


def test_sign_then_verify_round_trip(es256: Any) -> None:
    key, jwks = es256
    token = sign_receipt(CLAIMS, key, "k1")
    assert jwt.get_unverified_header(token) == {"alg": "ES256", "typ": "consent-receipt+jwt", "kid": "k1"}
    assert verify_receipt(token, jwks, issuer=ISSUER, audience=CLIENT) == CLAIMS
    assert verify_receipt(token, json.dumps(jwks)) == CLAIMS


def test_wrong_key_is_rejected(es256: Any) -> None:
    _, jwks = es256
    other = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(ReceiptVerificationError) as caught:
        verify_receipt(sign_receipt(CLAIMS, other, "k1"), jwks)
    assert caught.value.reason == "signature"


@pytest.mark.parametrize("typ", ["JWT", "at+jwt", "secevent+jwt", None])
def test_wrong_typ_is_rejected(es256: Any, typ: str | None) -> None:
    key, jwks = es256
    headers = {"kid": "k1", "typ": typ} if typ else {"kid": "k1"}
    token = jwt.encode(CLAIMS, key, algorithm="ES256", headers=headers)
    if typ is None:  # PyJWT adds typ JWT by default; strip it to test a missing typ
        _, payload, signature = token.split(".")
        token = ".".join([_b64({"alg": "ES256", "kid": "k1"}), payload, signature])
    with pytest.raises(ReceiptVerificationError) as caught:
        verify_receipt(token, jwks)
    assert caught.value.reason == "typ"


def test_typ_with_media_type_prefix_is_accepted(es256: Any) -> None:
    """RFC 7515 section 4.1.9: typ may carry the application/ prefix, any case."""
    key, jwks = es256
    token = jwt.encode(CLAIMS, key, algorithm="ES256", headers={"kid": "k1", "typ": "Application/Consent-Receipt+JWT"})
    assert verify_receipt(token, jwks)["jti"] == CLAIMS["jti"]


def test_alg_none_is_rejected(es256: Any) -> None:
    _, jwks = es256
    token = f"{_b64({'alg': 'none', 'typ': 'consent-receipt+jwt', 'kid': 'k1'})}.{_b64(CLAIMS)}."
    with pytest.raises(ReceiptVerificationError) as caught:
        verify_receipt(token, jwks)
    assert caught.value.reason == "alg"


def test_hmac_with_the_public_key_as_secret_is_rejected(es256: Any) -> None:
    """Algorithm confusion (RFC 8725 section 2.1): HS256 keyed with public key bytes."""
    _, jwks = es256
    secret = json.dumps(jwks["keys"][0]).encode()
    signing_input = f"{_b64({'alg': 'HS256', 'typ': 'consent-receipt+jwt', 'kid': 'k1'})}.{_b64(CLAIMS)}"
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    token = f"{signing_input}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"
    with pytest.raises(ReceiptVerificationError) as caught:
        verify_receipt(token, jwks)
    assert caught.value.reason == "alg"


def test_tampered_payload_is_rejected(es256: Any) -> None:
    key, jwks = es256
    header, _, signature = sign_receipt(CLAIMS, key, "k1").split(".")
    tampered = copy.deepcopy(CLAIMS)
    tampered["consent_record"]["granted"]["birthdate"]["purposes"].append("marketing")
    with pytest.raises(ReceiptVerificationError) as caught:
        verify_receipt(f"{header}.{_b64(tampered)}.{signature}", jwks)
    assert caught.value.reason == "signature"


def test_valid_signature_over_invalid_claims_is_rejected_with_paths(es256: Any) -> None:
    key, jwks = es256
    bad = dict(CLAIMS, sub="someone-else")
    token = jwt.encode(bad, key, algorithm="ES256", headers={"kid": "k1", "typ": "consent-receipt+jwt"})
    with pytest.raises(ReceiptVerificationError) as caught:
        verify_receipt(token, jwks)
    assert caught.value.reason == "schema"
    assert [(e.path, e.rule) for e in caught.value.errors] == [("$.sub", "receipt-subject")]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda jwk: jwk.update(kid="other"), "key"),
        (lambda jwk: jwk.update(use="enc"), "key"),
        (lambda jwk: jwk.update(alg="ES384"), "key"),
        (lambda jwk: jwk.update(kty="RSA"), "key"),
        (lambda jwk: jwk.update(d="AAAA"), "key"),
    ],
    ids=["unknown-kid", "encryption-key", "key-for-other-alg", "wrong-kty", "private-key-in-jwks"],
)
def test_unsuitable_keys_are_rejected(es256: Any, change: Any, reason: str) -> None:
    key, jwks = es256
    jwks = copy.deepcopy(jwks)
    change(jwks["keys"][0])
    with pytest.raises(ReceiptVerificationError) as caught:
        verify_receipt(sign_receipt(CLAIMS, key, "k1"), jwks)
    assert caught.value.reason == reason


def test_missing_kid_is_rejected(es256: Any) -> None:
    key, jwks = es256
    token = jwt.encode(CLAIMS, key, algorithm="ES256", headers={"typ": "consent-receipt+jwt"})
    with pytest.raises(ReceiptVerificationError, match="kid"):
        verify_receipt(token, jwks)


def test_crit_header_is_rejected(es256: Any) -> None:
    key, jwks = es256
    token = jwt.encode(CLAIMS, key, algorithm="ES256", headers={"kid": "k1", "typ": "consent-receipt+jwt", "crit": ["exp"]})
    with pytest.raises(ReceiptVerificationError) as caught:
        verify_receipt(token, jwks)
    assert caught.value.reason == "malformed"


def test_issuer_and_audience_are_checked_when_given(es256: Any) -> None:
    key, jwks = es256
    token = sign_receipt(CLAIMS, key, "k1")
    with pytest.raises(ReceiptVerificationError) as caught:
        verify_receipt(token, jwks, issuer="https://evil.example")
    assert caught.value.reason == "issuer"
    with pytest.raises(ReceiptVerificationError) as caught:
        verify_receipt(token, jwks, audience="another-client")
    assert caught.value.reason == "audience"


@pytest.mark.parametrize("junk", ["", "abc", "a.b", "a.b.c.d.e", "%%%.%%%.%%%"])
def test_malformed_input_is_rejected(es256: Any, junk: str) -> None:
    with pytest.raises(ReceiptVerificationError) as caught:
        verify_receipt(junk, es256[1])
    assert caught.value.reason == "malformed"


@pytest.mark.parametrize("jwks", [{}, {"keys": "x"}, "not json", []])
def test_malformed_jwks_is_rejected(es256: Any, jwks: Any) -> None:
    with pytest.raises(ReceiptVerificationError) as caught:
        verify_receipt(sign_receipt(CLAIMS, es256[0], "k1"), jwks)
    assert caught.value.reason == "key"


@pytest.mark.parametrize("alg", ["RS256", "PS256", "EdDSA", "ES384"])
def test_other_allowed_algorithms_verify(alg: str) -> None:
    if alg in {"RS256", "PS256"}:
        key: Any = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    elif alg == "EdDSA":
        key = ed25519.Ed25519PrivateKey.generate()
    else:
        key = ec.generate_private_key(ec.SECP384R1())
    jwks = {"keys": [_jwk(key.public_key(), "k-" + alg, alg=alg)]}
    token = sign_receipt(CLAIMS, key, "k-" + alg, algorithm=alg)
    assert verify_receipt(token, jwks)["jti"] == CLAIMS["jti"]


def test_sign_receipt_refuses_invalid_claims_and_disallowed_algorithms(es256: Any) -> None:
    key, _ = es256
    with pytest.raises(ValueError, match="record_hash"):
        sign_receipt({k: v for k, v in CLAIMS.items() if k != "record_hash"}, key, "k1")
    with pytest.raises(ValueError, match="not allowed"):
        sign_receipt(CLAIMS, b"secret", "k1", algorithm="HS256")
