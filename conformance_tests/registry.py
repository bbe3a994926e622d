"""The catalogue of conformance tests and the vocabulary they report in.

A test is a function taking the run's :class:`~conformance_tests.context.Context`, declared
with :func:`check`: its id (the OpenID Foundation module name where one exists), its plan,
the spec section it checks, and whether the rule is required (a failure is FAILED) or only
recommended (a failure is a WARNING). Inside, a test calls :func:`expect` / :func:`fail`,
or :func:`skip` when the provider does not offer the feature under test.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, NoReturn

if TYPE_CHECKING:
    from conformance_tests.context import Context

PLANS = ("basic", "config", "dynamic", "formpost", "logout", "security", "consent")
"""Plan names in the order they run."""

PASSED, FAILED, WARNING, SKIPPED = "passed", "failed", "warning", "skipped"
THROTTLED = "throttled"
"""The provider kept answering 429 (or 503 with Retry-After): no verdict on the rule."""
BLOCKED = "blocked"
"""The test failed for the same reason as an earlier test of the run (``blocked_by``)."""


class CheckFailed(Exception):
    """The provider broke the rule under test.

    ``required`` overrides the test's level for this one failure: True when the broken
    rule is a MUST for this provider (e.g. it claims a profile that makes a SHOULD a
    MUST), False for a recommendation checked inside a required test.
    """

    def __init__(self, message: str, required: bool | None = None) -> None:
        super().__init__(message)
        self.required = required


class Throttled(Exception):
    """The provider throttled the suite beyond the test's pause budget."""


class Skipped(Exception):
    """The test does not apply to this provider (feature not advertised or not configured)."""


def fail(message: str, *, required: bool | None = None) -> NoReturn:
    """Stop the test with a failure verdict (``required`` overrides the test's level)."""
    raise CheckFailed(message, required)


def expect(condition: object, message: str) -> None:
    """Fail the test with ``message`` unless ``condition`` holds."""
    if not condition:
        raise CheckFailed(message)


def skip(reason: str) -> NoReturn:
    """Stop the test as not applicable, with the reason shown in every report."""
    raise Skipped(reason)


@dataclass(frozen=True)
class ConformanceTest:
    """One registered test."""

    id: str
    plan: str
    spec: str
    title: str
    required: bool
    func: Callable[[Context], None]


_TESTS: dict[str, ConformanceTest] = {}


def check(
    id: str, plan: str, spec: str, title: str, required: bool = True
) -> Callable[[Callable[[Context], None]], Callable[[Context], None]]:
    """Register the decorated function as conformance test ``id`` of ``plan``."""
    if plan not in PLANS:
        raise ValueError(f"unknown plan {plan!r}")

    def register(func: Callable[[Context], None]) -> Callable[[Context], None]:
        if id in _TESTS:
            raise ValueError(f"duplicate conformance test id {id!r}")
        _TESTS[id] = ConformanceTest(id, plan, spec, title, required, func)
        return func

    return register


def all_tests() -> list[ConformanceTest]:
    """Every registered test, plan by plan in PLANS order, then in definition order."""
    import conformance_tests.modules  # noqa: F401 - registers the tests

    order = {plan: i for i, plan in enumerate(PLANS)}
    return sorted(_TESTS.values(), key=lambda t: order[t.plan])


def select(selection: str | None) -> list[ConformanceTest]:
    """Resolve ``--plan``: comma-separated plan names and/or single test ids (None: all).

    Raises ValueError naming any entry that is neither a plan nor a test id.
    """
    tests = all_tests()
    if not selection:
        return tests
    wanted = [item.strip() for item in selection.split(",") if item.strip()]
    ids = {t.id for t in tests}
    unknown = [w for w in wanted if w not in PLANS and w not in ids]
    if unknown:
        raise ValueError(
            f"--plan: unknown plan or test id {', '.join(unknown)} "
            f"(plans: {', '.join(PLANS)})"
        )
    return [t for t in tests if t.plan in wanted or t.id in wanted]
