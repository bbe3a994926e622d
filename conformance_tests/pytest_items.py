"""The conformance tests as pytest items (used by the plugin only with ``--porta-config``).

Verdict mapping: passed -> pass; failed -> failure with the spec section and message;
warning -> pass plus a ``ConformanceWarning`` (a failure with ``--porta-strict``); skipped ->
skip with the reason; a failure listed in ``--porta-expected-failures`` -> xfail; such a test
that passes -> pass plus a warning asking to shrink the list. A failure that repeats an
earlier test's (the CLI's "blocked") and a throttled test are failures reported under their
own names, ``BLOCKED`` and ``THROTTLED`` (see the plugin's ``pytest_report_teststatus``).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

import pytest

from conformance_tests import config as op_config
from conformance_tests.context import Context
from conformance_tests.drivers import make_driver
from conformance_tests.registry import (
    BLOCKED,
    FAILED,
    SKIPPED,
    THROTTLED,
    WARNING,
    ConformanceTest,
    select,
)
from conformance_tests.runner import block_repeated_failure, load_expected_failures, run_one

_CONTEXT_KEY = pytest.StashKey[Context]()
_EXPECTED_KEY = pytest.StashKey[dict[str, str]]()
_CAUSES_KEY = pytest.StashKey[dict[str, str]]()
VERDICT_PROPERTY = "porta_conformance_verdict"
"""The user property that carries the suite's own verdict to the test report."""


class ConformanceWarning(UserWarning):
    """A recommended (SHOULD) rule is not followed, or an expected failure now passes."""


class ConformanceFailure(Exception):
    """A required rule is broken."""


class ConformanceCollector(pytest.Collector):
    """Parent of one plan's conformance items."""

    def __init__(self, *args: Any, tests: list[ConformanceTest], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.tests = tests

    def collect(self) -> Iterator[pytest.Item]:
        """One item per selected test."""
        for test in self.tests:
            yield ConformanceItem.from_parent(self, name=test.id, test=test)


class ConformanceItem(pytest.Item):
    """One conformance test."""

    def __init__(self, *args: Any, test: ConformanceTest, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.test = test
        self.add_marker(pytest.mark.porta_conformance)

    def runtest(self) -> None:
        """Run the test against the configured provider and translate its verdict."""
        ctx = _context(self.config)
        expected = self.config.stash[_EXPECTED_KEY]
        result = run_one(self.test, ctx, expected)
        if result.expected_failure is None:
            block_repeated_failure(result, self.config.stash.setdefault(_CAUSES_KEY, {}))
        self.user_properties.append(("spec", result.spec))
        self.user_properties.append((VERDICT_PROPERTY, result.status))
        if result.status == SKIPPED:
            pytest.skip(result.message)
        if result.status == THROTTLED:
            raise ConformanceFailure(f"THROTTLED (no verdict on the rule): {result.message}")
        if result.status == BLOCKED:
            raise ConformanceFailure(f"BLOCKED by {result.blocked_by}: {result.message}")
        if result.status == FAILED:
            if result.expected_failure is not None:
                pytest.xfail(f"{result.message} (expected failure: {result.expected_failure})")
            raise ConformanceFailure(f"[{result.spec}] {result.message}")
        if result.status == WARNING and self.config.getoption("porta_strict"):
            raise ConformanceFailure(f"WARNING (a failure under --porta-strict) [{result.spec}] {result.message}")
        if result.status == WARNING:
            warnings.warn(ConformanceWarning(f"{result.id} [{result.spec}]: {result.message}"), stacklevel=1)
        if result.unexpected_pass:
            warnings.warn(ConformanceWarning(f"{result.id} passes: remove it from the expected-failures list"),
                          stacklevel=1)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        """Show the verdict, not a traceback into the suite."""
        if isinstance(excinfo.value, ConformanceFailure):
            return f"{self.test.id} FAILED {excinfo.value}"
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[str, int, str]:
        """Where the test is described: its plan and spec section."""
        return (f"porta-conformance/{self.test.plan}", 0, f"{self.test.id} [{self.test.spec}]")


def _context(config: pytest.Config) -> Context:
    if _CONTEXT_KEY not in config.stash:
        op = op_config.load(config.getoption("porta_config"))
        config.stash[_CONTEXT_KEY] = Context(config=op, driver=make_driver(op))
        config.add_cleanup(config.stash[_CONTEXT_KEY].close)
    return config.stash[_CONTEXT_KEY]


def collect(session: pytest.Session, config: pytest.Config) -> list[pytest.Item]:
    """Items for the tests chosen by --porta-plan (all plans by default)."""
    try:
        op_config.load(config.getoption("porta_config"))
        tests = select(config.getoption("porta_plan"))
        path = config.getoption("porta_expected_failures")
        config.stash[_EXPECTED_KEY] = load_expected_failures(path) if path else {}
    except (op_config.ConfigError, ValueError, OSError) as exc:
        raise pytest.UsageError(f"porta-conformance: {exc}") from exc
    config.addinivalue_line("markers", "porta_conformance: an OpenID provider conformance test")
    items: list[pytest.Item] = []
    for plan in dict.fromkeys(t.plan for t in tests):  # node ids read porta-conformance/<plan>::<id>
        nodeid = f"porta-conformance/{plan}"
        collector = ConformanceCollector.from_parent(session, name=nodeid, nodeid=nodeid,
                                                     tests=[t for t in tests if t.plan == plan])
        items.extend(collector.collect())
    return items
