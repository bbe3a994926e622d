"""Consent requests (consent_spec SPEC.md §4): what a relying party asks, claim by claim.

A request is assembled from the authorization request (scope values mapped
to claims by OIDC Core §5.4, and the ``claims`` parameter of §5.5 with its
``essential`` flags) and from what the relying party registered about each
claim in its client metadata: the ``consent`` registration extension
(purposes, retention, third-party disclosure, legal basis, jurisdiction,
contact). The extension is validated against the consent_spec
``consent-request`` schema at registration time, so an unregistered purpose is
refused with ``invalid_client_metadata`` before any person sees it.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import consent_spec
from idp.protocol.claims import SCOPE_CLAIMS, requested_claim_names
from idp.protocol.errors import InvalidClientMetadataError
from idp.storage.models import Client

# Defaults for claims the RP did not describe: the narrowest honest reading of an OIDC
# login (the claim is used to provide the service the person signed in to).
DEFAULT_PURPOSES = {"email": ["service-provision", "customer-care"]}
DEFAULT_RETENTION = {"duration": "P1Y", "from": "end-of-relationship"}
SENSITIVITY = {
    "address": "moderate",
    "phone_number": "moderate",
    "email": "moderate",
    "birthdate": "moderate",
    "gender": "moderate",
}
EXTENSION = "consent"  # the client-metadata member holding the RP's registered consent terms


def _timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def claims_requested(
    scopes: list[str], claims_parameter: dict[str, Any] | None
) -> tuple[list[str], set[str]]:
    """Claim names asked for (scope claims, then claims-parameter members) and the essential ones."""
    names: list[str] = []
    essential: set[str] = set()
    for scope in scopes:
        for claim in SCOPE_CLAIMS.get(scope, ()):
            if claim not in names:
                names.append(claim)
    for member in ("id_token", "userinfo"):
        part = (claims_parameter or {}).get(member) or {}
        for claim in requested_claim_names([], part):
            if claim not in names:
                names.append(claim)
            spec = part.get(claim)
            if isinstance(spec, dict) and spec.get("essential") is True:
                essential.add(claim)
    return names, essential


def _relying_party(client: Client) -> dict[str, Any]:
    meta = client.metadata_
    registered = meta.get(EXTENSION, {})
    party: dict[str, Any] = {
        "client_id": client.client_id,
        "name": meta.get("client_name") or client.client_id,
    }
    if meta.get("client_uri", "").startswith("https://"):
        party["url"] = meta["client_uri"]
    if meta.get("policy_uri", "").startswith("https://"):
        party["policy_url"] = meta["policy_uri"]
    for member in ("jurisdiction", "contact"):
        if member in registered:
            party[member] = registered[member]
    return party


def claim_entry(client: Client, claim: str, essential: bool) -> dict[str, Any]:
    """What the RP asks about one claim, from its registration or the defaults above."""
    registered = client.metadata_.get(EXTENSION, {}).get("claims", {}).get(claim, {})
    entry: dict[str, Any] = {
        "essential": bool(registered.get("essential", False) or essential),
        "purposes": list(
            registered.get("purposes") or DEFAULT_PURPOSES.get(claim, ["service-provision"])
        ),
        "retention": dict(registered.get("retention") or DEFAULT_RETENTION),
        "sensitivity": SENSITIVITY.get(claim, "low"),
        "third_party_disclosure": dict(
            registered.get("third_party_disclosure") or {"disclosed": False}
        ),
    }
    for member in ("legal_basis", "reason"):
        if member in registered:
            entry[member] = registered[member]
    return entry


def build_request(
    client: Client,
    claim_names: list[str],
    essential: set[str],
    *,
    language: str = "en",
    now: datetime,
) -> dict[str, Any]:
    """A consent-request document (SPEC.md §4.1) for these claims."""
    registered = client.metadata_.get(EXTENSION, {})
    claims = {name: claim_entry(client, name, name in essential) for name in claim_names}
    document: dict[str, Any] = {
        "$schema": consent_spec.schema_id("consent-request"),
        "spec_version": consent_spec.SPEC_VERSION,
        "request_id": str(uuid.uuid4()),
        "created_at": _timestamp(now),
        "relying_party": _relying_party(client),
        "legal_basis": registered.get("legal_basis", "consent"),
        "language": language,
        "claims": claims,
    }
    if registered.get("accepted_terms"):
        document["accepted_terms"] = registered["accepted_terms"]
    return document


def validate_registration(client_id: str, metadata: dict[str, Any]) -> None:
    """Check the ``consent`` registration extension against the consent-request schema.

    Raises ``invalid_client_metadata`` naming the offending member, e.g. a
    purpose outside the vocabulary of SPEC.md §4.2.
    """
    registered = metadata.get(EXTENSION)
    if registered is None:
        return
    if not isinstance(registered, dict):
        raise InvalidClientMetadataError(f"{EXTENSION}: must be a JSON object")
    unknown = set(registered) - {
        "claims",
        "legal_basis",
        "jurisdiction",
        "contact",
        "accepted_terms",
    }
    if unknown:
        raise InvalidClientMetadataError(
            f"{EXTENSION}: unknown member(s) {', '.join(sorted(unknown))}"
        )
    claims = registered.get("claims", {})
    if not isinstance(claims, dict):
        raise InvalidClientMetadataError(f"{EXTENSION}.claims: must be a JSON object")
    fake = Client(client_id=client_id, metadata_=metadata)
    document = build_request(fake, list(claims) or ["name"], set(), now=datetime.now(UTC))
    for problem in consent_spec.validate(document, kind="consent-request"):
        path = str(problem.path).lstrip("$").lstrip(".")
        where = path.replace("relying_party.", "").replace("claims.", "claims.", 1)
        raise InvalidClientMetadataError(f"{EXTENSION}.{where}: {problem.message}")
