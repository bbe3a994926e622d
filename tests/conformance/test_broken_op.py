"""Proof that each security (and consent) test can fail.

The broken provider passes the security plan with no fault switched on; with one fault on,
only the test aimed at that fault is run (``--plan <id>``) and it must turn FAILED (WARNING
for a recommended rule).
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest
import tomli_w

from conformance_tests.cli import main
from conformance_tests.registry import PLANS, all_tests
from tests.conformance.broken_op.app import FAULTS
from tests.conformance.broken_op.server import BrokenOP

FAULT_TO_TEST: dict[str, tuple[str, str, str]] = {
    # fault: (test id, verdict the fault must produce, words the failure message must contain)
    "code_reusable": ("oidcc-codereuse", "failed", "second redemption answered HTTP 200"),
    "code_reuse_keeps_tokens": ("rfc9700-code-reuse-revokes-tokens", "failed", "still works (required"),
    "code_any_client": ("rfc9700-code-other-client", "failed", "code redeemed by another client: accepted"),
    "code_never_expires": ("rfc9700-code-expired", "failed", "accepted"),
    "redirect_uri_prefix_match": ("rfc9700-redirect-uri-exact-match", "failed", "was accepted"),
    "token_ignores_redirect_uri": ("rfc9700-redirect-uri-token-mismatch", "failed", "mismatched redirect_uri: accepted"),
    "pkce_downgrade": ("rfc9700-pkce-downgrade", "failed", "code_verifier without code_challenge: accepted"),
    "pkce_verifier_optional": ("rfc9700-pkce-verifier-missing", "failed", "no code_verifier: accepted"),
    "pkce_verifier_unchecked": ("rfc9700-pkce-verifier-mismatch", "failed", "wrong code_verifier: accepted"),
    "public_client_without_pkce": ("rfc9700-pkce-required-public-client", "warning", "public client without PKCE"),
    "no_iss_on_error": ("rfc9207-iss-parameter", "failed", "error response iss=None"),
    "iss_not_advertised": ("rfc9700-mix-up-defence-advertised", "warning", "is not true"),
    "refresh_not_rotated": ("rfc9700-refresh-rotation", "failed", "did not rotate"),
    "refresh_reuse_not_detected": ("rfc9700-refresh-reuse-detected", "failed", "reused refresh token: accepted"),
    "assertion_replay_allowed": ("rfc7523-client-assertion-replay", "failed", "replayed client assertion: accepted"),
    "assertion_alg_none_accepted": ("rfc8725-client-assertion-alg-none", "failed", "alg none assertion: accepted"),
    "assertion_hs256_public_key": ("rfc8725-client-assertion-hs256-public-key", "failed", "keyed with the public key: accepted"),
    "login_page_framable": ("rfc9700-clickjacking-login", "failed", "X-Frame-Options=None"),
    "login_redirect_307": ("rfc9700-login-redirect-not-307", "failed", "HTTP 307"),
    "logout_open_redirect": ("rfc9700-logout-open-redirect", "failed", "end_session redirected to"),
    "client_secret_unchecked": ("rfc6749-client-secret-wrong", "failed", "wrong client secret: accepted"),
    "client_secret_any_client": ("rfc6749-client-secret-of-another-client", "failed", "with the secret of"),
    "auth_method_not_enforced": ("rfc7591-registered-auth-method-enforced", "warning",
                                 "authenticating with client_secret_post: accepted"),
    "assertion_aud_unchecked": ("rfc7523-client-assertion-wrong-audience", "failed",
                                "aud https://attacker.invalid/token: accepted"),
    "assertion_exp_unchecked": ("rfc7523-client-assertion-expired", "failed", "(10 min ago): accepted"),
    "token_redirect_uri_optional": ("rfc6749-token-redirect-uri-required", "failed",
                                    "without redirect_uri: accepted"),
    "refresh_narrows_scope": ("rfc6749-refresh-same-scope", "failed", "expected the originally granted"),
    "refresh_widens_scope": ("rfc6749-refresh-scope-not-widened", "failed", "refresh widened the scope"),
    "refresh_any_client": ("rfc6749-refresh-token-bound-to-client", "failed", "refresh token: accepted"),
    "revocation_noop": ("rfc7009-revoke-refresh-token", "failed", "revoked refresh token: accepted"),
    "revocation_unknown_token_error": ("rfc7009-revocation-invalid-token", "failed", "expected HTTP 200"),
    "revocation_without_client_auth": ("rfc7009-revocation-requires-client-auth", "failed",
                                       "revocation without client credentials: HTTP 200"),
    "revocation_any_client": ("rfc7009-revocation-other-client", "failed", "tried to revoke the token"),
    "introspection_active_as_string": ("rfc7662-introspection-response", "failed", "requires a JSON boolean"),
    "introspection_without_auth": ("rfc7662-introspection-requires-authorization", "failed",
                                   "without any credentials answered active: true"),
    "introspection_ignores_revocation": ("rfc7662-introspection-revoked-inactive", "failed",
                                         "is still reported active"),
    "introspection_any_client": ("rfc7662-introspection-other-client", "failed",
                                 "keeps access_tokens private to their client"),
    "userinfo_ignores_revocation": ("rfc6750-userinfo-revoked-token", "failed", "expected HTTP 401"),
    # ID tokens (OIDC Core §2, §3.1.3.7), checked in every test that validates one
    "id_token_at_hash_wrong": ("oidcc-server", "failed", "at_hash"),
    "id_token_exp_equals_iat": ("oidcc-server", "failed", "is not after its iat"),
    "id_token_iat_stale": ("oidcc-server", "failed", "s from this machine's clock"),
    "id_token_azp_other": ("oidcc-server", "failed", "azp 'another-rp' is not the client_id"),
    "id_token_nonce_dropped": ("oidcc-server", "failed", "is not the request's nonce"),
    "id_token_wrong_key": ("oidcc-idtoken-signature", "failed", "signature does not verify"),
    "id_token_auth_time_missing": ("oidcc-max-age-10000", "failed", "lacks auth_time"),
    "max_age_ignored": ("oidcc-max-age-1", "failed", "did not show the login page"),
    "state_dropped": ("oidcc-server", "failed", "state not returned"),
    "response_type_missing_accepted": ("oidcc-response-type-missing", "failed", "without response_type"),
    "redirect_uri_unchecked": ("oidcc-ensure-registered-redirect-uri", "failed", "unregistered redirect_uri"),
    "redirect_uri_query_ignored": ("oidcc-redirect-uri-query-mismatch", "failed", "redirected anyway"),
    "prompt_none_shows_login": ("oidcc-prompt-none-not-logged-in", "failed", "expected an error redirect"),
    "prompt_login_ignored": ("oidcc-prompt-login", "failed", "did not show the login page"),
    "userinfo_wrong_sub": ("oidcc-userinfo-get", "failed", "differs from the ID token's"),
    "userinfo_no_challenge": ("porta-userinfo-invalid-token", "failed", "is not a Bearer challenge"),
    "refresh_changes_sub": ("oidcc-refresh-token", "failed", "refreshed ID token sub changed"),
    "discovery_issuer_mismatch": ("porta-discovery-issuer-matches", "failed", "!= configured"),
    "jwks_private_members": ("porta-jwks-contents", "failed", "publishes private members ['d']"),
    "pkce_not_advertised": ("porta-discovery-pkce-s256", "failed", "code_challenge_methods_supported is None"),
    "form_post_no_iss": ("porta-form-post-iss", "failed", "iss=None"),
    "registration_accepts_fragment": ("oidcc-redirect-uri-regfrag", "failed", "HTTP 201"),
    "registration_accepts_relative": ("porta-registration-rejects-bad-redirect", "failed", "HTTP 201"),
    "logout_target_unchecked_with_hint": ("oidcc-rp-initiated-logout-bad-post-logout-redirect-uri", "failed",
                                          "redirected to an unregistered URI"),
    "logout_prefix_match": ("oidcc-rp-initiated-logout-query-added-to-post-logout-redirect-uri", "failed",
                            "redirected to a modified URI"),
    "logout_hint_unverified": ("oidcc-rp-initiated-logout-modified-id-token-hint", "failed",
                               "accepted a forged id_token_hint"),
    # the Basic OP plan's request parameters
    "display_page_refused": ("oidcc-display-page", "failed", "display=page: no code came back"),
    "display_popup_refused": ("oidcc-display-popup", "failed", "display=popup: no code came back"),
    "ui_locales_refused": ("oidcc-ui-locales", "failed", "no code came back"),
    "claims_locales_refused": ("oidcc-claims-locales", "failed", "no code came back"),
    "acr_values_refused": ("oidcc-ensure-request-with-acr-values-succeeds", "failed", "no authorization code"),
    "authorize_post_unsupported": ("oidcc-ensure-post-request-succeeds", "failed", "HTTP 405"),
    "pkce_s256_compared_as_plain": ("oidcc-ensure-request-with-valid-pkce-succeeds", "failed",
                                    "right code_verifier: HTTP 400"),
    "code_reusable_after_delay": ("oidcc-codereuse-30seconds", "failed", "second redemption of the code: accepted"),
    "address_withheld": ("oidcc-scope-address", "warning", "scope address: none of ['address']"),
    "phone_withheld": ("oidcc-scope-phone", "warning", "scope phone: none of"),
    "scope_claims_withheld": ("oidcc-scope-all", "warning", "scope profile: none of"),
    "id_token_alg_none_honoured": ("oidcc-idtoken-unsigned", "failed", "does not list none"),
    "client_secret_jwt_unverified": ("rfc7523-client-secret-jwt", "failed", "keyed with another secret: accepted"),
    "request_object_ignored": ("oidcc-unsigned-request-object-supported-correctly-or-rejected-as-unsupported",
                               "failed", "the request object was ignored"),
    "request_uri_ignored": ("oidcc-request-uri-unsigned-supported-correctly-or-rejected-as-unsupported",
                            "failed", "the parameter was ignored"),
    "access_token_never_expires": ("rfc6750-userinfo-expired-token", "failed", "past its lifetime: HTTP 200"),
    "consent_receipt_wrong_typ": ("consent-receipt-in-token-response", "failed", "typ"),
    "consent_unticked_claim_released": ("consent-unticked-claims-never-leak", "failed", "unticked claim released"),
    "consent_withdrawal_keeps_tokens": ("consent-withdrawal-revokes-tokens", "failed", "UserInfo still answers 200"),
    "consent_event_not_pushed": ("consent-withdrawal-revokes-tokens", "failed", "no Security Event Token"),
    "consent_export_chain_broken": ("consent-ledger-export-validates", "failed", "not a valid portable-profile"),
}
EXPIRY_WAIT_S = 1.0
EXPIRY_TESTS = ("rfc9700-code-expired", "rfc6750-userinfo-expired-token")
"""Tests that wait for a lifetime; op.toml and the double both get EXPIRY_WAIT_S for them."""


def _run(config: Path, plan: str, tmp_path: Path, lifetime: float | None = None) -> tuple[int, dict]:
    if lifetime is not None:
        data = tomllib.loads(config.read_text())
        data.setdefault("timing", {}).update(code_lifetime_s=lifetime, access_token_lifetime_s=lifetime)
        config.write_bytes(tomli_w.dumps(data).encode())
    report = tmp_path / "report.json"
    status = main(["run", "--config", str(config), "--plan", plan, "--report-json", str(report),
                   "--no-colour"])
    return status, json.loads(report.read_text())


WITHOUT_FAULT = {
    # test id: why no fault of the double can make it fail
    "oidcc-userinfo-post-header": "the same UserInfo code path as oidcc-userinfo-get, by POST",
    "oidcc-userinfo-post-body": "the same UserInfo code path, token in the body (a MAY of RFC 6750)",
    "oidcc-ensure-request-without-nonce-succeeds-for-code-flow": "interoperability, not a security rule",
    "oidcc-ensure-request-with-unknown-parameter-succeeds": "interoperability, not a security rule",
    "oidcc-ensure-other-scope-order-succeeds": "interoperability, not a security rule",
    "oidcc-scope-email": "the double's email release is what the consent plan's faults attack",
    "oidcc-scope-profile": "covered by scope_claims_withheld through oidcc-scope-all",
    "oidcc-prompt-none-logged-in": "interoperability (silent re-authentication works)",
    "oidcc-id-token-hint": "interoperability (a valid hint is accepted)",
    "oidcc-login-hint": "interoperability (a hint is accepted)",
    "oidcc-server-client-secret-post": "the positive case of the client authentication faults",
    "oidcc-claims-essential": "the double does not offer the claims parameter",
    "oidcc-discovery-endpoint-verification": "metadata shape, proven by the config plan against both peers",
    "porta-discovery-rs256": "metadata content, not a security rule",
    "porta-discovery-userinfo-endpoint": "metadata content (RECOMMENDED member)",
    "porta-discovery-scopes-supported": "metadata content (RECOMMENDED member)",
    "porta-registration-response": "registration response shape",
    "oidcc-redirect-uri-query-OK": "interoperability (a registered query is kept)",
    "oidcc-redirect-uri-query-added": "covered by redirect_uri_prefix_match through rfc9700-redirect-uri-exact-match",
    "oidcc-registration-logo-uri": "registration metadata echo (recommended)",
    "oidcc-idtoken-rs256": "the double signs only with RS256",
    "porta-registration-jwks": "the positive case of the private_key_jwt faults",
    "porta-registration-read": "the double does not offer RFC 7592",
    "oidcc-ensure-request-object-with-redirect-uri": "the double refuses request objects, so it is skipped there",
    "porta-form-post-server": "response mode delivery, not a security rule",
    "porta-form-post-error": "response mode delivery, not a security rule",
    "oidcc-rp-initiated-logout": "the positive logout flow",
    "oidcc-rp-initiated-logout-no-state": "interoperability (state is optional)",
}
"""Every other test has a fault in the double that turns it red."""


def test_every_fault_has_a_test_and_every_test_a_fault_or_a_reason() -> None:
    assert set(FAULT_TO_TEST) == set(FAULTS)
    ids = {t.id for t in all_tests()}
    covered = {test_id for test_id, _, _ in FAULT_TO_TEST.values()}
    assert covered <= ids, covered - ids
    assert not covered & set(WITHOUT_FAULT), covered & set(WITHOUT_FAULT)
    assert set(WITHOUT_FAULT) <= ids, set(WITHOUT_FAULT) - ids
    assert ids - set(WITHOUT_FAULT) <= covered, f"tests without a fault: {ids - set(WITHOUT_FAULT) - covered}"
    security_ids = {t.id for t in all_tests() if t.plan in {"security", "consent"}}
    assert security_ids <= covered, f"security tests without a fault: {security_ids - covered}"


def test_double_without_faults_passes_every_plan(broken: BrokenOP, broken_config: Path,
                                                 tmp_path: Path) -> None:
    broken.set_fault(None)
    status, report = _run(broken_config, ",".join(PLANS), tmp_path)
    verdicts = {r["id"]: (r["status"], r["message"]) for r in report["results"]}
    assert status == 0, verdicts
    skipped = {"rfc9700-code-expired": "code_lifetime_s", "oidcc-claims-essential": "claims_parameter_supported",
               "porta-registration-read": "RFC 7592 not offered",
               "rfc6750-userinfo-expired-token": "access_token_lifetime_s",
               "oidcc-ensure-request-object-with-redirect-uri": "does not advertise unsigned request objects"}
    for test_id, words in skipped.items():
        verdict = verdicts.pop(test_id)
        assert verdict[0] == "skipped" and words in verdict[1], (test_id, verdict)
    assert all(s == "passed" for s, _ in verdicts.values()), verdicts


def test_double_without_faults_expires_codes(broken: BrokenOP, broken_config: Path,
                                             tmp_path: Path) -> None:
    """The expiry tests, configured with the double's lifetimes, pass when codes and tokens expire."""
    broken.set_fault(None, code_lifetime_s=EXPIRY_WAIT_S, access_token_lifetime_s=EXPIRY_WAIT_S)
    try:
        status, report = _run(broken_config, ",".join(EXPIRY_TESTS), tmp_path, lifetime=EXPIRY_WAIT_S)
    finally:
        broken.set_fault(None)
    assert status == 0
    assert [r["status"] for r in report["results"]] == ["passed", "passed"], report["results"]


@pytest.mark.parametrize("fault", sorted(FAULT_TO_TEST))
def test_fault_turns_its_test_red(fault: str, broken: BrokenOP, broken_config: Path,
                                  tmp_path: Path) -> None:
    test_id, verdict, words = FAULT_TO_TEST[fault]
    expiry = test_id in EXPIRY_TESTS
    broken.set_fault(fault, code_lifetime_s=EXPIRY_WAIT_S if expiry else 60.0,
                     access_token_lifetime_s=EXPIRY_WAIT_S if expiry else 300.0)
    try:
        status, report = _run(broken_config, test_id, tmp_path,
                              lifetime=EXPIRY_WAIT_S if expiry else None)
    finally:
        broken.set_fault(None)
    [result] = report["results"]
    assert result["id"] == test_id
    assert result["status"] == verdict, result
    assert words in result["message"], result  # failed for the fault's reason, not another
    assert status == (1 if verdict == "failed" else 0)


def test_code_reuse_revocation_is_a_warning_without_the_rfc9700_claim(broken: BrokenOP, broken_config: Path,
                                                                      tmp_path: Path) -> None:
    """RFC 6749 §4.1.2 makes the revocation a SHOULD; only conforms_to = ["rfc9700"] makes it fail."""
    data = tomllib.loads(broken_config.read_text())
    del data["provider"]
    broken_config.write_bytes(tomli_w.dumps(data).encode())
    broken.set_fault("code_reuse_keeps_tokens")
    try:
        status, report = _run(broken_config, "rfc9700-code-reuse-revokes-tokens", tmp_path)
    finally:
        broken.set_fault(None)
    [result] = report["results"]
    assert (status, result["status"]) == (0, "warning"), result
    assert "still works (recommended)" in result["message"], result
