"""The validate() API: errors, not exceptions, for bad data; paths; kind detection."""

from __future__ import annotations

import copy

import pytest

from consent_spec import ValidationIssue, detect_kind, is_valid, schema_id, validate
from consent_spec.issues import format_path
from consent_spec.vectors import valid_vectors

DOCS = {v.name: v.document for v in valid_vectors()}


@pytest.mark.parametrize("document", [None, 42, "text", [], [{"spec_version": "1.0"}]])
def test_non_object_documents_are_errors_not_exceptions(document: object) -> None:
    issues = validate(document, "consent-record")
    assert issues and all(isinstance(issue, ValidationIssue) for issue in issues)
    assert issues[0].path == "$"


def test_python_values_that_are_not_json_are_errors_not_exceptions() -> None:
    record = copy.deepcopy(DOCS["consent-record/given.json"])
    record["refused"] = {"email"}
    record["decided_at"] = b"2026-11-20T09:15:41Z"
    record["granted"][1] = {"purposes": ["marketing"]}
    rules = {(issue.path, issue.rule) for issue in validate(record)}
    assert ("$.refused", "type") in rules
    assert ("$.decided_at", "type") in rules


def test_unknown_document_without_kind_is_one_error() -> None:
    issues = validate({"hello": "world"})
    assert [(issue.path, issue.rule) for issue in issues] == [("$", "kind")]


def test_every_error_is_reported_not_only_the_first() -> None:
    record = copy.deepcopy(DOCS["consent-record/given.json"])
    record["state"] = "paused"
    record["decided_at"] = "soon"
    record["request"]["relying_party"]["contact"]["email"] = "not-an-email"
    paths = {issue.path for issue in validate(record)}
    assert {"$.state", "$.decided_at", "$.request.relying_party.contact.email"} <= paths


def test_formats_are_checked() -> None:
    withdrawal = copy.deepcopy(DOCS["withdrawal/withdraw.json"])
    withdrawal["record_id"] = "not-a-uuid-at-all"
    withdrawal["requested_at"] = "2026-13-45T99:00:00Z"
    rules = {(issue.path, issue.rule) for issue in validate(withdrawal)}
    assert ("$.record_id", "format") in rules
    assert ("$.requested_at", "format") in rules


def test_uri_member_names_are_quoted_in_paths() -> None:
    record = copy.deepcopy(DOCS["consent-record/given-everything.json"])
    record["granted"]["urn:porta:claim:dietary-preference"]["purposes"] = ["marketing"]
    issues = validate(record)
    assert "$.granted['urn:porta:claim:dietary-preference'].purposes[0]" in {issue.path for issue in issues}


def test_format_path_escapes_quotes() -> None:
    assert format_path(["a", 0, "it's", "b-c"]) == "$.a[0]['it\\'s'].b-c"


def test_detect_kind() -> None:
    assert detect_kind(DOCS["consent-record/given.json"]) == "consent-record"
    assert detect_kind(DOCS["consent-receipt/given-receipt-claims.json"]) == "consent-receipt"
    assert detect_kind(DOCS["consent-event/withdrawn.json"]) == "consent-event"
    assert detect_kind({"$schema": "https://elsewhere.example/x.json"}) is None
    assert detect_kind([]) is None


def test_declared_schema_must_match_the_requested_kind() -> None:
    issues = validate(DOCS["consent-record/given.json"], "withdrawal")
    assert [(issue.path, issue.rule) for issue in issues] == [("$.$schema", "kind")]


def test_schema_member_must_name_the_right_id() -> None:
    record = dict(DOCS["consent-record/given.json"], **{"$schema": schema_id("consent-request")})
    assert not is_valid(record, "consent-record")


def test_rules_run_on_embedded_records() -> None:
    """A receipt is checked with the record rules too (SPEC.md 7.2 refers to 5.2)."""
    receipt = copy.deepcopy(DOCS["consent-receipt/given-receipt-claims.json"])
    receipt["consent_record"]["granted"]["phone_number"] = {"purposes": ["customer-care"]}
    rules = {issue.rule for issue in validate(receipt)}
    assert "record-claims-requested" in rules


def test_issue_renders_as_path_and_message() -> None:
    issue = ValidationIssue("$.state", "bad state", "enum")
    assert str(issue) == "$.state: bad state"
