"""Plan ``logout``: OpenID Connect RP-Initiated Logout 1.0, after the OpenID Foundation's
RP-initiated logout OP plan.

Needs ``end_session_endpoint`` in discovery and a client with a registered
post_logout_redirect_uri (op.toml ``client.post_logout_redirect_uri``, or one registered
dynamically); tests skip otherwise.
"""

from __future__ import annotations

import base64
import secrets
from urllib.parse import urlencode

from conformance_tests.config import ClientConfig
from conformance_tests.context import DEFAULT_REDIRECT, Context
from conformance_tests.drivers.base import BrowserSession, Outcome
from conformance_tests.registry import check, expect, skip

PLAN = "logout"
POST_LOGOUT = "http://127.0.0.1:8976/porta-conformance/logged-out"


def logout_client(ctx: Context) -> ClientConfig:
    """A client with a registered post_logout_redirect_uri."""
    if ctx.config.client is not None and ctx.config.client.post_logout_redirect_uri:
        return ctx.config.client
    if not ctx.metadata.get("registration_endpoint"):
        skip("no client.post_logout_redirect_uri in op.toml and no dynamic registration")
    return ctx.registered_client("logout", {"post_logout_redirect_uris": [POST_LOGOUT],
                                            "redirect_uris": [DEFAULT_REDIRECT]})


def logout(ctx: Context, browser: BrowserSession, params: dict[str, str], stop_at: list[str]) -> Outcome:
    """Send the browser to the end_session_endpoint and confirm when asked."""
    endpoint = ctx.endpoint("end_session_endpoint")
    url = endpoint + ("&" if "?" in endpoint else "?") + urlencode(params)
    return browser.open(url, stop_at)


def logged_in(ctx: Context, client: ClientConfig) -> tuple[BrowserSession, str]:
    """A fresh browser with a session at the OP, and the ID token issued to ``client``."""
    browser = ctx.browser()
    _, tokens = ctx.login_and_tokens(client, session=browser)
    return browser, tokens["id_token"]


@check("oidcc-rp-initiated-logout", PLAN, "OIDC RP-Initiated Logout §2, §3",
       "Logout ends the session and returns to the registered post_logout_redirect_uri with state")
def rp_initiated_logout(ctx: Context) -> None:
    """After logout, prompt=none must answer login_required."""
    client = logout_client(ctx)
    assert client.post_logout_redirect_uri
    browser, id_token = logged_in(ctx, client)
    try:
        state = secrets.token_urlsafe(12)
        outcome = logout(ctx, browser, {"id_token_hint": id_token, "state": state,
                                        "post_logout_redirect_uri": client.post_logout_redirect_uri},
                         [client.post_logout_redirect_uri])
        expect(outcome.kind == "redirect",
               f"no redirect to the post_logout_redirect_uri: {outcome.describe()}")
        expect(outcome.params.get("state") == state,
               f"state {outcome.params.get('state')!r} not returned (RP-Initiated Logout §3)")
        after = ctx.authorize(client, session=browser, extra={"prompt": "none"}, interact=False)
        expect(after.params.get("error") == "login_required",
               f"the session survived logout: prompt=none gave {after.outcome.describe()}")
    finally:
        browser.close()


@check("oidcc-rp-initiated-logout-bad-post-logout-redirect-uri", PLAN, "OIDC RP-Initiated Logout §3",
       "An unregistered post_logout_redirect_uri is not redirected to")
def bad_post_logout_redirect(ctx: Context) -> None:
    """§3: the OP MUST NOT redirect to a post_logout_redirect_uri that was not registered."""
    client = logout_client(ctx)
    browser, id_token = logged_in(ctx, client)
    try:
        bad = "https://attacker.invalid/logged-out"
        outcome = logout(ctx, browser, {"id_token_hint": id_token, "post_logout_redirect_uri": bad},
                         [bad])
        expect(outcome.kind == "page", f"the OP redirected to an unregistered URI: {outcome.describe()}")
    finally:
        browser.close()


@check("oidcc-rp-initiated-logout-query-added-to-post-logout-redirect-uri", PLAN,
       "OIDC RP-Initiated Logout §3 (exact match)",
       "A query added to the registered post_logout_redirect_uri is not redirected to")
def query_added(ctx: Context) -> None:
    """The comparison is exact, like redirect_uri's."""
    client = logout_client(ctx)
    assert client.post_logout_redirect_uri
    browser, id_token = logged_in(ctx, client)
    try:
        changed = client.post_logout_redirect_uri + ("&" if "?" in client.post_logout_redirect_uri else "?") + "x=1"
        outcome = logout(ctx, browser, {"id_token_hint": id_token, "post_logout_redirect_uri": changed},
                         [changed])
        expect(outcome.kind == "page", f"the OP redirected to a modified URI: {outcome.describe()}")
    finally:
        browser.close()


@check("oidcc-rp-initiated-logout-modified-id-token-hint", PLAN, "OIDC RP-Initiated Logout §2 (id_token_hint), §4",
       "A tampered id_token_hint does not lead to a redirect")
def modified_hint(ctx: Context) -> None:
    """The OP MUST validate that it issued the ID token; a bad signature is an error."""
    client = logout_client(ctx)
    assert client.post_logout_redirect_uri
    browser, id_token = logged_in(ctx, client)
    try:
        head, payload, signature = id_token.split(".")
        raw = bytearray(base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)))
        raw[0] ^= 0xFF
        tampered = ".".join([head, payload, base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()])
        outcome = logout(ctx, browser, {"id_token_hint": tampered,
                                        "post_logout_redirect_uri": client.post_logout_redirect_uri},
                         [client.post_logout_redirect_uri])
        expect(outcome.kind == "page",
               f"the OP accepted a forged id_token_hint and redirected: {outcome.describe()}")
    finally:
        browser.close()


@check("oidcc-rp-initiated-logout-no-state", PLAN, "OIDC RP-Initiated Logout §2 (state optional), §3",
       "Logout without state still redirects, without a state parameter")
def no_state(ctx: Context) -> None:
    """state is OPTIONAL; the OP must not invent one."""
    client = logout_client(ctx)
    assert client.post_logout_redirect_uri
    browser, id_token = logged_in(ctx, client)
    try:
        outcome = logout(ctx, browser, {"id_token_hint": id_token,
                                        "post_logout_redirect_uri": client.post_logout_redirect_uri},
                         [client.post_logout_redirect_uri])
        expect(outcome.kind == "redirect", f"no redirect: {outcome.describe()}")
        expect("state" not in outcome.params, f"unexpected state {outcome.params.get('state')!r}")
    finally:
        browser.close()
