"""The JavaScript implementation (consent_spec/interop/js) agrees with the vectors and with
this package (issue 15, "proof that the text suffices"; SPEC.md section 15).

It was written from SPEC.md: ajv for the draft 2020-12 schemas, ``canonicalize``
for RFC 8785, ``jose`` for JWS. These tests run it when ``node`` is on the PATH;
the first run installs its locked dependencies with ``npm ci``.
"""

from __future__ import annotations

import copy
import json
import random
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from consent_spec import validate
from consent_spec.vectors import valid_vectors

JS = Path(__file__).resolve().parents[2] / "consent_spec" / "interop" / "js"
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("node") is None or shutil.which("npm") is None, reason="node and npm are not installed"),
]
DOCS = {v.name: v.document for v in valid_vectors()}


@pytest.fixture(scope="module")
def run_output() -> str:
    done = subprocess.run(["sh", str(JS / "run.sh")], capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def _js_issues(cases: list[dict[str, Any]]) -> list[list[dict[str, str]]]:
    done = subprocess.run(["node", str(JS / "validate-stdin.mjs")], input=json.dumps(cases), capture_output=True,
                          text=True, timeout=300, check=True)
    return json.loads(done.stdout)


def test_every_vector_check_agrees(run_output: str) -> None:
    assert "DISAGREE" not in run_output
    agreed, total = (int(word) for word in run_output.split()[0:3:2])
    assert agreed == total >= 150


_EDGES = {
    ("decided_at",): ["2016-12-31T23:59:60Z", "2016-12-31t23:59:60z", "2016-06-30T12:00:60Z", "2016-12-31T23:59:59+0100",
                      "2015-02-29T00:00:00Z", "2016-12-31 23:59:59Z", "2017-01-01T00:59:60+01:00", "2016-12-31T24:00:00Z"],
    ("language",): ["en-US-x-twain", "x-a", "en-", "i-klingon", "de-DE-u-co-phonebk", "en-a-bbb-x-a"],
    ("request", "relying_party", "contact", "email"): ["a@b", "a@[127.0.0.1]", "ä@b.de", "a@ä.de", '"a b"@c.d', "a@", "a@-b.c"],
    ("request", "claims", "email", "retention", "duration"): ["P1W", "P1Y2W", "P0D", "P1DT", "P1M1W", "PT1.5S"],
    ("request", "relying_party", "policy_url"): ["https://x.example/ä", "https://x.example/%zz", "https://[::1]/", "https://x.example:99999/"],
    ("sequence",): [2**53 - 1, 2**53, 2**60, -1, 1.0],
    ("extensions",): [{"https://x.example/n": 1e300}, {"https://x.example/n": 2.0**60}, {"https://x.example/n": 0.5},
                      {"https://x.example/n": -(2**53 - 1)}],
}


def _edge_cases() -> list[dict[str, Any]]:
    cases = []
    for path, values in _EDGES.items():
        for value in values:
            record = copy.deepcopy(DOCS["consent-record/given.json"])
            target = record
            for part in path[:-1]:
                target = target[part]
            target[path[-1]] = value
            if path == ("decided_at",):
                record.update(recorded_at="2030-01-01T00:00:00Z")
                record.pop("expires_at")
            cases.append({"kind": "consent-record", "document": record})
    return cases


def _mutations(count: int) -> list[dict[str, Any]]:
    values: list[Any] = ["", "2016-12-31T23:59:60Z", "en-US-x-twain", "a@b", "P1W", "urn:x:y", "\ud800", "😀",
                         2**53, -1, 0, 1.5, True, None, [], {}]
    rng = random.Random(15)
    vectors = [v for v in valid_vectors() if v.kind != "portable-profile"]

    def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        out = [prefix] if prefix else []
        items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else []
        for key, item in items:
            out.extend(paths(item, (*prefix, key)))
        return out

    cases = []
    for _ in range(count):
        vector = rng.choice(vectors)
        path = rng.choice(paths(vector.document))
        document = copy.deepcopy(vector.document)
        target = document
        for part in path[:-1]:
            target = target[part]
        target[path[-1]] = rng.choice(values)
        cases.append({"kind": vector.kind, "document": document})
    return cases


def test_both_implementations_give_the_same_verdicts_on_edge_cases_and_mutations(run_output: str) -> None:
    cases = _edge_cases() + _mutations(400)
    verdicts = _js_issues(cases)
    disagreements = [
        (case["kind"], [(i.path, i.rule) for i in validate(case["document"], case["kind"])][:3], js[:3])
        for case, js in zip(cases, verdicts, strict=True)
        if bool(validate(case["document"], case["kind"])) != bool(js)
    ]
    assert disagreements == []
    assert any(js for js in verdicts) and any(not js for js in verdicts)
