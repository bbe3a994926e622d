"""Plan ``formpost``: response_mode=form_post (OAuth 2.0 Form Post Response Mode §2)."""

from __future__ import annotations

from conformance_tests.context import Context
from conformance_tests.registry import check, expect, skip

PLAN = "formpost"


def _need_form_post(ctx: Context) -> None:
    modes = ctx.metadata.get("response_modes_supported", ["query", "fragment"])
    if "form_post" not in modes:
        skip("form_post is not in response_modes_supported")


@check("porta-form-post-server", PLAN, "OAuth 2.0 Form Post Response Mode §2, OIDC Core §3.1.2.5",
       "The code response is POSTed to the redirect_uri")
def form_post_code(ctx: Context) -> None:
    """The browser POSTs code and state (form-encoded) to the redirect_uri; nothing in the URL."""
    _need_form_post(ctx)
    result = ctx.authorize(extra={"response_mode": "form_post"})
    expect(result.outcome.kind == "form_post", f"not a form POST: {result.outcome.describe()}")
    expect("code=" not in result.outcome.url, f"the code leaked into the URL {result.outcome.url}")
    result_tokens = ctx.tokens(result)
    ctx.id_token_claims(result_tokens["id_token"], result.client, result.nonce)


@check("porta-form-post-error", PLAN, "OAuth 2.0 Form Post Response Mode §2, OIDC Core §3.1.2.6",
       "Errors are POSTed too (prompt=none without a session)")
def form_post_error(ctx: Context) -> None:
    """login_required and state arrive by form POST."""
    _need_form_post(ctx)
    browser = ctx.browser()
    try:
        result = ctx.authorize(session=browser, extra={"response_mode": "form_post", "prompt": "none"},
                               interact=False)
    finally:
        browser.close()
    expect(result.outcome.kind == "form_post", f"not a form POST: {result.outcome.describe()}")
    expect(result.params.get("error") == "login_required",
           f"error={result.params.get('error')!r}, expected login_required")
    expect(result.params.get("state") == result.state, "state missing from the error response")


@check("porta-form-post-iss", PLAN, "RFC 9207 §2, OAuth 2.0 Form Post Response Mode §2",
       "iss is POSTed with the code when the provider advertises it")
def form_post_iss(ctx: Context) -> None:
    """RFC 9207 applies to every response mode."""
    _need_form_post(ctx)
    if not ctx.metadata.get("authorization_response_iss_parameter_supported"):
        skip("authorization_response_iss_parameter_supported is not true")
    result = ctx.authorize(extra={"response_mode": "form_post"})
    expect(result.params.get("iss") == ctx.metadata["issuer"],
           f"iss={result.params.get('iss')!r}, expected {ctx.metadata['issuer']!r}")
