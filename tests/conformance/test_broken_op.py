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
from conformance_tests.registry import all_tests
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
    "userinfo_ignores_revocation": ("rfc6750-userinfo-revoked-token", "failed", "expected HTTP 401"),
    "consent_receipt_wrong_typ": ("consent-receipt-in-token-response", "failed", "typ"),
    "consent_unticked_claim_released": ("consent-unticked-claims-never-leak", "failed", "unticked claim released"),
    "consent_withdrawal_keeps_tokens": ("consent-withdrawal-revokes-tokens", "failed", "UserInfo still answers 200"),
    "consent_event_not_pushed": ("consent-withdrawal-revokes-tokens", "failed", "no Security Event Token"),
    "consent_export_chain_broken": ("consent-ledger-export-validates", "failed", "not a valid portable-profile"),
}
EXPIRY_WAIT_S = 1.0


def _run(config: Path, plan: str, tmp_path: Path, lifetime: float | None = None) -> tuple[int, dict]:
    if lifetime is not None:
        data = tomllib.loads(config.read_text())
        data.setdefault("timing", {})["code_lifetime_s"] = lifetime
        config.write_bytes(tomli_w.dumps(data).encode())
    report = tmp_path / "report.json"
    status = main(["run", "--config", str(config), "--plan", plan, "--report-json", str(report),
                   "--no-colour"])
    return status, json.loads(report.read_text())


def test_every_fault_has_a_test_and_every_security_and_consent_test_a_fault() -> None:
    assert set(FAULT_TO_TEST) == set(FAULTS)
    security_ids = {t.id for t in all_tests() if t.plan in {"security", "consent"}}
    covered = {test_id for test_id, _, _ in FAULT_TO_TEST.values()}
    assert security_ids <= covered, f"security tests without a fault: {security_ids - covered}"


def test_double_without_faults_passes_security_and_consent_plans(broken: BrokenOP, broken_config: Path,
                                                                 tmp_path: Path) -> None:
    broken.set_fault(None)
    status, report = _run(broken_config, "security,consent,oidcc-codereuse", tmp_path)
    verdicts = {r["id"]: (r["status"], r["message"]) for r in report["results"]}
    assert status == 0, verdicts
    expired = verdicts.pop("rfc9700-code-expired")
    assert expired[0] == "skipped" and "code_lifetime_s" in expired[1]
    assert all(s == "passed" for s, _ in verdicts.values()), verdicts


def test_double_without_faults_expires_codes(broken: BrokenOP, broken_config: Path,
                                             tmp_path: Path) -> None:
    """The expiry test, configured with the double's code lifetime, passes when codes expire."""
    broken.set_fault(None, code_lifetime_s=EXPIRY_WAIT_S)
    try:
        status, report = _run(broken_config, "rfc9700-code-expired", tmp_path, lifetime=EXPIRY_WAIT_S)
    finally:
        broken.set_fault(None)
    assert status == 0
    assert [r["status"] for r in report["results"]] == ["passed"]


@pytest.mark.parametrize("fault", sorted(FAULT_TO_TEST))
def test_fault_turns_its_test_red(fault: str, broken: BrokenOP, broken_config: Path,
                                  tmp_path: Path) -> None:
    test_id, verdict, words = FAULT_TO_TEST[fault]
    expiry = test_id == "rfc9700-code-expired"
    broken.set_fault(fault, code_lifetime_s=EXPIRY_WAIT_S if expiry else 60.0)
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
