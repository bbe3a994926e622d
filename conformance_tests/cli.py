"""``porta-conformance``: run the conformance suite against any OpenID provider.

::

    porta-conformance run --config op.toml [--plan basic,config,…|TEST_ID,…]
                          [--expected-failures FILE] [--report-json F]
                          [--report-junit F] [--report-html F]
    porta-conformance list [--plan …]
    porta-conformance oidf [--plan basic]  # the OIDF OP certification plans, module by module

Exit status: 0 when no test failed (warnings, skips and expected failures do not count),
1 when a test failed (or warned, with ``--strict``), 2 for a usage or configuration error,
3 when nothing failed but the provider throttled a test (the run is incomplete).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TextIO

import requests

from conformance_tests import config as op_config
from conformance_tests import report
from conformance_tests.registry import (
    BLOCKED,
    FAILED,
    PASSED,
    PLANS,
    SKIPPED,
    THROTTLED,
    WARNING,
    select,
)
from conformance_tests.runner import Result, load_expected_failures, run

_COLOURS = {PASSED: "32", FAILED: "31", WARNING: "33", SKIPPED: "36", THROTTLED: "35", BLOCKED: "31"}


class ConsoleProgress:
    """Prints a plan header, then one line per test with its verdict and reason."""

    def __init__(self, stream: TextIO, colour: bool) -> None:
        self.stream = stream
        self.colour = colour
        self.plan: str | None = None

    def __call__(self, result: Result) -> None:
        """Show one verdict as soon as it is known."""
        if result.plan != self.plan:
            self.plan = result.plan
            self.stream.write(f"\n== plan {result.plan}\n")
        label = result.status.upper()
        if self.colour:
            label = f"\x1b[{_COLOURS[result.status]}m{label:<8}\x1b[0m"
        else:
            label = f"{label:<8}"
        line = f"  {label} {result.id}  [{result.spec}] ({result.duration_s:.2f}s)"
        if result.expected_failure is not None:
            line += "  (expected failure)" if result.status == FAILED else ""
            if result.unexpected_pass:
                line += "  NOW PASSES: remove it from the expected-failures list"
        self.stream.write(line + "\n")
        if result.message:
            self.stream.write(f"           {result.message}\n")
        self.stream.flush()


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = argparse.ArgumentParser(
        prog="porta-conformance",
        description="Run the OpenID provider conformance suite against any provider.",
        epilog="Exit status: 0 no failure, 1 a test failed (or warned, with --strict), 2 usage, config "
               "or connection error, 3 no failure but the provider throttled a test.")
    commands = parser.add_subparsers(dest="command", required=True)
    run_cmd = commands.add_parser("run", help="run test plans against a provider")
    run_cmd.add_argument("--config", required=True, help="op.toml describing the provider")
    run_cmd.add_argument("--plan", default=None,
                         help=f"comma-separated plans ({','.join(PLANS)}) and/or test ids")
    run_cmd.add_argument("--expected-failures", default=None, metavar="FILE",
                         help="'test-id: reason' lines; these still run but do not fail the exit status")
    run_cmd.add_argument("--report-json", metavar="F", help="write the JSON report to F")
    run_cmd.add_argument("--report-junit", metavar="F", help="write JUnit XML to F")
    run_cmd.add_argument("--report-html", metavar="F", help="write a self-contained HTML page to F")
    run_cmd.add_argument("--no-colour", action="store_true", help="plain console output")
    run_cmd.add_argument("--strict", action="store_true",
                         help="warnings (recommended rules) fail the run too")
    list_cmd = commands.add_parser("list", help="list test ids with plan and spec section")
    list_cmd.add_argument("--plan", default=None)
    oidf_cmd = commands.add_parser("oidf", help="the OIDF OP certification plans' modules and this suite's "
                                                "test for each")
    oidf_cmd.add_argument("--plan", choices=("basic", "config", "dynamic", "formpost", "logout"), default=None,
                          help="one OIDF plan (default: all five)")
    return parser


def _preflight(cfg: op_config.OPConfig) -> str | None:
    """A reason not to start when the issuer cannot be reached at all (else None)."""
    url = cfg.issuer.rstrip("/") + "/.well-known/openid-configuration"
    try:
        requests.get(url, timeout=cfg.http_timeout_s)
    except requests.RequestException as exc:
        return f"cannot reach the provider at {url}: {exc.__class__.__name__}: {exc}"
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``porta-conformance`` console script."""
    args = build_parser().parse_args(argv)
    if args.command == "oidf":
        from conformance_tests.oidf import OIDF_PLANS, table

        keys = [args.plan] if args.plan else [p.key for p in OIDF_PLANS]
        print("\n\n".join(table(key) for key in keys))
        return 0
    try:
        tests = select(args.plan)
    except ValueError as exc:
        print(f"porta-conformance: {exc}", file=sys.stderr)
        return 2
    if args.command == "list":
        for test in tests:
            level = "required" if test.required else "recommended"
            print(f"{test.plan:<9} {test.id:<55} {level:<11} {test.spec}")
        return 0
    try:
        cfg = op_config.load(args.config)
        expected = load_expected_failures(args.expected_failures) if args.expected_failures else {}
    except (op_config.ConfigError, ValueError, OSError) as exc:
        print(f"porta-conformance: {exc}", file=sys.stderr)
        return 2
    problem = _preflight(cfg)
    if problem:
        print(f"porta-conformance: {problem}", file=sys.stderr)
        return 2
    print(f"porta-conformance: {len(tests)} tests against {cfg.issuer} (login driver: {cfg.login.driver})")
    progress = ConsoleProgress(sys.stdout, colour=sys.stdout.isatty() and not args.no_colour)
    try:
        result = run(cfg, tests, expected, progress, strict=args.strict)
    except Exception as exc:  # the login driver could not start (e.g. no Chromium)
        print(f"porta-conformance: cannot run: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    summary = result.summary
    print(f"\n{summary['passed']} passed, {summary['failed']} failed, "
          f"{summary['warnings']} warnings, {summary['skipped']} skipped"
          + (f", {summary['throttled']} throttled" if summary["throttled"] else "")
          + (f", {summary['blocked']} blocked by an earlier failure" if summary["blocked"] else ""))
    for r in result.results:
        if r.unexpected_pass:
            print(f"note: {r.id} is in the expected-failures list but passed; remove it")
    if args.report_json:
        report.write_json(result, args.report_json)
    if args.report_junit:
        report.write_junit(result, args.report_junit)
    if args.report_html:
        report.write_html(result, args.report_html)
    return result.exit_status


if __name__ == "__main__":
    sys.exit(main())
