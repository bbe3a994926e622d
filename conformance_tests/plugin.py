"""pytest plugin (entry point ``pytest11: porta_conformance``).

It is loaded into every pytest run of any project that installs Porta, so it does nothing
at all unless ``--porta-config`` is given: no imports beyond pytest's own until then.
With the option, the conformance tests chosen by ``--porta-plan`` are added to the session
as pytest items (one per test id) and run against the provider named in the config.
"""

from __future__ import annotations

from typing import Any

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    """Register the plugin's options (all inert unless --porta-config is given)."""
    group = parser.getgroup("porta-conformance", "OpenID provider conformance (porta-conformance)")
    group.addoption("--porta-config", default=None, metavar="OP_TOML",
                    help="run the OpenID provider conformance suite against the provider in OP_TOML")
    group.addoption("--porta-plan", default=None, metavar="PLANS",
                    help="comma-separated plan names or test ids (default: all plans)")
    group.addoption("--porta-expected-failures", default=None, metavar="FILE",
                    help="file of test ids expected to fail, each with a reason")
    group.addoption("--porta-strict", action="store_true", default=False,
                    help="a recommended rule not followed (a warning) fails its test")


@pytest.hookimpl(tryfirst=True)  # before -k / -m deselection, so those apply to our items too
def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    """Append one item per selected conformance test when --porta-config is given."""
    if not config.getoption("porta_config", default=None):
        return
    from conformance_tests import pytest_items

    items.extend(pytest_items.collect(session, config))


def pytest_report_header(config: pytest.Config) -> Any:
    """Name the provider under test in pytest's header."""
    path = config.getoption("porta_config", default=None)
    if path:
        return f"porta-conformance: provider config {path}"
    return None


_OWN_STATUS = {"blocked": ("blocked", "B", "BLOCKED"), "throttled": ("throttled", "T", "THROTTLED")}
"""Verdicts of the suite that pytest has no outcome for: failures counted under their own name."""


def pytest_report_teststatus(report: pytest.TestReport, config: pytest.Config) -> Any:
    """A failure that repeats an earlier one (blocked) or got no verdict (throttled) is
    counted and shown as such, not as one more failure."""
    if report.when != "call" or not report.failed:
        return None
    for name, value in getattr(report, "user_properties", ()):
        if name == "porta_conformance_verdict" and value in _OWN_STATUS:
            return _OWN_STATUS[value]
    return None


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """List the blocked and throttled tests with their reasons (pytest's failure sections
    show only the ``failed`` category)."""
    for category, title in (("blocked", "blocked by an earlier failure (one cause, one failure)"),
                            ("throttled", "throttled by the provider (no verdict on the rule)")):
        reports = terminalreporter.stats.get(category, [])
        if reports:
            terminalreporter.write_sep("=", title)
            for report in reports:
                terminalreporter.write_line(f"{category.upper()} {report.nodeid} - {report.longrepr}")
