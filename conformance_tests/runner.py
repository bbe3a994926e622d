"""Run selected conformance tests against one provider and collect verdicts.

Verdicts: ``passed``; ``failed`` (a required rule broken, or the test could not run);
``warning`` (a recommended rule broken); ``skipped`` (feature not offered, with the reason);
``throttled`` (the provider kept answering 429 beyond the pause budget: no verdict);
``blocked`` (failed exactly like an earlier test, named in ``blocked_by``: one cause is
counted once, under the first test it broke).
Tests listed in an expected-failures file still run and are reported, but do not make the
run fail; one of them that passes is flagged so the list can shrink.
"""

from __future__ import annotations

import re
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from conformance_tests.config import OPConfig
from conformance_tests.context import Context
from conformance_tests.drivers import make_driver
from conformance_tests.registry import (
    BLOCKED,
    FAILED,
    PASSED,
    SKIPPED,
    THROTTLED,
    WARNING,
    CheckFailed,
    ConformanceTest,
    Skipped,
    Throttled,
)


@dataclass
class Result:
    """The verdict on one test."""

    id: str
    plan: str
    status: str
    spec: str
    message: str
    duration_s: float
    title: str = ""
    required: bool = True
    expected_failure: str | None = None
    unexpected_pass: bool = False
    trace: list[dict[str, Any]] = field(default_factory=list)
    """The test's HTTP exchanges, redacted (see conformance_tests.trace)."""
    blocked_by: str | None = None
    """The earlier test whose failure this one repeats (status ``blocked``)."""

    def to_json(self) -> dict[str, Any]:
        """The JSON report's result object."""
        return asdict(self)


@dataclass
class RunReport:
    """All verdicts of one run."""

    issuer: str
    results: list[Result] = field(default_factory=list)
    started_at: float = field(default_factory=time.time)

    strict: bool = False
    """``--strict``: warnings fail the run too."""

    @property
    def summary(self) -> dict[str, int]:
        """Counts by status (expected failures are counted as failed)."""
        counts = {"passed": 0, "failed": 0, "warnings": 0, "skipped": 0, "throttled": 0, "blocked": 0}
        key = {PASSED: "passed", FAILED: "failed", WARNING: "warnings", SKIPPED: "skipped",
               THROTTLED: "throttled", BLOCKED: "blocked"}
        for r in self.results:
            counts[key[r.status]] += 1
        return counts

    @property
    def unexpected_failures(self) -> list[Result]:
        """Failed tests not covered by the expected-failures list."""
        return [r for r in self.results if r.status == FAILED and r.expected_failure is None]

    @property
    def exit_status(self) -> int:
        """1 when a test failed unexpectedly (or, with ``strict``, warned); else 3 when the
        provider throttled a test (the run is incomplete); else 0."""
        if self.unexpected_failures or (self.strict and any(r.status == WARNING for r in self.results)):
            return 1
        return 3 if any(r.status == THROTTLED for r in self.results) else 0

    def to_json(self) -> dict[str, Any]:
        """The JSON report: ``{"summary": {...}, "results": [...]}`` plus run metadata."""
        return {
            "issuer": self.issuer,
            "started_at": self.started_at,
            "summary": self.summary,
            "strict": self.strict,
            "exit_status": self.exit_status,
            "results": [r.to_json() for r in self.results],
        }


def load_expected_failures(path: str | Path) -> dict[str, str]:
    """Read ``test-id: reason`` lines (``#`` comments, blank lines allowed).

    Raises ValueError naming the line when an entry has no reason.
    """
    entries: dict[str, str] = {}
    for number, raw in enumerate(Path(path).read_text().splitlines(), start=1):
        line = raw.split("#", 1)[0].strip() if raw.lstrip().startswith("#") else raw.strip()
        if not line:
            continue
        test_id, sep, reason = line.partition(":")
        if not sep or not reason.strip() or not test_id.strip():
            raise ValueError(f"{path}:{number}: expected 'test-id: reason', got {raw!r}")
        entries[test_id.strip()] = reason.strip()
    return entries


def run_one(test: ConformanceTest, ctx: Context, expected: dict[str, str]) -> Result:
    """Run a single test and turn its outcome into a Result."""
    start = time.monotonic()
    if ctx is not None:
        ctx.begin_test()
    try:
        test.func(ctx)
        status, message = PASSED, ""
    except Skipped as exc:
        status, message = SKIPPED, str(exc)
    except Throttled as exc:
        status, message = THROTTLED, str(exc)
    except CheckFailed as exc:
        required = test.required if exc.required is None else exc.required
        status, message = (FAILED if required else WARNING), str(exc)
    except Exception as exc:  # a crash is a verdict too: the provider could not be tested
        last = traceback.extract_tb(exc.__traceback__)[-1]
        status = FAILED
        message = f"error: {type(exc).__name__}: {exc} (at {Path(last.filename).name}:{last.lineno})"
    result = Result(
        id=test.id, plan=test.plan, status=status, spec=test.spec, message=message,
        duration_s=round(time.monotonic() - start, 3), title=test.title, required=test.required,
        trace=ctx.trace.take() if ctx is not None else [],
    )
    if test.id in expected:
        result.expected_failure = expected[test.id]
        if status == PASSED:
            result.unexpected_pass = True
    return result


def failure_signature(message: str) -> str:
    """A failure message without the values that change from test to test (quoted values,
    numbers, URLs), so that one cause reached through different tests reads the same."""
    text = re.sub(r"https?://\S+", "URL", message)
    text = re.sub(r"'[^']*'|\"[^\"]*\"", "'…'", text)
    return re.sub(r"\d+", "N", text)


def block_repeated_failure(result: Result, causes: dict[str, str]) -> None:
    """Turn a failure that repeats an earlier one into ``blocked`` (one cause, one failure)."""
    if result.status != FAILED:
        return
    signature = failure_signature(result.message)
    if signature in causes:
        result.status, result.blocked_by = BLOCKED, causes[signature]
        result.message = f"blocked by {causes[signature]} (same failure): {result.message}"
    else:
        causes[signature] = result.id


def run(
    config: OPConfig,
    tests: Iterable[ConformanceTest],
    expected: dict[str, str] | None = None,
    progress: Callable[[Result], None] | None = None,
    strict: bool = False,
) -> RunReport:
    """Run ``tests`` in order against the provider in ``config``."""
    ctx = Context(config=config, driver=make_driver(config))
    report = RunReport(issuer=config.issuer, strict=strict)
    causes: dict[str, str] = {}
    try:
        for test in tests:
            result = run_one(test, ctx, expected or {})
            block_repeated_failure(result, causes)
            report.results.append(result)
            if progress is not None:
                progress(result)
    finally:
        ctx.close()
    return report
