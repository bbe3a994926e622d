"""The OpenID Foundation's OP certification plans, module by module.

Five plans: Basic, Config, Dynamic, Form Post (Basic) and RP-initiated Logout. Each module
(the names are the OIDF's, from its conformance-suite's test plans) maps to the test of this
suite with the same id, or carries the reason this suite has none: "not applicable" when the
module needs something a suite that serves no HTTP documents cannot do, "not yet tested"
when it could and does not. ``porta-conformance oidf`` prints the tables;
``tests/conformance/test_framework.py`` checks that every mapped id exists.
"""

from __future__ import annotations

from dataclasses import dataclass

PLAN_NAME = "oidcc-basic-certification-test-plan"


@dataclass(frozen=True)
class Module:
    """One OIDF module and where this suite stands on it."""

    name: str
    test_id: str | None
    """The suite's test with the same id, or None."""
    reason: str = ""
    """Why there is no test (only when test_id is None)."""


BASIC_PLAN: tuple[Module, ...] = tuple(
    Module(name, name if reason is None else None, reason or "")
    for name, reason in (
        ("oidcc-server", None),
        ("oidcc-response-type-missing", None),
        ("oidcc-idtoken-signature", None),
        ("oidcc-idtoken-unsigned", None),
        ("oidcc-userinfo-get", None),
        ("oidcc-userinfo-post-header", None),
        ("oidcc-userinfo-post-body", None),
        ("oidcc-ensure-request-without-nonce-succeeds-for-code-flow", None),
        ("oidcc-scope-profile", None),
        ("oidcc-scope-email", None),
        ("oidcc-scope-address", None),
        ("oidcc-scope-phone", None),
        ("oidcc-scope-all", None),
        ("oidcc-ensure-other-scope-order-succeeds", None),
        ("oidcc-display-page", None),
        ("oidcc-display-popup", None),
        ("oidcc-prompt-login", None),
        ("oidcc-prompt-none-not-logged-in", None),
        ("oidcc-prompt-none-logged-in", None),
        ("oidcc-max-age-1", None),
        ("oidcc-max-age-10000", None),
        ("oidcc-ensure-request-with-unknown-parameter-succeeds", None),
        ("oidcc-id-token-hint", None),
        ("oidcc-login-hint", None),
        ("oidcc-ui-locales", None),
        ("oidcc-claims-locales", None),
        ("oidcc-ensure-request-with-acr-values-succeeds", None),
        ("oidcc-codereuse", None),
        ("oidcc-codereuse-30seconds", None),
        ("oidcc-ensure-registered-redirect-uri", None),
        ("oidcc-ensure-post-request-succeeds", None),
        ("oidcc-server-client-secret-post", None),
        ("oidcc-request-uri-unsigned-supported-correctly-or-rejected-as-unsupported", None),
        ("oidcc-unsigned-request-object-supported-correctly-or-rejected-as-unsupported", None),
        ("oidcc-claims-essential", None),
        ("oidcc-ensure-request-object-with-redirect-uri", None),
        ("oidcc-refresh-token", None),
        ("oidcc-ensure-request-with-valid-pkce-succeeds", None),
    )
)
"""The plan's modules in the OIDF's order."""


NOT_HOSTED = "not applicable: the suite serves no HTTP documents to the provider"

CONFIG_PLAN: tuple[Module, ...] = (Module("oidcc-discovery-endpoint-verification", "oidcc-discovery-endpoint-verification"),)

DYNAMIC_PLAN: tuple[Module, ...] = (
    Module("oidcc-idtoken-rs256", "oidcc-idtoken-rs256"),
    Module("oidcc-idtoken-unsigned", "oidcc-idtoken-unsigned"),
    Module("oidcc-userinfo-rs256", None, "not yet tested: signed UserInfo responses "
           "(userinfo_signed_response_alg) are not checked"),
    Module("oidcc-ensure-redirect-uri-in-authorization-request", None,
           "not yet tested: an authorization request without redirect_uri (OIDC Core §3.1.2.1)"),
    Module("oidcc-redirect-uri-query-OK", "oidcc-redirect-uri-query-OK"),
    Module("oidcc-redirect-uri-query-mismatch", "oidcc-redirect-uri-query-mismatch"),
    Module("oidcc-redirect-uri-query-added", "oidcc-redirect-uri-query-added"),
    Module("oidcc-redirect-uri-regfrag", "oidcc-redirect-uri-regfrag"),
    Module("oidcc-discovery-endpoint-verification", "oidcc-discovery-endpoint-verification"),
    Module("oidcc-server", "oidcc-server"),
    Module("oidcc-registration-logo-uri", "oidcc-registration-logo-uri"),
    Module("oidcc-registration-policy-uri", None,
           "registered together with logo_uri and tos_uri by oidcc-registration-logo-uri"),
    Module("oidcc-registration-tos-uri", None,
           "registered together with logo_uri and policy_uri by oidcc-registration-logo-uri"),
    Module("oidcc-registration-jwks-uri", None,
           f"{NOT_HOSTED} (a client jwks_uri); porta-registration-jwks registers the key by value"),
    Module("oidcc-registration-sector-uri", None, f"{NOT_HOSTED} (a sector_identifier_uri document)"),
    Module("oidcc-registration-sector-bad", None, f"{NOT_HOSTED} (a sector_identifier_uri document)"),
    Module("oidcc-server-rotate-keys", None,
           "not applicable: needs the operator to rotate the provider's signing key during the run"),
    Module("oidcc-refresh-token-rp-key-rotation", None, f"{NOT_HOSTED} (a client jwks_uri to rotate)"),
    Module("oidcc-request-uri-unsigned", None,
           f"{NOT_HOSTED} (a request_uri); oidcc-request-uri-unsigned-supported-correctly-or-rejected-as-unsupported "
           "checks a provider that refuses them"),
    Module("oidcc-request-uri-signed-rs256", None, f"{NOT_HOSTED} (a request_uri)"),
    Module("oidcc-ensure-request-object-with-redirect-uri", "oidcc-ensure-request-object-with-redirect-uri"),
    Module("oidcc-refresh-token", "oidcc-refresh-token"),
    Module("oidcc-ensure-client-assertion-with-iss-aud-succeeds", None,
           "not yet tested: private_key_jwt is checked with the token endpoint as aud, not the issuer"),
)

FORMPOST_PLAN: tuple[Module, ...] = BASIC_PLAN
"""The OIDF's Form Post Basic plan is the Basic plan with response_mode=form_post."""

LOGOUT_PLAN: tuple[Module, ...] = (
    Module("oidcc-rp-initiated-logout-discovery-endpoint-verification", None,
           "not yet tested as a module: every logout test needs end_session_endpoint and skips without it"),
    Module("oidcc-rp-initiated-logout", "oidcc-rp-initiated-logout"),
    Module("oidcc-rp-initiated-logout-bad-post-logout-redirect-uri",
           "oidcc-rp-initiated-logout-bad-post-logout-redirect-uri"),
    Module("oidcc-rp-initiated-logout-modified-id-token-hint", "oidcc-rp-initiated-logout-modified-id-token-hint"),
    Module("oidcc-rp-initiated-logout-no-id-token-hint", None, "not yet tested"),
    Module("oidcc-rp-initiated-logout-no-params", None, "not yet tested"),
    Module("oidcc-rp-initiated-logout-no-post-logout-redirect-uri", None, "not yet tested"),
    Module("oidcc-rp-initiated-logout-no-state", "oidcc-rp-initiated-logout-no-state"),
    Module("oidcc-rp-initiated-logout-only-state", None, "not yet tested"),
    Module("oidcc-rp-initiated-logout-query-added-to-post-logout-redirect-uri",
           "oidcc-rp-initiated-logout-query-added-to-post-logout-redirect-uri"),
    Module("oidcc-rp-initiated-logout-bad-id-token-hint", None,
           "not yet tested (oidcc-rp-initiated-logout-modified-id-token-hint covers a forged signature)"),
)


@dataclass(frozen=True)
class Plan:
    """One OIDF certification plan."""

    key: str
    """What ``porta-conformance oidf --plan`` takes."""
    name: str
    modules: tuple[Module, ...]
    note: str = ""


OIDF_PLANS: tuple[Plan, ...] = (
    Plan("basic", PLAN_NAME, BASIC_PLAN),
    Plan("config", "oidcc-config-certification-test-plan", CONFIG_PLAN),
    Plan("dynamic", "oidcc-dynamic-certification-test-plan", DYNAMIC_PLAN),
    Plan("formpost", "oidcc-formpost-basic-certification-test-plan", FORMPOST_PLAN,
         "The OIDF runs the Basic plan's modules with response_mode=form_post. This suite runs each "
         "module's checks once, with the default response mode, and checks the form_post delivery "
         "itself (code, error, iss) in porta-form-post-server, porta-form-post-error and "
         "porta-form-post-iss."),
    Plan("logout", "oidcc-rp-initiated-logout-certification-test-plan", LOGOUT_PLAN),
)


def table(plan: str = "basic") -> str:
    """Markdown for one plan: module, this suite's test (or the reason there is none)."""
    chosen = next(p for p in OIDF_PLANS if p.key == plan)
    lines = [f"| {chosen.name} module | porta-conformance |", "| --- | --- |"]
    for module in chosen.modules:
        cell = f"`{module.test_id}`" if module.test_id else f"none: {module.reason}"
        lines.append(f"| `{module.name}` | {cell} |")
    if chosen.note:
        lines.append(f"\n{chosen.note}")
    return "\n".join(lines)
