"""Print the README's results table: every conformance test against Porta and node-oidc-provider.

::

    python -m tests.conformance.results_table                 # start both providers, run, print
    python -m tests.conformance.results_table porta.json node.json   # from saved JSON reports

The run uses the same deployments as the CI tests (tests/conformance/porta_launcher.py and
tests/interop/node_op), the form driver, and each provider's expected-failures list; the
expiry tests run against a second instance of each provider whose codes (and, for Porta,
access tokens) live 2 s.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SYMBOL = {"passed": "pass", "failed": "**FAIL**", "warning": "warn", "skipped": "skip", "throttled": "throttled"}


def table(porta: dict[str, Any], node: dict[str, Any]) -> str:
    """Markdown: one row per test id, the two verdicts side by side, then the totals."""
    from conformance_tests.registry import all_tests

    by_id = {"porta": {r["id"]: r for r in porta["results"]}, "node": {r["id"]: r for r in node["results"]}}
    lines = ["| plan | test | spec | level | Porta | node-oidc-provider 9.13.3 |",
             "| --- | --- | --- | --- | --- | --- |"]
    for test in all_tests():
        cells = []
        for name in ("porta", "node"):
            result = by_id[name].get(test.id)
            cell = SYMBOL[result["status"]] if result else "–"
            if result and result.get("expected_failure"):
                cell += " (known)"
            cells.append(cell)
        level = "required" if test.required else "recommended"
        lines.append(f"| {test.plan} | `{test.id}` | {test.spec} | {level} | {cells[0]} | {cells[1]} |")
    for name, report in (("Porta", porta), ("node-oidc-provider", node)):
        s = report["summary"]
        lines.append(f"\n{name}: {s['passed']} passed, {s['failed']} failed, {s['warnings']} warnings, "
                     f"{s['skipped']} skipped.")
    return "\n".join(lines)


def plan_summary(porta: dict[str, Any], node: dict[str, Any]) -> str:
    """Markdown: one row per plan, the verdict counts of each provider."""
    from conformance_tests.registry import PLANS, all_tests

    lines = ["| plan | tests | Porta | node-oidc-provider 9.13.3 |", "| --- | --- | --- | --- |"]
    for plan in PLANS:
        ids = [t.id for t in all_tests() if t.plan == plan]
        cells = []
        for report in (porta, node):
            results = [r for r in report["results"] if r["plan"] == plan]
            counts = {}
            for r in results:
                key = SYMBOL[r["status"]].strip("*").lower() + (" (known)" if r.get("expected_failure") else "")
                counts[key] = counts.get(key, 0) + 1
            cells.append(", ".join(f"{n} {k}" for k, n in sorted(counts.items(), key=lambda kv: -kv[1])))
        lines.append(f"| {plan} | {len(ids)} | {cells[0]} | {cells[1]} |")
    return "\n".join(lines)


def _run_both(workdir: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    from conformance_tests.cli import main
    from tests.conformance.conftest import write_op_toml
    from tests.conformance.porta_launcher import porta_op, share_database_with
    from tests.conformance.test_node_op import NATIVE, RP, node_op_toml
    from tests.interop.node_op.launcher import node_op

    def run(name: str, op_toml: dict[str, Any], *extra: str) -> None:
        config = write_op_toml(workdir / f"{name}.toml", op_toml)
        main(["run", "--config", str(config), "--no-colour", "--report-json", str(workdir / f"{name}.json"),
              *extra])

    expired = {"timing": {"code_lifetime_s": 2, "access_token_lifetime_s": 2, "code_reuse_wait_s": 2}}
    waits = "rfc9700-code-expired,rfc6750-userinfo-expired-token"
    known = ["--expected-failures", str(Path(__file__).with_name("porta_expected_failures.txt"))]
    with porta_op(workdir / "porta") as op:
        run("porta", op.op_toml, *known)
        ttl = {"PORTA_AUTH_CODE_TTL": "2", "PORTA_ACCESS_TOKEN_TTL": "2"}
        with share_database_with(op, workdir, ttl) as short:
            run("porta-expiry", {**short.op_toml, **expired}, "--plan", waits, *known)
    node_known = ["--expected-failures", str(Path(__file__).with_name("node_expected_failures.txt"))]
    with node_op(clients=[RP, NATIVE]) as issuer:
        run("node", node_op_toml(issuer), *node_known)
    with node_op(clients=[RP, NATIVE], code_ttl=2) as issuer:  # the launcher cannot shorten access tokens
        node_expired = {"timing": {"code_lifetime_s": 2, "code_reuse_wait_s": 2}}
        run("node-expiry", {**node_op_toml(issuer), **node_expired}, "--plan", "rfc9700-code-expired", *node_known)
    reports = {}
    summary_key = {"passed": "passed", "failed": "failed", "warning": "warnings", "skipped": "skipped",
                   "throttled": "throttled"}
    for name in ("porta", "node"):
        report = json.loads((workdir / f"{name}.json").read_text())
        for expiry in json.loads((workdir / f"{name}-expiry.json").read_text())["results"]:
            old = next(r for r in report["results"] if r["id"] == expiry["id"])
            report["results"][report["results"].index(old)] = expiry
            report["summary"][summary_key[old["status"]]] -= 1
            report["summary"][summary_key[expiry["status"]]] += 1
        reports[name] = report
    return reports["porta"], reports["node"]


def main() -> None:
    """Entry point: print the Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("reports", nargs="*", metavar="REPORT_JSON", help="porta.json node.json")
    parser.add_argument("--save", metavar="DIR", help="also write porta.json and node.json to DIR")
    args = parser.parse_args()
    if args.reports:
        porta, node = (json.loads(Path(p).read_text()) for p in args.reports)
    else:
        with tempfile.TemporaryDirectory() as workdir:
            porta, node = _run_both(Path(workdir))
    if args.save:
        for name, report in (("porta", porta), ("node", node)):
            (Path(args.save) / f"{name}.json").write_text(json.dumps(report))
    print(plan_summary(porta, node))
    print()
    print(table(porta, node))


if __name__ == "__main__":
    main()
