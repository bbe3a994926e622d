"""The validator and the verifiers never crash (SPEC.md sections 3.3, 3.5 and 17).

Bad input gives issues (or, for receipts, a ReceiptVerificationError), never a
traceback: huge integers, lone surrogates, NaN, deep nesting and arbitrary JSON
in place of any member of every valid vector. Leap seconds (RFC 3339 section
5.7), lowercase ``t``/``z`` (RFC 3339 section 5.6) and private-use BCP 47 tags
(RFC 5646 section 2.2.7) are valid.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given, settings
from hypothesis import strategies as st

from consent_spec import (
    KINDS,
    ReceiptVerificationError,
    ValidationIssue,
    validate,
    verify_chain,
    verify_ledger,
    verify_receipt,
)
from consent_spec.vectors import lineage_vectors, receipt_vectors, valid_vectors

VALID = valid_vectors()
DOCS = {v.name: v.document for v in VALID}
LEDGERS = [v["entries"] for v in lineage_vectors(valid=True).values()]
JWKS = receipt_vectors()["jwks"]
BOUNDED = settings(max_examples=200, deadline=None)

_text = st.text(st.characters(exclude_categories=()), max_size=12) | st.sampled_from(["\ud800", "a\udfffb", "\ud83d", "😀", "é"])
# Powers of two up to 2**20000, whose 6021 decimal digits are more than Python will
# turn into text by default (built lazily: hypothesis prints its strategies).
_integers = st.integers() | st.builds(lambda sign, exponent: sign * 2**exponent, st.sampled_from([1, -1]), st.sampled_from([53, 60, 64, 100, 20000]))
_scalars = st.none() | st.booleans() | _integers | st.floats() | _text
JSON = st.recursive(
    _scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(_text, children, max_size=4),
    max_leaves=16,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for name, item in value.items():
            out.extend(_paths(item, (*prefix, name)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            out.extend(_paths(item, (*prefix, index)))
    return out


def _replaced(document: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    document = copy.deepcopy(document)
    parent = document
    for part in path[:-1]:
        parent = parent[part]
    parent[path[-1]] = value
    return document


@st.composite
def mutated_vectors(draw: st.DrawFn) -> tuple[str, Any]:
    """A valid vector with one member (at any depth) replaced by arbitrary JSON."""
    vector = draw(st.sampled_from(VALID))
    path = draw(st.sampled_from(_paths(vector.document)))
    return vector.kind, _replaced(vector.document, path, draw(JSON))


def _only_issues(result: Any) -> None:
    assert isinstance(result, list)
    assert all(isinstance(issue, ValidationIssue) for issue in result)


@BOUNDED
@given(kind=st.sampled_from(KINDS), document=JSON)
def test_arbitrary_json_gives_issues_for_every_kind(kind: str, document: Any) -> None:
    _only_issues(validate(document, kind))
    _only_issues(validate(document))


@BOUNDED
@given(case=mutated_vectors())
def test_any_member_of_any_vector_replaced_by_arbitrary_json_gives_issues(case: tuple[str, Any]) -> None:
    kind, document = case
    _only_issues(validate(document, kind))


@BOUNDED
@given(ledger=st.sampled_from(LEDGERS), data=st.data())
def test_ledger_verifiers_give_issues_for_any_corrupted_ledger(ledger: list[Any], data: st.DataObject) -> None:
    path = data.draw(st.sampled_from(_paths(ledger)))
    corrupted = _replaced(ledger, path, data.draw(JSON))
    _only_issues(verify_chain(corrupted))
    _only_issues(verify_ledger(corrupted))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _json_text(value: Any) -> str:
    """JSON text of ``value``, writing integers of any size (``json.dumps`` stops at 4300 digits)."""
    if isinstance(value, bool) or value is None or isinstance(value, float | str):
        return json.dumps(value)
    if isinstance(value, int):
        digits = []
        magnitude = abs(value)
        while magnitude:
            magnitude, digit = divmod(magnitude, 10**1000)
            digits.append(digit)
        if not digits:
            return "0"
        text = str(digits[-1]) + "".join(f"{chunk:01000d}" for chunk in reversed(digits[:-1]))
        return ("-" if value < 0 else "") + text
    if isinstance(value, list):
        return "[" + ",".join(_json_text(item) for item in value) + "]"
    return "{" + ",".join(f"{json.dumps(name)}:{_json_text(item)}" for name, item in value.items()) + "}"


@BOUNDED
@given(header=JSON, payload=JSON, signature=st.binary(max_size=70))
def test_receipt_verification_fails_only_with_its_own_error(header: Any, payload: Any, signature: bytes) -> None:
    token = ".".join(_b64(_json_text(part).encode("utf-8", "surrogatepass")) for part in (header, payload)) + "." + _b64(signature)
    with pytest.raises(ReceiptVerificationError):
        verify_receipt(token, JWKS)


@BOUNDED
@given(text=st.text(max_size=200))
def test_receipt_verification_of_any_text_fails_only_with_its_own_error(text: str) -> None:
    with pytest.raises(ReceiptVerificationError):
        verify_receipt(text, JWKS)


def _deep(levels: int) -> Any:
    value: Any = []
    for _ in range(levels):
        value = [value]
    return value


@pytest.mark.parametrize("kind", KINDS)
def test_deep_nesting_is_an_issue(kind: str) -> None:
    issues = validate(_deep(100_000), kind)
    assert [issue.rule for issue in issues] == ["i-json"]
    record = dict(DOCS["consent-record/given.json"], extensions={"https://x.example/deep": _deep(10_000)})
    assert "i-json" in {issue.rule for issue in validate(record)}


def _vector_key() -> Any:
    """The test-vector signing key, derived from its public seed as build_vectors.py does."""
    seed = hashlib.sha256(b"porta consent-spec 1.0 test vector key").digest()
    return ec.derive_private_key(int.from_bytes(seed, "big"), ec.SECP256R1())


@pytest.mark.parametrize(
    "payload",
    ['{"iat":' + "7" * 6000 + "}", '{"iat":' + str(2**60) + "}", '{"iss":"\\ud800"}', "[" * 50_000 + "]" * 50_000],
    ids=["6000-digits", "2^60", "lone-surrogate", "deep"],
)
def test_well_signed_hostile_payloads_fail_only_with_the_receipt_error(payload: str) -> None:
    kid = JWKS["keys"][0]["kid"]
    token = jwt.api_jws.encode(payload.encode(), _vector_key(), algorithm="ES256", headers={"typ": "consent-receipt+jwt", "kid": kid})
    with pytest.raises(ReceiptVerificationError):
        verify_receipt(token, JWKS)


def test_deeply_nested_receipt_payload_is_malformed() -> None:
    header = _b64(json.dumps({"alg": "ES256", "typ": "consent-receipt+jwt", "kid": JWKS["keys"][0]["kid"]}).encode())
    payload = _b64(("[" * 100_000 + "]" * 100_000).encode())
    with pytest.raises(ReceiptVerificationError):
        verify_receipt(f"{header}.{payload}.{_b64(b'x' * 64)}", JWKS)


@pytest.mark.parametrize("number", [2**53, 2**60, -(2**60), 2**64, 10**5000], ids=["2^53", "2^60", "-2^60", "2^64", "10^5000"])
@pytest.mark.parametrize("where", [("sequence",), ("extensions", "https://x.example/n")])
def test_integers_outside_i_json_are_issues(number: int, where: tuple[str, ...]) -> None:
    record = copy.deepcopy(DOCS["consent-record/given.json"])
    record.setdefault("extensions", {})
    target = record
    for part in where[:-1]:
        target = target[part]
    target[where[-1]] = number
    path = "$." + where[0] if len(where) == 1 else f"$.extensions['{where[1]}']"
    assert ("i-json", path) in {(issue.rule, issue.path) for issue in validate(record)}
    receipt = copy.deepcopy(DOCS["consent-receipt/given-receipt-claims.json"])
    receipt["consent_record"] = record
    assert "i-json" in {issue.rule for issue in validate(receipt)}


@pytest.mark.parametrize("number", [1e300, -1e300, 2.0**60, 9007199254740992.0])
def test_numbers_beyond_the_bound_are_issues_however_written(number: float) -> None:
    record = dict(DOCS["consent-record/given.json"], extensions={"https://x.example/n": number})
    assert [issue.rule for issue in validate(record)] == ["i-json"]


def test_largest_i_json_integer_is_accepted() -> None:
    record = dict(DOCS["consent-record/given.json"], extensions={"https://x.example/n": 2**53 - 1})
    assert validate(record) == []


@pytest.mark.parametrize("text", ["\ud800", "x\udc00", "\ud83d"])
def test_lone_surrogates_in_values_and_names_are_issues(text: str) -> None:
    record = copy.deepcopy(DOCS["consent-record/given.json"])
    record["request"]["relying_party"]["name"] = text
    assert ("i-json", "$.request.relying_party.name") in {(issue.rule, issue.path) for issue in validate(record)}
    record = dict(DOCS["consent-record/given.json"], extensions={"https://x.example/e": {text: 1}})
    assert ("i-json", "$.extensions['https://x.example/e']") in {(issue.rule, issue.path) for issue in validate(record)}


@pytest.mark.parametrize("number", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_numbers_are_issues(number: float) -> None:
    record = dict(DOCS["consent-record/given.json"], extensions={"https://x.example/n": number})
    assert [issue.rule for issue in validate(record)] == ["i-json"]


def test_leap_seconds_and_lowercase_separators_are_date_times() -> None:
    """RFC 3339 section 5.7 allows second 60; section 5.6 allows lowercase t and z."""
    record = copy.deepcopy(DOCS["consent-record/given.json"])
    record.update(decided_at="2016-12-31T23:59:60Z", recorded_at="2016-12-31t23:59:60z", expires_at="2017-07-01T01:59:60+02:00")
    assert validate(record) == []
    record["recorded_at"] = "2016-12-31T23:59:59Z"
    assert ("$.recorded_at", "record-time-order") in {(issue.path, issue.rule) for issue in validate(record)}


@pytest.mark.parametrize("value", ["2016-12-31T12:00:60Z", "2016-12-31T23:59:61Z", "2016-02-30T00:00:00Z", "2016-12-31T23:59:59"])
def test_impossible_date_times_are_rejected(value: str) -> None:
    record = dict(DOCS["consent-record/given.json"], decided_at=value)
    assert ("$.decided_at", "format") in {(issue.path, issue.rule) for issue in validate(record)}


@pytest.mark.parametrize("tag", ["en-US-x-twain", "x-pig-latin", "de-DE-u-co-phonebk", "zh-Hant-TW"])
def test_extension_and_private_use_language_tags_are_accepted(tag: str) -> None:
    """RFC 5646 section 2.1: extensions (singleton + subtags) and private use (x + subtags of 1-8)."""
    assert validate(dict(DOCS["consent-record/given.json"], language=tag)) == []
    catalogue = copy.deepcopy(DOCS["claims-catalogue/single-claim.json"])
    catalogue["claims"]["name"]["display_name"][tag] = "Name"
    assert validate(catalogue, "claims-catalogue") == []


@pytest.mark.parametrize("tag", ["en-", "e", "en--US", "en-US-x-", "en-x", "english-language"])
def test_malformed_language_tags_are_rejected(tag: str) -> None:
    issues = validate(dict(DOCS["consent-record/given.json"], language=tag))
    assert ("$.language", "pattern") in {(issue.path, issue.rule) for issue in issues}


@pytest.mark.parametrize(("email", "valid"), [("a@b", True), ("ä@b.de", True), ("a@ä.de", True), ("first.last+tag@mail.example", True),
                                              ("a@[127.0.0.1]", False), ('"a b"@c.d', False), ("a@-b.c", False), ("a..b@c.d", False)])
def test_email_format_is_the_one_spec_md_defines(email: str, valid: bool) -> None:
    """SPEC.md 3.3: RFC 5321 4.1.2 Mailbox with a Dot-string and a domain name, UTF-8 allowed (RFC 6531 3.3)."""
    record = copy.deepcopy(DOCS["consent-record/given.json"])
    record["request"]["relying_party"]["contact"]["email"] = email
    rules = {(issue.path, issue.rule) for issue in validate(record)}
    assert (("$.request.relying_party.contact.email", "format") not in rules) == valid
