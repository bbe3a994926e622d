"""The conformance suite against an independent provider: node-oidc-provider from npm.

It must report passes for what that provider supports and no false failures; features it
does not offer (the consent_spec profile, the waiting expired-code test) are skipped.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from conformance_tests.cli import main
from tests.conformance.conftest import BROWSER_PLAN, chromium_available, require_tool, write_op_toml
from tests.interop.node_op.launcher import DEFAULT_USER, node_op


@pytest.fixture(scope="module", autouse=True)
def _node_installed() -> None:
    """Before the module's provider starts: node is an optional tool, except in CI."""
    require_tool(shutil.which("node") is not None, "node is not installed")

RP = {"client_id": "conformance-rp", "client_secret": "conformance-rp-secret-0123456789",
      "redirect_uris": ["http://127.0.0.1:8976/porta-conformance/rp"],
      "post_logout_redirect_uris": ["http://127.0.0.1:8976/porta-conformance/rp-bye"]}
HERE = Path(__file__).resolve().parent
EXPECTED_FAILURES = HERE / "node_expected_failures.txt"
KNOWN_WARNINGS = {
    # oidc-provider accepts client_secret_basic and client_secret_post interchangeably
    # (lib/shared/client_auth.js); enforcing the registered method is a recommendation.
    "rfc7591-registered-auth-method-enforced": "authenticating with client_secret_post: accepted",
}
SKIPS = {
    "rfc9700-code-expired": "code_lifetime_s",  # run by test_node_oidc_provider_expires_codes
    # tests/interop/node_op/launcher.py has no option for the access token lifetime
    "rfc6750-userinfo-expired-token": "access_token_lifetime_s",
    # the deployment's claims configuration offers no address or phone scope
    "oidcc-scope-address": "lacks ['address']",
    "oidcc-scope-phone": "lacks ['phone']",
    "oidcc-scope-all": "lacks ['address', 'phone']",
    # request objects are off by default (features.requestObjects.enabled: false)
    "oidcc-ensure-request-object-with-redirect-uri": "does not advertise unsigned request objects",
}
NATIVE = {"client_id": "conformance-native", "token_endpoint_auth_method": "none",
          "redirect_uris": ["http://127.0.0.1:8976/porta-conformance/native"]}


def node_op_toml(issuer: str) -> dict:
    """op.toml for the node-oidc-provider deployment of tests/interop/node_op."""
    return {
        "issuer": issuer,
        "client": {"client_id": RP["client_id"], "client_secret": RP["client_secret"],
                   "redirect_uri": RP["redirect_uris"][0],
                   "post_logout_redirect_uri": RP["post_logout_redirect_uris"][0]},
        "public_client": {"client_id": NATIVE["client_id"], "redirect_uri": NATIVE["redirect_uris"][0]},
        "user": {"username": DEFAULT_USER["username"], "password": DEFAULT_USER["password"]},
        "timing": {"code_reuse_wait_s": 2},  # the OIDF module's 30 s, shortened for CI
        # oidc-provider's default features.introspection.allowedPolicy describes any token to any
        # confidential client; for access tokens (resource servers are clients) that is declared
        # here as the policy, refresh tokens stay held to RFC 6749 §10.4 (an expected failure).
        "provider": {"introspection_shared": ["access_token"]},
    }


@pytest.fixture(scope="module")
def node_issuer() -> Iterator[str]:
    with node_op(clients=[RP, NATIVE]) as issuer:
        yield issuer


def test_node_oidc_provider_passes_what_it_supports(node_issuer: str, tmp_path: Path) -> None:
    config = write_op_toml(tmp_path / "op.toml", node_op_toml(node_issuer))
    report_path = tmp_path / "report.json"
    status = main(["run", "--config", str(config), "--report-json", str(report_path), "--no-colour",
                   "--expected-failures", str(EXPECTED_FAILURES)])
    report = json.loads(report_path.read_text())
    verdicts = {r["id"]: (r["status"], r["message"]) for r in report["results"]}
    not_passed = {k: v for k, v in verdicts.items() if v[0] != "passed"}
    assert status == 0, not_passed
    known = {r["id"] for r in report["results"] if r["expected_failure"]}
    for test_id, (verdict, reason) in not_passed.items():
        if test_id in known:
            assert verdict == "failed", (test_id, verdict, reason)
        elif test_id in KNOWN_WARNINGS:
            assert verdict == "warning" and KNOWN_WARNINGS[test_id] in reason, (test_id, verdict, reason)
        else:
            assert verdict == "skipped", (test_id, verdict, reason)
            assert test_id in SKIPS or test_id.startswith("consent-"), (test_id, reason)
            assert SKIPS.get(test_id, "consent_receipts_supported") in reason, (test_id, reason)
    assert "consent_receipts_supported" in verdicts["consent-receipt-in-token-response"][1]
    assert report["summary"]["passed"] >= 60


def test_node_oidc_provider_expires_codes(tmp_path: Path) -> None:
    """rfc9700-code-expired against a second instance whose codes live 2 s."""
    with node_op(clients=[RP, NATIVE], code_ttl=2) as issuer:
        config = write_op_toml(tmp_path / "op.toml", {**node_op_toml(issuer), "timing": {"code_lifetime_s": 2}})
        report_path = tmp_path / "report.json"
        status = main(["run", "--config", str(config), "--plan", "rfc9700-code-expired",
                       "--report-json", str(report_path), "--no-colour"])
    [result] = json.loads(report_path.read_text())["results"]
    assert (status, result["status"]) == (0, "passed"), result


def test_browser_driver_against_node_oidc_provider(node_issuer: str, tmp_path: Path) -> None:
    """The Chromium driver logs in, consents, captures form_post and logs out."""
    require_tool(chromium_available(), "Playwright or /usr/bin/chromium is missing")
    config = write_op_toml(tmp_path / "op.toml", {**node_op_toml(node_issuer), "login": {"driver": "browser"}})
    report_path = tmp_path / "report.json"
    status = main(["run", "--config", str(config), "--plan", BROWSER_PLAN,
                   "--report-json", str(report_path), "--no-colour"])
    verdicts = {r["id"]: r["status"] for r in json.loads(report_path.read_text())["results"]}
    assert status == 0 and set(verdicts.values()) == {"passed"}, verdicts
    assert len(verdicts) == len(BROWSER_PLAN.split(","))
