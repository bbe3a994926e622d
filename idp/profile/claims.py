"""Claims: which profile values a client receives (OIDC Core §5.1, §5.4, §5.5)."""

from __future__ import annotations

import json
from typing import Any

from idp.base.clock import epoch, timestamp
from idp.base.errors import InvalidRequestError
from idp.storage import Store
from idp.storage.models import User

# OIDC Core §5.4: the claims each scope value requests.
SCOPE_CLAIMS: dict[str, tuple[str, ...]] = {
    "profile": (
        "name",
        "family_name",
        "given_name",
        "middle_name",
        "nickname",
        "preferred_username",
        "profile",
        "picture",
        "website",
        "gender",
        "birthdate",
        "zoneinfo",
        "locale",
        "updated_at",
    ),
    "email": ("email", "email_verified"),
    "address": ("address",),
    "phone": ("phone_number", "phone_number_verified"),
}
STANDARD_CLAIMS = tuple(c for claims in SCOPE_CLAIMS.values() for c in claims)
# The trust framework of a claim a provider verified by its own means (consent_spec SPEC.md
# §12.2), in OpenID Connect for Identity Assurance 1.0 ``verified_claims``.
TRUST_FRAMEWORK = "consent-spec-provider"
# The member of the claims parameter and of UserInfo that carries them (OIDC4IA 1.0 §5).
VERIFIED_CLAIMS = "verified_claims"
# Claims about the authentication itself, never taken from the profile.
PROTOCOL_CLAIMS = ("sub", "auth_time", "acr", "amr", "nonce", "sid")


def granted_scopes(scopes: list[str], granted_claims: list[str]) -> list[str]:
    """The scope values a grant carries after the person's choice (RFC 6749 §3.3).

    A scope value that stands for claims (OIDC Core §5.4) stays only when the person
    granted at least one of its claims: a site told ``scope=email`` after every email
    claim was refused would be told something the person did not choose.
    """
    granted = set(granted_claims)
    return [
        scope
        for scope in scopes
        if scope not in SCOPE_CLAIMS or granted.intersection(SCOPE_CLAIMS[scope])
    ]


def parse_claims_request(raw: str | None) -> dict[str, Any] | None:
    """Parse the ``claims`` request parameter (OIDC Core §5.5)."""
    if raw is None:
        return None
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError) as exc:  # RecursionError: absurdly deep nesting
        raise InvalidRequestError("claims parameter is not valid JSON") from exc
    if not isinstance(value, dict):
        raise InvalidRequestError("claims parameter must be a JSON object")
    for member in ("userinfo", "id_token"):
        part = value.get(member)
        if part is None:
            continue
        if not isinstance(part, dict):
            raise InvalidRequestError(f"claims.{member} must be a JSON object")
        for name, spec in part.items():
            if spec is not None and not isinstance(spec, dict):
                raise InvalidRequestError(f"claims.{member}.{name} must be null or an object")
    return value


def profile_value(user: User, name: str, overlay: dict[str, Any] | None = None) -> Any:
    """The value of a standard or custom claim for ``user``, or None.

    ``overlay`` holds the values of the persona chosen for the RP; a claim it
    sets wins over the base profile (DESIGN §4).
    """
    if overlay and name in overlay:
        return overlay[name]
    if name == "email":
        return user.profile.get("email", user.email)
    if name == "email_verified":
        return bool(user.profile.get("email_verified", False))
    if name == "updated_at":
        return epoch(user.updated_at)
    return user.profile.get(name)


def _matches(value: Any, spec: dict[str, Any] | None) -> bool:
    if not spec:
        return True
    if "value" in spec:
        return value == spec["value"]
    if "values" in spec and isinstance(spec["values"], list):
        return value in spec["values"]
    return True


def requested_claim_names(scopes: list[str], claims_part: dict[str, Any] | None) -> list[str]:
    """Claim names asked for by scope values plus one member of the claims parameter."""
    names: list[str] = []
    for scope in scopes:
        for claim in SCOPE_CLAIMS.get(scope, ()):
            if claim not in names:
                names.append(claim)
    for claim in claims_part or {}:
        if claim not in names and claim not in PROTOCOL_CLAIMS and claim != VERIFIED_CLAIMS:
            names.append(claim)
    return names


def release(
    user: User,
    scopes: list[str],
    claims_part: dict[str, Any] | None,
    *,
    include_scope_claims: bool = True,
    allowed: list[str] | None = None,
    overlay: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The claim values to release: requested, consented (``allowed``), present, matching filters.

    ``allowed`` is the set of claims the person's consent record grants; a claim
    outside it is never released, whatever the request asked (consent_spec §9).
    """
    names = requested_claim_names(scopes if include_scope_claims else [], claims_part)
    if allowed is not None:
        names = [name for name in names if name in allowed]
    released: dict[str, Any] = {}
    for name in names:
        value = profile_value(user, name, overlay)
        if value is None or value == "":
            continue
        if not _matches(value, (claims_part or {}).get(name)):
            continue
        released[name] = value
    return released


def verified_claims(
    store: Store, user: User, claims_part: dict[str, Any] | None, released: dict[str, Any]
) -> list[dict[str, Any]]:
    """The ``verified_claims`` to release (OpenID Connect for Identity Assurance 1.0 §5).

    Only when the relying party asked for them in the claims parameter, and only
    for claims it receives anyway (``released``, already filtered by consent) whose
    value is the one another provider verified: each names that verifier and the
    time of its verification (consent_spec SPEC.md §12.2). A bare ``*_verified``
    flag is never derived from them.
    """
    if not claims_part or VERIFIED_CLAIMS not in claims_part:
        return []
    out = []
    for row in store.verified_claims_of(user.id):
        if row.claim in released and released[row.claim] == row.value:
            out.append(
                {
                    "verification": {
                        "trust_framework": TRUST_FRAMEWORK,
                        "time": timestamp(row.verified_at),
                        "verifier": {"organization": row.verifier},
                    },
                    "claims": {row.claim: row.value},
                }
            )
    return out
