"""SPEC.md documents the provider-RP protocol Porta implements (SPEC.md sections 16, 19, 21).

Names are taken from the code that speaks the protocol (idp's discovery document
and registration checks, the conformance suite's profile) so that a member added
there without a line in SPEC.md fails here. Examples in SPEC.md are parsed, and
those tagged ``kind=<kind>`` are validated.
"""

from __future__ import annotations

import json
import re
from importlib import resources

from conformance_tests.modules import consent
from consent_spec import validate
from idp.base.context import PATHS
from idp.base.settings import load_settings
from idp.consent import consent_request as requests
from idp.consent import events
from idp.portability.common import EXPORT_TYP
from idp.protocol import discovery

SPEC = resources.files("consent_spec").joinpath("SPEC.md").read_text("utf-8")


def _section(number: str) -> str:
    start = re.search(rf"^## {number}\. .*$", SPEC, re.MULTILINE)
    assert start, number
    following = re.search(r"^## \d+\. ", SPEC[start.end():], re.MULTILINE)
    return SPEC[start.start(): start.end() + following.start()] if following else SPEC[start.start():]


PROTOCOL = _section("19")
BLOCKS = re.findall(r"^```json( kind=[a-z-]+)?\n(.*?)^```", PROTOCOL, re.MULTILINE | re.DOTALL)


def test_every_consent_discovery_member_idp_publishes_is_specified() -> None:
    metadata = discovery.provider_metadata(
        load_settings(
            {
                "ISSUER": "https://op.example",
                "REGISTRATION": "open",
                "ACCESS_TOKEN_SIGNING_ALG": "ES256",
                "SECRET_KEY": "x" * 32,
            }
        )
    )
    names = [name for name in metadata if name.startswith("consent_")] + ["authorization_details_types_supported"]
    assert len(names) >= 7
    table = PROTOCOL[PROTOCOL.index("### 19.1"): PROTOCOL.index("### 19.2")]
    assert [name for name in names if f"| `{name}` |" not in table] == []


def test_client_metadata_and_claim_members_idp_accepts_are_specified() -> None:
    table = PROTOCOL[PROTOCOL.index("### 19.2"): PROTOCOL.index("### 19.3")]
    assert f"| `{requests.EXTENSION}` |" in table
    assert f"| `{events.ENDPOINT_METADATA}` |" in table
    assert [member for member in sorted(requests.CLAIM_MEMBERS) if f"`{member}`" not in table] == []


def test_the_registration_example_is_accepted_by_idp() -> None:
    registration = next(json.loads(body) for _, body in BLOCKS if '"consent_event_endpoint"' in body)
    requests.validate_registration("example-client", registration)


def test_names_the_conformance_suite_relies_on_are_specified() -> None:
    assert [name for name in consent.PROFILE.values() if f"`{name}`" not in PROTOCOL] == []
    assert consent.WITHDRAWN_EVENT in PROTOCOL


def test_receipts_endpoint_path_export_typ_and_token_member_are_specified() -> None:
    assert f"POST {PATHS['consent_receipts_endpoint']} HTTP/1.1" in PROTOCOL
    assert f"`{EXPORT_TYP}`" in PROTOCOL
    assert '"consent_receipt":' in PROTOCOL


def test_examples_parse_and_typed_examples_validate() -> None:
    assert len(BLOCKS) >= 5
    typed = 0
    for tag, body in BLOCKS:
        document = json.loads(body)
        if tag:
            typed += 1
            assert validate(document, tag.split("=", 1)[1]) == []
    assert typed >= 1


def test_versioning_and_changelog_sections_exist_and_name_every_new_rule() -> None:
    versioning = _section("16")
    assert "### 16.1 Open and closed objects" in versioning
    assert "### 16.2 A 1.0 consumer and a 1.1 producer" in versioning
    changelog = _section("21")
    assert SPEC.rstrip().endswith(changelog.rstrip()), "the changelog is the last section"
    for rule in ("ledger-record-unique", "lineage-same-party", "lineage-time-order", "lineage-narrowing-subset",
                 "lineage-expiry", "ledger-one-open-lineage", "record-claims-decided", "i-json"):
        assert f"`{rule}`" in changelog, rule
