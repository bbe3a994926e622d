"""The conformance suite against Porta itself: every plan, through the CLI and the plugin."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

from conformance_tests.cli import main
from tests.conformance.conftest import BROWSER_PLAN, chromium_available, require_tool, write_op_toml
from tests.conformance.porta_launcher import PortaOP, porta_op, share_database_with

HERE = Path(__file__).resolve().parent
EXPECTED_FAILURES = HERE / "porta_expected_failures.txt"
CODE_TTL_S = 2

# No skip when porta is missing: it is the package under test, and porta_op fails naming
# what is missing.


@pytest.fixture(scope="module")
def porta(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PortaOP]:
    with porta_op(tmp_path_factory.mktemp("porta")) as op:
        yield op


def test_porta_passes_every_plan(porta: PortaOP, tmp_path: Path) -> None:
    config = write_op_toml(tmp_path / "op.toml", porta.op_toml)
    reports = {kind: tmp_path / f"report.{kind}" for kind in ("json", "xml", "html")}
    status = main(["run", "--config", str(config), "--no-colour",
                   "--expected-failures", str(EXPECTED_FAILURES),
                   "--report-json", str(reports["json"]), "--report-junit", str(reports["xml"]),
                   "--report-html", str(reports["html"])])
    report = json.loads(reports["json"].read_text())
    failed = {r["id"]: r["message"] for r in report["results"]
              if r["status"] == "failed" and not r["expected_failure"]}
    assert status == 0 and not failed, failed
    plans = {r["plan"] for r in report["results"]}
    assert plans == {"basic", "config", "dynamic", "formpost", "logout", "security", "consent"}
    assert report["summary"]["passed"] >= 60
    skipped = {r["id"]: r["message"] for r in report["results"] if r["status"] == "skipped"}
    # Only the test that needs a long wait (run below) and those for features Porta does not
    # offer may skip: Porta implements the whole consent profile.
    allowed = {"rfc9700-code-expired": "code_lifetime_s",
               "rfc6750-userinfo-expired-token": "access_token_lifetime_s",  # run below too
               # Porta does not offer client_secret_jwt (idp/protocol/clients.py AUTH_METHODS)
               "rfc7523-client-secret-jwt": "client_secret_jwt is not in token_endpoint_auth_methods_supported",
               # Porta refuses request objects (request_parameter_supported: false)
               "oidcc-ensure-request-object-with-redirect-uri": "does not advertise unsigned request objects"}
    for test_id, reason in skipped.items():
        assert test_id in allowed and allowed[test_id] in reason, (test_id, reason)
    junit = ET.parse(reports["xml"]).getroot()
    assert int(junit.get("tests", "0")) == len(report["results"])
    assert porta.issuer in reports["html"].read_text()


def test_porta_expires_codes(porta: PortaOP, tmp_path: Path) -> None:
    """The expiry tests against a second server on the same database whose codes and access
    tokens live 2 s."""
    ttl = {"PORTA_AUTH_CODE_TTL": str(CODE_TTL_S), "PORTA_ACCESS_TOKEN_TTL": str(CODE_TTL_S)}
    with share_database_with(porta, tmp_path, ttl) as short:
        config = write_op_toml(tmp_path / "op.toml", {**short.op_toml, "timing": {
            "code_lifetime_s": CODE_TTL_S, "access_token_lifetime_s": CODE_TTL_S}})
        report_path = tmp_path / "report.json"
        status = main(["run", "--config", str(config), "--plan",
                       "rfc9700-code-expired,rfc6750-userinfo-expired-token",
                       "--report-json", str(report_path), "--no-colour"])
    results = json.loads(report_path.read_text())["results"]
    assert status == 0 and [r["status"] for r in results] == ["passed", "passed"], results


def test_plugin_runs_plans_as_pytest_items(porta: PortaOP, pytester: pytest.Pytester) -> None:
    config = write_op_toml(pytester.path / "op.toml", porta.op_toml)
    args = ["--porta-config", str(config), "--porta-plan", "config,formpost", "-q", "-p", "no:cacheprovider"]
    if not _plugin_installed():
        args = ["-p", "conformance_tests.plugin", *args]
    result = pytester.runpytest_subprocess(*args)
    result.assert_outcomes(passed=11)


def _plugin_installed() -> bool:
    from importlib.metadata import entry_points

    return any(e.value == "conformance_tests.plugin" for e in entry_points(group="pytest11"))


def test_browser_driver_against_porta(porta: PortaOP, tmp_path: Path) -> None:
    """Porta's login and consent pages driven by Chromium."""
    require_tool(chromium_available(), "Playwright or /usr/bin/chromium is missing")
    config = write_op_toml(tmp_path / "op.toml", {**porta.op_toml, "login": {"driver": "browser"}})
    report_path = tmp_path / "report.json"
    status = main(["run", "--config", str(config), "--plan", BROWSER_PLAN,
                   "--report-json", str(report_path), "--no-colour"])
    verdicts = {r["id"]: (r["status"], r["message"]) for r in json.loads(report_path.read_text())["results"]}
    assert status == 0 and {v[0] for v in verdicts.values()} == {"passed"}, verdicts
