"""The suite's own machinery: config errors, verdict rules, expected failures, reports, plugin."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from conformance_tests import config as op_config
from conformance_tests import report
from conformance_tests.cli import main
from conformance_tests.context import check_id_token_claims, token_hash
from conformance_tests.drivers.base import choose_button, parse_forms
from conformance_tests.oidf import BASIC_PLAN, OIDF_PLANS
from conformance_tests.registry import (
    PLANS,
    CheckFailed,
    ConformanceTest,
    all_tests,
    expect,
    fail,
    select,
    skip,
)
from conformance_tests.runner import Result, RunReport, load_expected_failures, run_one
from tests.conformance.broken_op.server import BrokenOP
from tests.conformance.conftest import write_op_toml

MINIMAL = {"issuer": "https://op.example", "user": {"username": "u", "password": "p"}}


# --- config ------------------------------------------------------------------------------

@pytest.mark.parametrize(("change", "key"), [
    ({"issuer": None}, "issuer: missing"),
    ({"issuer": "op.example"}, "issuer: 'op.example' is not an absolute http(s) URL"),
    ({"user": {"username": "u"}}, "user.password: missing"),
    ({"client": {"client_id": "a", "client_secret": "b", "redirect_uri": "https://rp/cb", "secret": "x"}},
     "client.secret: unknown key"),
    ({"client": {"client_id": "a", "redirect_uri": "https://rp/cb"}}, "client.client_secret: missing"),
    ({"client": {"client_id": "a", "client_secret": "b", "redirect_uri": "https://rp/cb",
                 "token_endpoint_auth_method": "private_key_jwt"}}, "client.token_endpoint_auth_method"),
    ({"login": {"driver": "selenium"}}, "login.driver: 'selenium'"),
    ({"login": {"approve_button": "approve"}}, "login.approve_button: expected name=value"),
    ({"timing": {"code_lifetime_s": -1}}, "timing.code_lifetime_s"),
    ({"colour": "blue"}, "colour: unknown key"),
    ({"provider": {"introspection_shared": "access_token"}}, "provider.introspection_shared: expected a list"),
    ({"provider": {"introspection_shared": ["id_token"]}}, "provider.introspection_shared: unknown ['id_token']"),
])
def test_config_error_names_the_bad_key(change: dict, key: str) -> None:
    data = {**MINIMAL, **change}
    data = {k: v for k, v in data.items() if v is not None}
    with pytest.raises(op_config.ConfigError) as error:
        op_config.parse(data)
    assert str(error.value).startswith(key), str(error.value)


def test_full_config_parses(tmp_path: Path) -> None:
    path = write_op_toml(tmp_path / "op.toml", {
        **MINIMAL,
        "client": {"client_id": "rp", "client_secret": "s", "redirect_uri": "http://127.0.0.1:1/cb",
                   "token_endpoint_auth_method": "client_secret_post"},
        "public_client": {"client_id": "app", "redirect_uri": "http://127.0.0.1:1/app"},
        "login": {"driver": "browser", "username_field": "email", "approve_button": "decision=approve"},
        "timing": {"code_lifetime_s": 60},
        "provider": {"introspection_shared": ["access_token"]},
    })
    cfg = op_config.load(path)
    assert cfg.introspection_shared == {"access_token"}
    assert cfg.client is not None and cfg.client.token_endpoint_auth_method == "client_secret_post"
    assert cfg.public_client is not None and cfg.public_client.is_public
    assert (cfg.login.driver, cfg.login.username_field, cfg.code_lifetime_s) == ("browser", "email", 60.0)


def test_cli_reports_config_errors_with_status_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "op.toml"
    path.write_text('issuer = "https://op.example"\n[user]\nusername = "u"\n')
    assert main(["run", "--config", str(path)]) == 2
    assert "user.password: missing" in capsys.readouterr().err
    path.write_text("issuer = ")
    assert main(["run", "--config", str(path)]) == 2
    assert "not valid TOML" in capsys.readouterr().err


# --- selection ---------------------------------------------------------------------------

def test_every_test_names_a_spec_section_and_a_known_plan() -> None:
    tests = all_tests()
    assert {t.plan for t in tests} == set(PLANS)
    assert len({t.id for t in tests}) == len(tests)
    for t in tests:
        assert t.spec and t.title, t.id
        assert t.func.__doc__, f"{t.id} has no docstring"


def test_plan_accepts_plans_and_single_ids(capsys: pytest.CaptureFixture[str]) -> None:
    chosen = select("config,oidcc-codereuse")
    assert {t.plan for t in chosen} == {"config", "basic"}
    assert [t.id for t in chosen if t.plan == "basic"] == ["oidcc-codereuse"]
    assert main(["run", "--config", "unused.toml", "--plan", "basic,no-such-test"]) == 2
    assert "no-such-test" in capsys.readouterr().err
    assert main(["list", "--plan", "security"]) == 0
    assert "rfc9700-pkce-downgrade" in capsys.readouterr().out


# --- verdicts ----------------------------------------------------------------------------

def _fake(test_id: str, required: bool, body: object) -> ConformanceTest:
    def func(ctx: object) -> None:
        if callable(body):
            body()

    return ConformanceTest(test_id, "basic", "RFC 0000 §0", "fake", required, func)


def _failing() -> None:
    expect(False, "rule broken")


def _skipping() -> None:
    skip("not offered")


def _crashing() -> None:
    raise KeyError("boom")


@pytest.mark.parametrize(("required", "body", "status"), [
    (True, None, "passed"),
    (True, _failing, "failed"),
    (False, _failing, "warning"),
    (True, _skipping, "skipped"),
    (True, _crashing, "failed"),
])
def test_verdicts(required: bool, body: object, status: str) -> None:
    result = run_one(_fake("t", required, body), ctx=None, expected={})  # type: ignore[arg-type]
    assert result.status == status
    if body is _crashing:
        assert result.message.startswith("error: KeyError")


def test_expected_failures_do_not_fail_the_run_and_shrink(tmp_path: Path) -> None:
    listing = tmp_path / "expected.txt"
    listing.write_text("# known\nt-fails: waiting for the fix\nt-passes: was broken\n\n")
    expected = load_expected_failures(listing)
    assert expected == {"t-fails": "waiting for the fix", "t-passes": "was broken"}
    report_ = RunReport(issuer="https://op.example")
    report_.results = [run_one(_fake("t-fails", True, _failing), None, expected),  # type: ignore[arg-type]
                       run_one(_fake("t-passes", True, None), None, expected)]  # type: ignore[arg-type]
    assert report_.results[0].status == "failed" and report_.results[0].expected_failure
    assert report_.results[1].unexpected_pass
    assert report_.exit_status == 0
    report_.results.append(run_one(_fake("t-new", True, _failing), None, expected))  # type: ignore[arg-type]
    assert report_.exit_status == 1
    listing.write_text("t-fails\n")
    with pytest.raises(ValueError, match=r"expected\.txt:1"):
        load_expected_failures(listing)


def test_a_failure_can_carry_its_own_level() -> None:
    """fail(required=True) inside a recommended test is FAILED; required=False a WARNING."""
    must = run_one(_fake("t", False, lambda: fail("MUST broken", required=True)), None, {})  # type: ignore[arg-type]
    should = run_one(_fake("t", True, lambda: fail("SHOULD broken", required=False)), None, {})  # type: ignore[arg-type]
    assert (must.status, should.status) == ("failed", "warning")


# --- ID token claims -----------------------------------------------------------------------

NOW = 1_800_000_000
GOOD = {"iss": "https://op.example", "sub": "s", "aud": "rp", "iat": NOW, "exp": NOW + 300, "nonce": "n"}


@pytest.mark.parametrize(("change", "words"), [
    ({"exp": NOW}, "exp 1800000000 is not after its iat 1800000000"),
    ({"aud": "other"}, "aud 'other' does not contain the client_id 'rp'"),
    ({"aud": ["rp", "other"]}, "several audiences ['rp', 'other'] but no azp"),
    ({"azp": "other"}, "azp 'other' is not the client_id 'rp'"),
    ({"iss": "https://op.example/"}, "iss 'https://op.example/' is not the issuer 'https://op.example'"),
    ({"iat": NOW - 3600, "exp": NOW + 60}, "iat 1799996400 is -3600 s from this machine's clock"),
    ({"exp": NOW - 31, "iat": NOW - 100}, "ID token expired: exp 1799999969"),
    ({"nonce": "m"}, "nonce 'm' is not the request's nonce 'n'"),
    ({"exp": "soon"}, "exp 'soon' is not a NumericDate"),
])
def test_id_token_claims_are_checked_strictly_and_named(change: dict, words: str) -> None:
    with pytest.raises(CheckFailed, match=re.escape(words)):
        check_id_token_claims({**GOOD, **change}, issuer="https://op.example", client_id="rp", nonce="n", now=NOW)


def test_id_token_claims_accept_a_good_token() -> None:
    check_id_token_claims(GOOD, issuer="https://op.example", client_id="rp", nonce="n", now=NOW + 20)
    check_id_token_claims({**GOOD, "aud": ["rp", "api"], "azp": "rp"}, issuer="https://op.example",
                          client_id="rp", nonce="n", now=NOW)


def test_token_hashes_match_the_examples_of_oidc_core_appendix_a() -> None:
    assert token_hash("jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y", "RS256") == "77QmUPtjPfzWtF2AnpK9RQ"
    assert token_hash("Qcb0Orv1zh30vL1MPRsbm-diHiMwcLyZvn1arpZv-Jxf_11jnpEX3Tgfvk", "RS256") == "LDktKdoQak3Pk0cnXxCltA"


# --- OIDF basic plan -----------------------------------------------------------------------

def test_every_module_of_the_oidf_basic_plan_has_a_test_or_a_reason(capsys: pytest.CaptureFixture[str]) -> None:
    ids = {t.id: t for t in all_tests()}
    names = [m.name for m in BASIC_PLAN]
    assert len(names) == 38 and len(set(names)) == 38
    basic_oidf_ids = {t.id for t in ids.values() if t.plan == "basic" and t.id.startswith("oidcc-")}
    assert basic_oidf_ids <= set(names), basic_oidf_ids - set(names)
    assert main(["oidf", "--plan", "basic"]) == 0
    assert "oidcc-codereuse-30seconds" in capsys.readouterr().out


@pytest.mark.parametrize("plan", OIDF_PLANS, ids=lambda p: p.key)
def test_each_oidf_module_maps_to_the_test_of_its_name_or_gives_a_reason(plan, capsys) -> None:
    ids = {t.id for t in all_tests()}
    names = [m.name for m in plan.modules]
    assert len(set(names)) == len(names), plan.name
    for module in plan.modules:
        if module.test_id is None:
            assert module.reason, module.name
        else:
            assert module.test_id == module.name and module.test_id in ids, module.name
    assert main(["oidf", "--plan", plan.key]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"| {plan.name} module |") and all(f"`{n}`" in out for n in names)


def test_oidf_lists_every_plan_by_default(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["oidf"]) == 0
    out = capsys.readouterr().out
    assert all(f"| {p.name} module |" in out for p in OIDF_PLANS)
    listed = {m.test_id for p in OIDF_PLANS for m in p.modules}
    named_after_oidf = {t.id for t in all_tests() if t.id.startswith("oidcc-")}
    assert named_after_oidf <= listed, named_after_oidf - listed


# --- reports -----------------------------------------------------------------------------

def _sample_report() -> RunReport:
    run = RunReport(issuer="https://op.example")
    run.results = [
        Result("a", "basic", "passed", "OIDC Core §3", "", 0.1),
        Result("b", "security", "failed", "RFC 9700 §2.1", "<script>alert(1)</script>", 0.2),
        Result("c", "security", "warning", "RFC 6749 §4.1.2", "should revoke", 0.3, required=False),
        Result("d", "consent", "skipped", "SPEC §7", "not advertised", 0.0),
    ]
    return run


def test_json_report_shape(tmp_path: Path) -> None:
    report.write_json(_sample_report(), tmp_path / "r.json")
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["summary"] == {"passed": 1, "failed": 1, "warnings": 1, "skipped": 1, "throttled": 0, "blocked": 0}
    for result in data["results"]:
        assert {"id", "plan", "status", "spec", "message", "duration_s"} <= set(result)
        assert result["status"] in {"passed", "failed", "warning", "skipped", "throttled", "blocked"}
        assert isinstance(result["trace"], list)


def test_junit_report(tmp_path: Path) -> None:
    report.write_junit(_sample_report(), tmp_path / "r.xml")
    root = ET.parse(tmp_path / "r.xml").getroot()
    assert (root.get("tests"), root.get("failures"), root.get("skipped")) == ("4", "1", "1")
    failure = root.find(".//testcase[@name='b']/failure")
    assert failure is not None and "RFC 9700 §2.1" in (failure.text or "")
    assert root.find(".//testcase[@name='d']/skipped") is not None


def test_html_report_is_self_contained_and_escaped(tmp_path: Path) -> None:
    report.write_html(_sample_report(), tmp_path / "r.html")
    page = (tmp_path / "r.html").read_text()
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page
    assert "<link" not in page and "src=" not in page and "@import" not in page
    assert "<style>" in page and "RFC 9700 §2.1" in page and "FAILED" in page


# --- form parsing ------------------------------------------------------------------------

def test_forms_and_buttons_are_found_like_a_browser_would() -> None:
    html = """
    <form id="f" method="post" action="/confirm"><input type="hidden" name="xsrf" value="1"></form>
    <button form="f" name="logout" value="yes">Yes, sign me out</button>
    <button form="f">No, stay signed in</button>
    <form method="post" action="/consent"><input type="hidden" name="csrf_token" value="t">
      <input type="checkbox" name="claims" value="email" checked>
      <button name="decision" value="deny">Deny</button><button name="decision" value="approve">Allow</button>
    </form>"""
    logout, consent = parse_forms(html, "http://op.example/logout")
    assert logout.action == "http://op.example/confirm" and ("xsrf", "1") in logout.fields()
    yes = choose_button(logout, approve=True, configured=None)
    assert yes is not None and (yes.name, yes.value) == ("logout", "yes")
    assert choose_button(consent, approve=True, configured=None).value == "approve"  # type: ignore[union-attr]
    assert choose_button(consent, approve=False, configured=None).value == "deny"  # type: ignore[union-attr]
    assert ("claims", "email") in consent.fields()


# --- pytest plugin -----------------------------------------------------------------------

def _plugin_args() -> list[str]:
    from importlib.metadata import entry_points

    installed = any(e.value == "conformance_tests.plugin" for e in entry_points(group="pytest11"))
    return [] if installed else ["-p", "conformance_tests.plugin"]


def test_plugin_is_inert_without_its_option(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_plain="def test_one():\n    assert 1 + 1 == 2\n")
    result = pytester.runpytest_subprocess(*_plugin_args(), "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    assert "porta-conformance" not in result.stdout.str()


def test_plugin_rejects_a_bad_config(pytester: pytest.Pytester) -> None:
    bad = pytester.path / "op.toml"
    bad.write_text('issuer = "https://op.example"\n')
    result = pytester.runpytest_subprocess(*_plugin_args(), "--porta-config", str(bad), "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "user: missing table [user]" in result.stderr.str()


def test_plugin_maps_verdicts_to_pytest_outcomes(pytester: pytest.Pytester, broken: BrokenOP) -> None:
    from tests.conformance.broken_op.app import PASSWORD, USERNAME

    config = write_op_toml(pytester.path / "op.toml",
                           {"issuer": broken.issuer, "user": {"username": USERNAME, "password": PASSWORD}})
    expected = pytester.path / "expected.txt"
    expected.write_text("rfc9700-pkce-verifier-mismatch: fault switched on by this test\n")
    broken.set_fault("pkce_verifier_unchecked")
    try:
        result = pytester.runpytest_subprocess(
            *_plugin_args(), "--porta-config", str(config), "-p", "no:cacheprovider", "-rxs",
            "--porta-plan", "rfc9700-pkce-verifier-mismatch,rfc9700-pkce-verifier-missing,rfc9700-code-expired,"
                            "rfc9700-redirect-uri-exact-match",
            "--porta-expected-failures", str(expected))
    finally:
        broken.set_fault(None)
    result.assert_outcomes(passed=2, skipped=1, xfailed=1)
    assert "code_lifetime_s" in result.stdout.str()


def _plugin_run(pytester: pytest.Pytester, broken: BrokenOP, fault: str, plan: str, *extra: str):
    from tests.conformance.broken_op.app import PASSWORD, USERNAME

    config = write_op_toml(pytester.path / "op.toml",
                           {"issuer": broken.issuer, "user": {"username": USERNAME, "password": PASSWORD}})
    broken.set_fault(fault)
    try:
        return pytester.runpytest_subprocess(*_plugin_args(), "--porta-config", str(config), "-p", "no:cacheprovider",
                                             "-rA", "--porta-plan", plan, *extra)
    finally:
        broken.set_fault(None)


def test_plugin_strict_makes_a_warning_fail(pytester: pytest.Pytester, broken: BrokenOP) -> None:
    plan = "rfc9700-pkce-required-public-client"
    lenient = _plugin_run(pytester, broken, "public_client_without_pkce", plan)
    lenient.assert_outcomes(passed=1, warnings=1)
    strict = _plugin_run(pytester, broken, "public_client_without_pkce", plan, "--porta-strict")
    strict.assert_outcomes(failed=1)
    assert "a failure under --porta-strict" in strict.stdout.str()


def test_plugin_reports_a_repeated_failure_as_blocked(pytester: pytest.Pytester, broken: BrokenOP) -> None:
    """One cause, one failure: the second test that trips on the same ID token is BLOCKED."""
    result = _plugin_run(pytester, broken, "id_token_exp_equals_iat", "oidcc-server,oidcc-userinfo-get")
    outcomes = result.parseoutcomes()
    assert (outcomes.get("failed"), outcomes.get("blocked")) == (1, 1), outcomes
    out = result.stdout.str()
    assert re.search(r"BLOCKED .*oidcc-userinfo-get", out), out
    assert "BLOCKED by oidcc-server" in out
    assert result.ret == pytest.ExitCode.TESTS_FAILED


# --- operator mistakes -------------------------------------------------------------------

def test_unreachable_provider_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tests.interop.node_op.launcher import free_port

    config = write_op_toml(tmp_path / "op.toml", {**MINIMAL, "issuer": f"http://127.0.0.1:{free_port()}"})
    assert main(["run", "--config", str(config)]) == 2
    assert "cannot reach the provider" in capsys.readouterr().err


def test_wrong_password_fails_with_the_login_page_described(broken: BrokenOP, tmp_path: Path) -> None:
    from tests.conformance.broken_op.app import USERNAME

    config = write_op_toml(tmp_path / "op.toml",
                           {"issuer": broken.issuer, "user": {"username": USERNAME, "password": "wrong"}})
    report_path = tmp_path / "r.json"
    assert main(["run", "--config", str(config), "--plan", "oidcc-server", "--report-json", str(report_path)]) == 1
    [result] = json.loads(report_path.read_text())["results"]
    assert result["status"] == "failed" and "wrong password" in result["message"], result


def test_every_data_file_of_the_package_is_listed_in_package_data() -> None:
    """setup.cfg's package_data must ship the report template and stylesheet (and any driver JS)."""
    import configparser
    import fnmatch

    root = Path(__file__).resolve().parents[2]
    cfg = configparser.ConfigParser()
    cfg.read(root / "setup.cfg")
    patterns = [p.strip() for p in cfg["options.package_data"]["conformance_tests"].split(",")]
    package = root / "conformance_tests"
    data_files = [p.relative_to(package).as_posix() for p in package.rglob("*")
                  if p.is_file() and p.suffix not in {".py", ".pyc", ".md"} and "__pycache__" not in p.parts]
    assert data_files, "expected the report template and stylesheet"
    missing = [f for f in data_files if not any(fnmatch.fnmatch(f, pat) for pat in patterns)]
    assert not missing, f"not shipped by package_data: {missing}"


def test_missing_chromium_is_a_usage_error(broken: BrokenOP, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("playwright")
    config = write_op_toml(tmp_path / "op.toml", {**MINIMAL, "issuer": broken.issuer,
                                                  "login": {"driver": "browser",
                                                            "chromium": str(tmp_path / "no-chromium")}})
    assert main(["run", "--config", str(config), "--plan", "oidcc-server"]) == 2
    assert "cannot run" in capsys.readouterr().err


# --- HTTP traces -----------------------------------------------------------------------------

def _run_against(broken: BrokenOP, tmp_path: Path, plan: str, *extra: str,
                 fault: str | None = None) -> tuple[int, dict, str]:
    from tests.conformance.broken_op.app import PASSWORD, USERNAME

    config = write_op_toml(tmp_path / "op.toml", {"issuer": broken.issuer,
                                                  "user": {"username": USERNAME, "password": PASSWORD},
                                                  "timing": {"throttle_wait_s": 5, "code_reuse_wait_s": 1}})
    broken.set_fault(fault)
    try:
        status = main(["run", "--config", str(config), "--plan", plan, "--no-colour",
                       "--report-json", str(tmp_path / "r.json"), "--report-html", str(tmp_path / "r.html"),
                       *extra])
    finally:
        broken.set_fault(None)
    return status, json.loads((tmp_path / "r.json").read_text()), (tmp_path / "r.html").read_text()


def test_every_result_carries_a_redacted_http_trace(broken: BrokenOP, tmp_path: Path) -> None:
    from tests.conformance.broken_op.app import PASSWORD

    status, data, page = _run_against(broken, tmp_path, "rfc6749-refresh-scope-not-widened")
    [result] = data["results"]
    assert status == 0 and result["status"] == "passed", result
    text = json.dumps(result["trace"])
    urls = [e["request"]["url"] for e in result["trace"] if "request" in e]
    assert any(u.endswith("/token") for u in urls) and any("/authorize?" in u for u in urls)
    token_calls = [e for e in result["trace"] if "request" in e and e["request"]["url"].endswith("/token")]
    assert all(e["request"]["headers"]["Authorization"] == "Basic [redacted]" for e in token_calls)
    first = json.loads(token_calls[0]["response"]["body"])
    assert first["access_token"] == first["refresh_token"] == "[redacted]"
    assert first["id_token"]["redacted_jwt"]["claims"]["iss"] == broken.issuer  # readable, not usable
    assert "grant_type=authorization_code" in token_calls[0]["request"]["body"]
    assert "code=%5Bredacted%5D" in token_calls[0]["request"]["body"] or "code=[redacted]" in token_calls[0]["request"]["body"]
    assert PASSWORD not in text and "password=[redacted]" in text
    assert "double_sid=" not in text  # cookies
    assert not re.search(r"code(=|%3D)(?!%5Bredacted|\[redacted)[\w-]{8}", text), "a code leaked"
    registered = [e for e in result["trace"] if "request" in e and e["request"]["url"].endswith("/register")]
    for entry in registered:
        assert '"client_secret": "[redacted]"' in entry["response"]["body"]
    assert "<details><summary>HTTP trace (" in page and "secrets redacted" in page


def test_a_form_post_response_keeps_its_code_out_of_the_trace(broken: BrokenOP, tmp_path: Path) -> None:
    status, data, _ = _run_against(broken, tmp_path, "porta-form-post-server")
    [result] = data["results"]
    assert status == 0, result
    pages = [e["response"]["body"] for e in result["trace"] if "request" in e and 'name="code"' in e["response"]["body"]]
    assert pages and all('name="code" value="[redacted]"' in p for p in pages)


def test_a_failure_names_both_values_and_a_provider_page_is_not_cut_short() -> None:
    from conformance_tests.drivers.base import Outcome

    reason = "the client is not allowed to use this redirect_uri because " + "x" * 400 + " END"
    outcome = Outcome(kind="page", url="https://op/authorize", status=400, html=f"<p>{reason}</p>")
    assert "END" in outcome.describe()


# --- strict, throttling ---------------------------------------------------------------------

def test_strict_makes_warnings_fail_the_run(broken: BrokenOP, tmp_path: Path) -> None:
    status, data, _ = _run_against(broken, tmp_path, "rfc9700-mix-up-defence-advertised", fault="iss_not_advertised")
    assert (status, data["results"][0]["status"]) == (0, "warning")
    status, data, _ = _run_against(broken, tmp_path, "rfc9700-mix-up-defence-advertised", "--strict",
                                   fault="iss_not_advertised")
    assert (status, data["results"][0]["status"], data["strict"]) == (1, "warning", True)


def test_a_throttled_request_is_repeated_after_retry_after(broken: BrokenOP, tmp_path: Path) -> None:
    broken.set_fault(None)
    broken.state.throttle.update({"/token": 2, "/login": 1})
    from tests.conformance.broken_op.app import PASSWORD, USERNAME

    config = write_op_toml(tmp_path / "op.toml", {"issuer": broken.issuer,
                                                  "user": {"username": USERNAME, "password": PASSWORD}})
    try:
        status = main(["run", "--config", str(config), "--plan", "oidcc-server", "--no-colour",
                       "--report-json", str(tmp_path / "r.json")])
    finally:
        broken.set_fault(None)
    [result] = json.loads((tmp_path / "r.json").read_text())["results"]
    assert (status, result["status"]) == (0, "passed"), result
    assert [e["response"]["status"] for e in result["trace"]
            if "request" in e and e["request"]["url"].endswith("/token")] == [429, 429, 200]


def test_a_provider_that_keeps_throttling_is_reported_throttled_not_failed(broken: BrokenOP, tmp_path: Path) -> None:
    broken.set_fault(None)
    broken.state.throttle["/token"] = -1
    from tests.conformance.broken_op.app import PASSWORD, USERNAME

    config = write_op_toml(tmp_path / "op.toml", {"issuer": broken.issuer,
                                                  "user": {"username": USERNAME, "password": PASSWORD}})
    try:
        status = main(["run", "--config", str(config), "--plan", "oidcc-server,porta-discovery-pkce-s256",
                       "--no-colour", "--report-json", str(tmp_path / "r.json"),
                       "--report-junit", str(tmp_path / "r.xml")])
    finally:
        broken.set_fault(None)
    data = json.loads((tmp_path / "r.json").read_text())
    verdicts = {r["id"]: r for r in data["results"]}
    assert verdicts["oidcc-server"]["status"] == "throttled"
    assert "the provider throttled the suite: HTTP 429 for POST" in verdicts["oidcc-server"]["message"]
    assert verdicts["porta-discovery-pkce-s256"]["status"] == "passed"
    assert data["summary"]["throttled"] == 1 and data["summary"]["failed"] == 0
    assert status == 3
    junit = ET.parse(tmp_path / "r.xml").getroot()
    assert junit.find(".//testcase[@name='oidcc-server']/error[@type='throttled']") is not None


def test_retry_after_is_read_as_seconds_or_a_date() -> None:
    import email.utils
    import time as clock

    import requests

    from conformance_tests.throttle import retry_after

    response = requests.Response()
    response.headers["Retry-After"] = "7"
    assert retry_after(response) == 7.0
    response.headers["Retry-After"] = email.utils.formatdate(clock.time() + 120, usegmt=True)
    assert 100 < (retry_after(response) or 0) <= 120
    response.headers["Retry-After"] = "soon"
    assert retry_after(response) is None


def test_pyjwt_errors_are_reworded_with_both_values() -> None:
    import jwt as pyjwt

    from conformance_tests.context import describe_jwt_error

    token = pyjwt.encode({"aud": "rp-one", "iss": "https://a.example", "exp": 1}, "k" * 32, algorithm="HS256")
    with pytest.raises(pyjwt.InvalidAudienceError) as caught:
        pyjwt.decode(token, "k" * 32, algorithms=["HS256"], audience="rp-two", options={"verify_exp": False})
    message = describe_jwt_error(caught.value, token, audience="rp-two")
    assert "'rp-one'" in message and "'rp-two'" in message
    with pytest.raises(pyjwt.InvalidIssuerError) as issuer:
        pyjwt.decode(token, "k" * 32, algorithms=["HS256"], issuer="https://b.example",
                     options={"verify_exp": False, "verify_aud": False})
    message = describe_jwt_error(issuer.value, token, issuer="https://b.example")
    assert "https://a.example" in message and "https://b.example" in message


def test_one_cause_gives_one_failure_and_the_rest_are_blocked_by_it(broken: BrokenOP, tmp_path: Path) -> None:
    """An ID token that expires as it is issued breaks every test that validates one; only
    the first reports it as a failure, the others are blocked by it."""
    status, data, page = _run_against(broken, tmp_path, "basic,config", fault="id_token_exp_equals_iat")
    failed = [r for r in data["results"] if r["status"] == "failed"]
    blocked = [r for r in data["results"] if r["status"] == "blocked"]
    assert [r["id"] for r in failed] == ["oidcc-server"], failed
    assert len(blocked) >= 10 and {r["blocked_by"] for r in blocked} == {"oidcc-server"}
    assert all(r["message"].startswith("blocked by oidcc-server (same failure): ID token exp") for r in blocked)
    assert not [r for r in data["results"] if r["status"] == "warning"], "a MUST shown as a warning"
    assert data["summary"]["failed"] == 1 and data["summary"]["blocked"] == len(blocked)
    assert status == 1 and "blocked" in page


def test_failure_signature_ignores_values_but_not_wording() -> None:
    from conformance_tests.runner import failure_signature

    assert failure_signature("exp 17 is not after iat 17 at 'https://a/x'") == \
        failure_signature("exp 18 is not after iat 18 at 'https://b/y'")
    assert failure_signature("refresh widened the scope") != failure_signature("refresh narrowed the scope")


@pytest.mark.parametrize(("shared", "status", "words"), [
    (["access_token"], "failed", "'s refresh_token: active True"),
    (["access_token", "refresh_token"], "skipped", "introspection_shared lets any authenticated client"),
])
def test_introspection_of_another_clients_token_follows_the_declared_policy(
        shared: list[str], status: str, words: str, broken: BrokenOP, tmp_path: Path) -> None:
    """A provider that describes every token to every client fails on the token types its
    op.toml keeps private, and is not held to those it declares shared."""
    from tests.conformance.broken_op.app import PASSWORD, USERNAME

    config = write_op_toml(tmp_path / "op.toml", {"issuer": broken.issuer,
                                                  "user": {"username": USERNAME, "password": PASSWORD},
                                                  "provider": {"introspection_shared": shared}})
    broken.set_fault("introspection_any_client")
    try:
        main(["run", "--config", str(config), "--plan", "rfc7662-introspection-other-client", "--no-colour",
              "--report-json", str(tmp_path / "r.json")])
    finally:
        broken.set_fault(None)
    [result] = json.loads((tmp_path / "r.json").read_text())["results"]
    assert result["status"] == status and words in result["message"], result


@pytest.mark.parametrize(("in_ci", "outcome"), [(False, "skipped"), (True, "failed")])
def test_a_missing_tool_skips_on_a_laptop_and_fails_in_ci(in_ci: bool, outcome: str,
                                                          pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_tool=f"""
        from tests.conformance import conftest

        def test_needs_tool():
            conftest.IN_CI = {in_ci!r}
            conftest.require_tool(False, "frobnicator is not installed")
    """)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-rs",
                                           "-o", f"pythonpath={Path(__file__).resolve().parents[2]}")
    result.assert_outcomes(**{outcome: 1})
    assert "frobnicator is not installed" in result.stdout.str()
