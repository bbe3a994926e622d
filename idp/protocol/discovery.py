"""Provider metadata: OpenID Connect Discovery 1.0 §3 and RFC 8414 §2."""

from __future__ import annotations

from typing import Any

import consent_spec
from idp.base.context import PATHS
from idp.base.settings import Settings
from idp.consent.consent_request import CONSENT_DETAIL_TYPE
from idp.profile.claims import PROTOCOL_CLAIMS, STANDARD_CLAIMS, TRUST_FRAMEWORK
from idp.protocol.authorize import PROMPT_VALUES, RESPONSE_MODES, SUPPORTED_SCOPES
from idp.protocol.clients import ASSERTION_ALGS, AUTH_METHODS


def provider_metadata(settings: Settings) -> dict[str, Any]:
    """The discovery document; every URL is under the issuer."""
    issuer = settings.issuer
    endpoints = {name: issuer + path for name, path in PATHS.items()}
    if settings.registration == "closed":
        endpoints.pop("registration_endpoint")
    return {
        "issuer": issuer,
        **endpoints,
        "scopes_supported": list(SUPPORTED_SCOPES),
        "response_types_supported": ["code"],
        "response_modes_supported": list(RESPONSE_MODES),
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "subject_types_supported": ["pairwise", "public"],
        "id_token_signing_alg_values_supported": ["ES256", "RS256"],
        "userinfo_signing_alg_values_supported": ["none"],
        "token_endpoint_auth_methods_supported": list(AUTH_METHODS),
        "token_endpoint_auth_signing_alg_values_supported": ASSERTION_ALGS,
        "revocation_endpoint_auth_methods_supported": list(AUTH_METHODS),
        "introspection_endpoint_auth_methods_supported": [m for m in AUTH_METHODS if m != "none"],
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": sorted(set(STANDARD_CLAIMS) | set(PROTOCOL_CLAIMS) | {"iss", "aud"}),
        "claim_types_supported": ["normal"],
        "claims_parameter_supported": True,
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
        "require_request_uri_registration": False,
        "prompt_values_supported": list(PROMPT_VALUES),
        "authorization_response_iss_parameter_supported": True,
        "frontchannel_logout_supported": False,
        "backchannel_logout_supported": True,
        "backchannel_logout_session_supported": True,
        "ui_locales_supported": ["en"],
        "access_token_signing_alg_values_supported": [settings.access_token_signing_alg],
        # Porta's consent profile (consent_spec): receipts in token responses, consent events.
        "consent_receipts_supported": True,
        "consent_spec_version": consent_spec.SPEC_VERSION,
        "consent_withdrawal_endpoint": issuer + "/account/api/withdrawals",
        "consent_export_endpoint": issuer + "/account/api/export",
        "consent_management_uri": issuer + "/account",
        "consent_receipt_signing_alg_values_supported": ["ES256"],
        "authorization_details_types_supported": [CONSENT_DETAIL_TYPE],
        # OpenID Connect for Identity Assurance 1.0 §8: claims other providers verified, kept
        # with their verifier when a person moves here (consent_spec SPEC.md §12.2).
        "verified_claims_supported": True,
        "trust_frameworks_supported": [TRUST_FRAMEWORK],
        "claims_in_verified_claims_supported": ["email", "phone_number"],
        "consent_import_endpoint": issuer + "/account/import",
    }
