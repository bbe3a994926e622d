"""The OpenID Foundation's ``oidcc-basic-certification-test-plan``, module by module.

Each of its 38 modules (the module names are the OIDF's, from its conformance-suite's
``OIDCCBasicTestPlan``) maps to the test of this suite with the same id, or carries the
reason this suite has none. ``porta-conformance oidf`` prints the table;
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


def table() -> str:
    """Markdown: module, this suite's test (or the reason there is none)."""
    lines = [f"| {PLAN_NAME} module | porta-conformance |", "| --- | --- |"]
    for module in BASIC_PLAN:
        cell = f"`{module.test_id}`" if module.test_id else f"none: {module.reason}"
        lines.append(f"| `{module.name}` | {cell} |")
    return "\n".join(lines)
