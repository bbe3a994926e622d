"""Report writers: JSON, JUnit XML and a self-contained HTML page (no external assets).

The HTML page inlines ``report/style.css`` into ``report/template.html``; both ship as
package data.
"""

from __future__ import annotations

import html
import json
import time
from importlib import resources
from pathlib import Path
from xml.etree import ElementTree as ET

from conformance_tests.registry import BLOCKED, FAILED, PASSED, PLANS, SKIPPED, THROTTLED, WARNING
from conformance_tests.runner import RunReport
from conformance_tests.trace import render_text


def write_json(report: RunReport, path: str | Path) -> None:
    """``{"summary": {passed, failed, warnings, skipped, throttled}, "results": [...]}``; each
    result carries its redacted HTTP ``trace``."""
    Path(path).write_text(json.dumps(report.to_json(), indent=2) + "\n")


def junit_tree(report: RunReport) -> ET.ElementTree:
    """One <testsuite> per plan; failures as <failure>, warnings as passed with system-out."""
    root = ET.Element("testsuites", name="porta-conformance")
    summary = report.summary
    root.set("tests", str(len(report.results)))
    root.set("failures", str(summary["failed"]))
    root.set("skipped", str(summary["skipped"]))
    root.set("errors", str(summary["throttled"]))
    for plan in PLANS:
        results = [r for r in report.results if r.plan == plan]
        if not results:
            continue
        suite = ET.SubElement(root, "testsuite", name=plan, tests=str(len(results)),
                              failures=str(sum(r.status == FAILED for r in results)),
                              skipped=str(sum(r.status == SKIPPED for r in results)),
                              time=f"{sum(r.duration_s for r in results):.3f}")
        for r in results:
            case = ET.SubElement(suite, "testcase", classname=f"porta-conformance.{plan}",
                                 name=r.id, time=f"{r.duration_s:.3f}")
            ET.SubElement(case, "properties").extend([
                ET.Element("property", name="spec", value=r.spec),
                ET.Element("property", name="level", value="required" if r.required else "recommended"),
            ])
            if r.status == FAILED:
                note = f" (expected failure: {r.expected_failure})" if r.expected_failure else ""
                failure = ET.SubElement(case, "failure", message=r.message[:500] + note, type="failed")
                failure.text = f"{r.spec}\n{r.message}{note}\n\n{render_text(r.trace)}"
            elif r.status == BLOCKED:
                ET.SubElement(case, "skipped", message=r.message[:500], type="blocked")
            elif r.status == THROTTLED:
                error = ET.SubElement(case, "error", message=r.message[:500], type="throttled")
                error.text = f"{r.message}\n\n{render_text(r.trace)}"
            elif r.status == SKIPPED:
                ET.SubElement(case, "skipped", message=r.message)
            elif r.status == WARNING:
                out = ET.SubElement(case, "system-out")
                out.text = f"WARNING (recommended rule, {r.spec}): {r.message}"
    return ET.ElementTree(root)


def write_junit(report: RunReport, path: str | Path) -> None:
    """JUnit XML for CI systems."""
    tree = junit_tree(report)
    ET.indent(tree)
    tree.write(path, encoding="utf-8", xml_declaration=True)


def render_html(report: RunReport) -> str:
    """A single page: summary, then one table per plan, failures first to the eye."""
    package = resources.files("conformance_tests.report")
    template = package.joinpath("template.html").read_text(encoding="utf-8")
    css = package.joinpath("style.css").read_text(encoding="utf-8")
    summary = report.summary
    sections = []
    for plan in PLANS:
        results = [r for r in report.results if r.plan == plan]
        if not results:
            continue
        rows = []
        for r in results:
            note = ""
            if r.expected_failure is not None:
                note = f'<div class="note">expected failure: {html.escape(r.expected_failure)}</div>'
                if r.unexpected_pass:
                    note = '<div class="note">listed as an expected failure but passes: remove it from the list</div>'
            level = "required" if r.required else "recommended"
            rows.append(
                f'<tr class="{r.status}" id="t-{html.escape(r.id)}"><td class="status"><span class="badge {r.status}">'
                f'{r.status}</span></td><td><code>{html.escape(r.id)}</code>'
                f'<div class="title">{html.escape(r.title)}</div></td>'
                f'<td>{html.escape(r.spec)}<div class="level">{level}</div></td>'
                f'<td class="message">{html.escape(r.message)}{note}</td>'
                f'<td class="num">{r.duration_s:.2f}</td></tr>'
            )
            if r.trace:
                exchanges = sum(1 for e in r.trace if "request" in e)
                rows.append(
                    f'<tr class="trace {r.status}"><td></td><td colspan="4"><details><summary>HTTP trace '
                    f'({exchanges} exchanges, secrets redacted)</summary><pre>{html.escape(render_text(r.trace))}'
                    '</pre></details></td></tr>'
                )
        counts = " · ".join(
            f"{sum(r.status == s for r in results)} {s}"
            for s in (PASSED, FAILED, WARNING, SKIPPED, THROTTLED, BLOCKED)
            if s not in (THROTTLED, BLOCKED) or any(r.status == s for r in results)
        )
        sections.append(
            f'<section><h2>{html.escape(plan)} <small>{counts}</small></h2><table>'
            '<thead><tr><th>verdict</th><th>test</th><th>spec</th><th>detail</th><th>time (s)</th></tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table></section>'
        )
    attention = [r for r in report.results if r.status in (FAILED, WARNING, THROTTLED)]
    attention.sort(key=lambda r: ((FAILED, THROTTLED, WARNING).index(r.status), PLANS.index(r.plan)))
    if attention:
        items = "".join(
            f'<li class="{r.status}"><a href="#t-{html.escape(r.id)}"><code>{html.escape(r.id)}</code></a> '
            f'<span class="badge {r.status}">{r.status}</span> {html.escape(r.message)}</li>'
            for r in attention
        )
        sections.insert(0, f'<section class="attention"><h2>Needs attention</h2><ul>{items}</ul></section>')
    status = report.exit_status
    verdict, verdict_class = {0: ("PASSED", "passed"), 3: ("THROTTLED", "throttled")}.get(status, ("FAILED", "failed"))
    values = {
        "css": css,
        "issuer": html.escape(report.issuer),
        "when": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(report.started_at)),
        "verdict": verdict,
        "verdict_class": verdict_class,
        "passed": str(summary["passed"]),
        "failed": str(summary["failed"]),
        "warnings": str(summary["warnings"]),
        "skipped": str(summary["skipped"]),
        "throttled": str(summary["throttled"]),
        "sections": "\n".join(sections),
    }
    for key, value in values.items():
        template = template.replace("{{" + key + "}}", value)
    return template


def write_html(report: RunReport, path: str | Path) -> None:
    """Write the self-contained HTML report."""
    Path(path).write_text(render_html(report), encoding="utf-8")
