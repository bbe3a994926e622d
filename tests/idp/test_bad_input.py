"""Bad input at every endpoint: a clear 4xx error, never a 5xx, and nothing written.

API endpoints answer with an RFC 6749 §5.2 JSON error (``error`` and
``error_description``); the authorization endpoint shows an error page when the
request cannot be tied to a registered redirect_uri and otherwise redirects the
error to the client (RFC 6749 §4.1.2.1); the logout endpoint shows a page.
"""

from __future__ import annotations

import base64
import io
import json
import random
from urllib.parse import urlencode

import pytest

try:  # optional: the seeded fuzz below runs without it
    import hypothesis
    from hypothesis import strategies as st
except ImportError:  # pragma: no cover
    hypothesis = None

from idp.storage.models import (
    AccessToken,
    AuthorizationCode,
    Client,
    Grant,
    LoginSession,
    RefreshToken,
)
from tests.conftest import (
    ISSUER,
    assert_error_page,
    assert_oauth_error,
    authorize,
    basic,
    bearer,
    callback_params,
    count_rows,
    csrf_from,
    exchange,
    obtain_code,
    token_request,
)

FORM = "application/x-www-form-urlencoded"
TOO_BIG = 64 * 1024 + 1  # MAX_REQUEST_BYTES + 1
WRITTEN = (Grant, AuthorizationCode, AccessToken, RefreshToken, Client, LoginSession)


def snapshot(app) -> tuple[int, ...]:
    """Row counts of everything a bad request must not create."""
    return tuple(count_rows(app, model) for model in WRITTEN)


@pytest.fixture
def rp_client(new_client):
    """A confidential client, registered before ``unchanged`` takes its snapshot."""
    return new_client()


@pytest.fixture
def unchanged(shared_app):
    """Assert at the end of the test that nothing was written."""
    before = snapshot(shared_app)
    yield
    assert snapshot(shared_app) == before


# -- request size: MAX_REQUEST_BYTES ------------------------------------------------------------


@pytest.mark.parametrize("path", ["/token", "/revoke", "/introspect", "/userinfo", "/register"])
@pytest.mark.parametrize("content_type", [FORM, "application/json"])
def test_oversized_bodies_get_413_with_a_json_oauth_error(anon, unchanged, path, content_type):
    """RFC 6749 §5.2 error format with HTTP 413 (RFC 9110 §15.5.14) for bodies over the limit."""
    response = anon.post(path, data=b"a=" + b"b" * TOO_BIG, content_type=content_type)
    body = assert_oauth_error(response, 413, "invalid_request")
    assert "large" in body["error_description"]


@pytest.mark.parametrize("path", ["/token", "/introspect", "/register"])
def test_oversized_chunked_bodies_are_refused_too(anon, unchanged, path):
    """A body without Content-Length (chunked) is bounded all the same, never read unbounded."""
    content_type = "application/json" if path == "/register" else FORM
    response = anon.post(
        path,
        input_stream=io.BytesIO(b"a=" + b"b" * TOO_BIG),
        content_type=content_type,
        headers={"Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert_oauth_error(response, 413, "invalid_request")


@pytest.mark.parametrize("path", ["/authorize", "/logout", "/login", "/consent", "/logout/confirm"])
def test_oversized_bodies_to_browser_endpoints_get_an_error_page(anon, unchanged, path):
    """The authorization and logout endpoints answer the person with a page, not JSON."""
    response = anon.post(path, data=b"a=" + b"b" * TOO_BIG, content_type=FORM)
    assert_error_page(response)


# -- encoding: RFC 6749 Appendix B (UTF-8, application/x-www-form-urlencoded) ------------------

BAD_BODIES = {
    "raw_invalid_utf8": b"grant_type=\xff\xfe&token=\xc3\x28",
    "percent_invalid_utf8": b"grant_type=%FF%FE&token=%C3%28",
    "overlong_utf8": b"token=%C0%AF",
    "raw_nul": b"token=a\x00b",
    "percent_nul": b"token=a%00b",
    "nul_in_name": b"tok%00en=x",
}


@pytest.mark.parametrize("path", ["/token", "/revoke", "/introspect", "/userinfo"])
@pytest.mark.parametrize("body", sorted(BAD_BODIES))
def test_badly_encoded_bodies_are_invalid_request(anon, unchanged, path, body):
    """RFC 6749 Appendix B: parameters are UTF-8; anything else is invalid_request (400)."""
    response = anon.post(path, data=BAD_BODIES[body], content_type=FORM)
    assert_oauth_error(response, 400, "invalid_request")


@pytest.mark.parametrize("path", ["/authorize", "/logout"])
@pytest.mark.parametrize("body", sorted(BAD_BODIES))
def test_badly_encoded_browser_requests_get_an_error_page(anon, unchanged, path, body):
    """Query strings and form posts alike: a page for the person, no redirect, nothing stored."""
    assert_error_page(anon.post(path, data=BAD_BODIES[body], content_type=FORM))
    query = BAD_BODIES[body].decode("latin-1")
    assert_error_page(anon.get(path, environ_overrides={"QUERY_STRING": query}))


def test_badly_encoded_registration_is_invalid_client_metadata(anon, unchanged):
    """RFC 7591 §3.2.2: a body that is not UTF-8 JSON is refused."""
    response = anon.post("/register", data=b'{"client_name": "\xff"}', content_type="application/json")
    assert_oauth_error(response, 400, "invalid_client_metadata")


# -- content type and method ----------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type", ["application/json", "text/plain", "multipart/form-data; boundary=x", None]
)
@pytest.mark.parametrize("path", ["/token", "/revoke", "/introspect"])
def test_token_style_endpoints_need_a_form_body(anon, rp_client, unchanged, path, content_type):
    """RFC 6749 §3.2, RFC 7009 §2.1, RFC 7662 §2.1: the request body is form-encoded."""
    client = rp_client
    data = json.dumps({"grant_type": "client_credentials", "token": "x"})
    kwargs = {"content_type": content_type} if content_type else {}
    response = anon.post(path, data=data, headers=basic(client), **kwargs)
    body = assert_oauth_error(response, 400, "invalid_request")
    assert FORM in body["error_description"]


@pytest.mark.parametrize("content_type", [FORM, "text/plain", None])
def test_registration_needs_json(anon, unchanged, content_type):
    """RFC 7591 §3.1: the registration request is an application/json document."""
    kwargs = {"content_type": content_type} if content_type else {}
    response = anon.post("/register", data="redirect_uris=https://rp.example/cb", **kwargs)
    assert_oauth_error(response, 400, "invalid_client_metadata")


@pytest.mark.parametrize("method", ["get", "put", "delete", "patch"])
@pytest.mark.parametrize("path", ["/token", "/revoke", "/introspect", "/register"])
def test_wrong_method_gets_a_json_error(anon, unchanged, method, path):
    """RFC 9110 §15.5.6 405, still in the endpoint's JSON error format."""
    response = getattr(anon, method)(path)
    assert_oauth_error(response, 405)


# -- duplicated parameters: RFC 6749 §3.1, §3.2 ------------------------------------------------


@pytest.mark.parametrize("name", ["grant_type", "code", "redirect_uri", "client_id", "code_verifier"])
def test_token_request_with_a_repeated_parameter_is_refused_and_keeps_the_code(
    shared_app, browser, new_client, name
):
    """RFC 6749 §3.2: parameters MUST NOT be included more than once."""
    client = new_client()
    code = obtain_code(browser, client)["code"]
    form = [("grant_type", "authorization_code"), ("code", code), ("redirect_uri", client.redirect_uri)]
    extra = {"client_id": client.client_id, "code_verifier": "v" * 43}
    form += [(name, dict(form).get(name, extra.get(name))), (name, dict(form).get(name, extra.get(name)))]
    body = "&".join(f"{k}={v}" for k, v in form)
    before = snapshot(shared_app)
    response = browser.post("/token", data=body, content_type=FORM, headers=basic(client))
    assert_oauth_error(response, 400, "invalid_request")
    assert snapshot(shared_app) == before
    assert exchange(browser, client, code).status_code == 200


@pytest.mark.parametrize("path", ["/revoke", "/introspect"])
def test_repeated_token_parameter_is_refused(anon, rp_client, unchanged, path):
    """RFC 6749 §3.2 applies to the revocation and introspection endpoints too."""
    client = rp_client
    response = anon.post(path, data="token=a&token=b", content_type=FORM, headers=basic(client))
    assert_oauth_error(response, 400, "invalid_request")


@pytest.mark.parametrize("name", ["client_id", "redirect_uri"])
def test_repeated_client_id_or_redirect_uri_is_never_redirected(browser, rp_client, unchanged, name):
    """RFC 6749 §3.1: a repeated identity parameter makes the redirect target unknowable."""
    client = rp_client
    value = {"client_id": client.client_id, "redirect_uri": client.redirect_uri}[name]
    query = (
        f"response_type=code&scope=openid&client_id={client.client_id}"
        f"&redirect_uri={client.redirect_uri}&{name}={value}"
    )
    assert_error_page(browser.get("/authorize?" + query))


@pytest.mark.parametrize("name", ["state", "scope", "response_type", "nonce", "code_challenge"])
def test_other_repeated_authorization_parameters_are_redirected_errors(browser, rp_client, unchanged, name):
    """RFC 6749 §3.1 and §4.1.2.1: invalid_request back to the registered redirect_uri; a
    repeated state is not echoed (which one would be the client's?)."""
    client = rp_client
    query = (
        f"response_type=code&scope=openid&client_id={client.client_id}&redirect_uri={client.redirect_uri}"
        f"&state=s1&{name}=a&{name}=b"
    )
    response = browser.get("/authorize?" + query.replace("&state=s1&state=a", "&state=a"))
    assert response.status_code == 302
    assert response.headers["Location"].startswith(client.redirect_uri)
    got = callback_params(response.headers["Location"])
    assert got["error"] == "invalid_request" and name in got["error_description"]
    assert got["iss"] == ISSUER and "code" not in got
    if name == "state":
        assert "state" not in got


def test_repeated_logout_parameter_is_refused(anon, unchanged):
    """RP-Initiated Logout §2 uses RFC 6749 parameter rules: no repeats."""
    assert_error_page(anon.get("/logout?state=a&state=b"))


# -- the authorization endpoint: odd and missing values ------------------------------------------

REDIRECTED_ERRORS = {
    "missing_response_type": ({"response_type": None}, "invalid_request"),
    "response_type_token": ({"response_type": "token"}, "unsupported_response_type"),
    "response_type_hybrid": ({"response_type": "code id_token"}, "unsupported_response_type"),
    "response_type_upper": ({"response_type": "CODE"}, "unsupported_response_type"),
    "response_type_none": ({"response_type": "none"}, "unsupported_response_type"),
    "response_mode_fragment": ({"response_mode": "fragment"}, "invalid_request"),
    "prompt_unknown": ({"prompt": "always"}, "invalid_request"),
    "prompt_none_and_login": ({"prompt": "none login"}, "invalid_request"),
    "max_age_negative": ({"max_age": "-1"}, "invalid_request"),
    "max_age_word": ({"max_age": "soon"}, "invalid_request"),
    "max_age_fraction": ({"max_age": "1.5"}, "invalid_request"),
    "max_age_superscript": ({"max_age": "\u00b2"}, "invalid_request"),
    "claims_not_json": ({"claims": "{"}, "invalid_request"),
    "claims_array": ({"claims": "[]"}, "invalid_request"),
    "claims_member_not_object": ({"claims": '{"userinfo": []}'}, "invalid_request"),
    "claims_entry_not_object": ({"claims": '{"id_token": {"email": 5}}'}, "invalid_request"),
    "claims_deeply_nested": ({"claims": "[" * 50000 + "]" * 50000}, "invalid_request"),
    "request_object": ({"request": "eyJhbGciOiJub25lIn0.e30."}, "request_not_supported"),
    "request_uri": ({"request_uri": "https://attacker.example/r"}, "request_uri_not_supported"),
    "id_token_hint_garbage": ({"id_token_hint": "not.a.jwt"}, "invalid_request"),
    "id_token_hint_one_part": ({"id_token_hint": "x" * 5000}, "invalid_request"),
    "id_token_hint_bad_base64": ({"id_token_hint": "e30.$$$.%%%"}, "invalid_request"),
    "id_token_hint_json_array_header": ({"id_token_hint": "WzFd.e30.c2ln"}, "invalid_request"),
    "code_challenge_huge": ({"code_challenge": "a" * 10000, "code_challenge_method": "S256"}, "invalid_request"),
}


@pytest.mark.parametrize("case", sorted(REDIRECTED_ERRORS))
def test_invalid_authorization_requests_are_redirected_with_an_error(shared_app, browser, new_client, case):
    """RFC 6749 §4.1.2.1 and OIDC Core §3.1.2.6: once client and redirect_uri are verified,
    errors go back to the client with state and iss; no code, no grant."""
    client = new_client()
    params, error = REDIRECTED_ERRORS[case]
    before = snapshot(shared_app)
    response = authorize(browser, client, state="bad", **params)
    assert response.status_code == 302, response.get_data(as_text=True)[:300]
    assert response.headers["Location"].startswith(client.redirect_uri + "?")
    got = callback_params(response.headers["Location"])
    assert got["error"] == error and got["error_description"]
    assert got["state"] == "bad" and got["iss"] == ISSUER and "code" not in got
    assert snapshot(shared_app) == before


ODD_BUT_VALID = {
    "huge_state": {"state": "s" * 20000},
    "huge_nonce": {"nonce": "n" * 20000},
    "unicode_state": {"state": "\u00e9t\u00e9 \u2603 \U0001f600 <script>"},
    "unknown_scopes": {"scope": "openid admin root \u2603"},
    "scope_spaces": {"scope": "   openid    email   "},
    "max_age_huge": {"max_age": "9" * 40},
    "max_age_zero_padded": {"max_age": "0000600"},
    "login_hint_odd": {"login_hint": "<b>\u2603</b>" * 500},
    "ui_locales_odd": {"ui_locales": "xx-\u2603 " * 200},
    "acr_values_odd": {"acr_values": "urn:x " * 500},
    "unknown_parameter": {"foo": "bar", "\u2603": "\u2603"},
    "claims_unknown_members": {"claims": '{"userinfo": {"\u2603": null}, "x": 1}'},
}


@pytest.mark.parametrize("case", sorted(ODD_BUT_VALID))
def test_odd_but_valid_authorization_requests_are_handled(shared_app, browser, new_client, case):
    """Unknown parameters are ignored (RFC 6749 §3.1) and odd values are data, not code: the
    request proceeds to consent, or is refused cleanly; never a 5xx."""
    client = new_client()
    response = authorize(browser, client, **ODD_BUT_VALID[case])
    assert response.status_code in (302, 303), response.get_data(as_text=True)[:300]
    if response.status_code == 303:
        page = browser.get(response.headers["Location"])
        assert page.status_code == 200
        assert "<script>" not in page.get_data(as_text=True)
    else:
        assert response.headers["Location"].startswith(client.redirect_uri)


# -- the token endpoint: missing, unknown and odd values -----------------------------------------

TOKEN_ERRORS = {
    "no_parameters": ({}, 400, "invalid_request"),
    "unknown_grant_type": ({"grant_type": "urn:example:magic"}, 400, "unsupported_grant_type"),
    "password_grant": ({"grant_type": "password", "username": "a", "password": "b"}, 400, "unsupported_grant_type"),
    "implicit_grant": ({"grant_type": "implicit"}, 400, "unsupported_grant_type"),
    "grant_type_upper": ({"grant_type": "AUTHORIZATION_CODE"}, 400, "unsupported_grant_type"),
    "client_credentials_unregistered": ({"grant_type": "client_credentials"}, 400, "unauthorized_client"),
    "code_missing": ({"grant_type": "authorization_code", "redirect_uri": "https://rp.example/cb"}, 400, "invalid_request"),
    "code_garbage": ({"grant_type": "authorization_code", "code": "nope", "redirect_uri": "https://rp.example/cb"}, 400, "invalid_grant"),
    "code_huge": ({"grant_type": "authorization_code", "code": "c" * 50000}, 400, "invalid_grant"),
    "code_unicode": ({"grant_type": "authorization_code", "code": "\u2603\U0001f600"}, 400, "invalid_grant"),
    "refresh_missing": ({"grant_type": "refresh_token"}, 400, "invalid_request"),
    "refresh_garbage": ({"grant_type": "refresh_token", "refresh_token": "x" * 5000}, 400, "invalid_grant"),
    "empty_values": ({"grant_type": "", "code": ""}, 400, "invalid_request"),
}


@pytest.mark.parametrize("case", sorted(TOKEN_ERRORS))
def test_bad_token_requests_get_a_json_error(anon, rp_client, unchanged, case):
    """RFC 6749 §5.2: each problem has its error code; nothing is issued."""
    client = rp_client
    form, status, error = TOKEN_ERRORS[case]
    response = token_request(anon, client, **form)
    assert_oauth_error(response, status, error)
    assert response.headers["Cache-Control"] == "no-store"


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


MALFORMED_AUTHORIZATION = {
    "basic_without_credentials": "Basic",
    "basic_not_base64": "Basic !!!not-base64!!!",
    "basic_no_colon": "Basic " + _b64(b"client-without-colon"),
    "basic_not_utf8": "Basic " + _b64(b"\xff\xfe:\xfd"),
    "basic_empty_parts": "Basic " + _b64(b":"),
    "basic_nul_in_id": "Basic " + _b64(b"cli\x00ent:secret"),
    "basic_percent_nul_in_id": "Basic " + _b64(b"cli%00ent:secret"),
    "basic_percent_garbage": "Basic " + _b64(b"%zz%:%%"),
    "basic_huge": "Basic " + _b64(b"a" * 20000 + b":" + b"b" * 20000),
    "digest_scheme": 'Digest username="x", response="y"',
    "bearer_scheme": "Bearer abc",
}


@pytest.mark.parametrize("case", sorted(MALFORMED_AUTHORIZATION))
@pytest.mark.parametrize("path", ["/token", "/revoke", "/introspect"])
def test_malformed_client_authentication_is_invalid_client(anon, unchanged, path, case):
    """RFC 6749 §2.3.1 and §5.2: a broken Authorization header is a client authentication
    failure (401 invalid_client), never a crash, whatever the bytes."""
    response = anon.post(
        path,
        data={"grant_type": "client_credentials", "token": "x"},
        headers={"Authorization": MALFORMED_AUTHORIZATION[case]},
    )
    assert_oauth_error(response, 401, "invalid_client")


GARBAGE_ASSERTIONS = {
    "not_a_jwt": "garbage",
    "two_parts": "e30.e30",
    "bad_base64": "$$$.%%%.^^^",
    "header_not_object": "WzFd.e30.c2ln",
    "payload_not_object": "eyJhbGciOiJFUzI1NiJ9.WzFd.c2ln",
    "iss_not_string": "eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOjEsInN1YiI6MX0.c2ln",
    "iss_with_nul": "eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJhXHUwMDAwYiIsInN1YiI6ImFcdTAwMDBiIn0.c2ln",
    "huge": "e30." + "A" * 60000 + ".c2ln",
}


@pytest.mark.parametrize("case", sorted(GARBAGE_ASSERTIONS))
def test_garbage_client_assertions_are_invalid_client(anon, unchanged, case):
    """RFC 7523 §3 / OIDC Core §9: anything that is not a valid client assertion is invalid_client."""
    response = anon.post(
        "/token",
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": GARBAGE_ASSERTIONS[case],
        },
    )
    assert_oauth_error(response, 401, "invalid_client")


def test_wrong_client_assertion_type_is_invalid_client(anon, unchanged):
    """RFC 7521 §4.2: client_assertion_type must be the JWT bearer URN."""
    response = anon.post(
        "/token",
        data={"grant_type": "client_credentials", "client_assertion_type": "saml", "client_assertion": "x"},
    )
    assert_oauth_error(response, 401, "invalid_client")


# -- UserInfo: RFC 6750 §2, §3.1 ---------------------------------------------------------------

GARBAGE_TOKENS = ["a.b.c", "e30.e30.e30", "x" * 5000, "eyJhbGciOiJub25lIn0.e30.", "\u2603", "e30.$$.%%"]


@pytest.mark.parametrize("token", GARBAGE_TOKENS, ids=range(len(GARBAGE_TOKENS)))
def test_garbage_bearer_tokens_are_invalid_token(anon, unchanged, token):
    """RFC 6750 §3.1: invalid_token, 401, with a Bearer challenge."""
    for response in (
        anon.get("/userinfo", headers=bearer(token.encode("utf-8").decode("latin-1"))),
        anon.post("/userinfo", data={"access_token": token}),
    ):
        assert_oauth_error(response, 401, "invalid_token")
        assert response.headers["WWW-Authenticate"].startswith("Bearer ")


@pytest.mark.parametrize(
    ("kwargs", "status", "error"),
    [
        ({"headers": {"Authorization": "Basic eDp5"}}, 400, "invalid_request"),
        ({"headers": {"Authorization": "Bearer"}}, 400, "invalid_request"),
        ({"headers": {"Authorization": "Bearer    "}}, 400, "invalid_request"),
        ({"query_string": {"access_token": "abc"}}, 400, "invalid_request"),
        ({"headers": {"Authorization": "Bearer a"}, "data": {"access_token": "b"}, "method": "post"}, 400, "invalid_request"),
        ({"data": "access_token=a&access_token=b", "content_type": FORM, "method": "post"}, 400, "invalid_request"),
        ({"data": '{"access_token": "a"}', "content_type": "application/json", "method": "post"}, 400, "invalid_request"),
    ],
    ids=["basic_scheme", "bearer_empty", "bearer_blank", "token_in_query", "header_and_body", "repeated", "json_body"],
)
def test_malformed_userinfo_requests_are_invalid_request(anon, unchanged, kwargs, status, error):
    """RFC 6750 §2: one way of sending the token, the Bearer scheme; §2.3 query tokens refused
    (RFC 9700 §4.3.2)."""
    kwargs = dict(kwargs)
    method = kwargs.pop("method", "get")
    assert_oauth_error(getattr(anon, method)("/userinfo", **kwargs), status, error)


# -- revocation and introspection: RFC 7009 §2, RFC 7662 §2 --------------------------------------


@pytest.mark.parametrize(
    ("path", "form", "status", "error"),
    [
        ("/revoke", {}, 400, "invalid_request"),
        ("/revoke", {"token": "x", "token_type_hint": "id_token"}, 400, "unsupported_token_type"),
        ("/introspect", {}, 400, "invalid_request"),
    ],
    ids=["revoke_without_token", "revoke_unknown_hint", "introspect_without_token"],
)
def test_revocation_and_introspection_parameter_errors(anon, rp_client, unchanged, path, form, status, error):
    """RFC 7009 §2.1 / RFC 7662 §2.1: token is required; RFC 7009 §2.2.1 unsupported_token_type."""
    client = rp_client
    assert_oauth_error(anon.post(path, data=form, headers=basic(client)), status, error)


@pytest.mark.parametrize("token", GARBAGE_TOKENS, ids=range(len(GARBAGE_TOKENS)))
def test_garbage_tokens_revoke_quietly_and_introspect_inactive(anon, rp_client, unchanged, token):
    """RFC 7009 §2.2: an invalid token is not an error (200); RFC 7662 §2.2: it is inactive."""
    client = rp_client
    assert anon.post("/revoke", data={"token": token}, headers=basic(client)).status_code == 200
    response = anon.post("/introspect", data={"token": token}, headers=basic(client))
    assert response.status_code == 200 and response.get_json() == {"active": False}


# -- registration: RFC 7591 §3.2.2 ------------------------------------------------------------

BAD_DOCUMENTS = {
    "array": b"[]",
    "number": b"1e999999",
    "null": b"null",
    "truncated": b'{"redirect_uris": ["https://rp.example/cb"',
    "deeply_nested": b"[" * 20000 + b"]" * 20000,
    "deeply_nested_member": b'{"redirect_uris": ["https://rp.example/cb"], "x": ' + b"[" * 20000 + b"]" * 20000 + b"}",
    "nan": b'{"redirect_uris": ["https://rp.example/cb"], "default_max_age": NaN}',
    "lone_surrogate": b'{"redirect_uris": ["https://rp.example/cb"], "client_name": "\\ud800"}',
    "nul_in_name": b'{"redirect_uris": ["https://rp.example/cb"], "client_name": "a\\u0000b"}',
    "empty": b"",
}


@pytest.mark.parametrize("case", sorted(BAD_DOCUMENTS))
def test_malformed_registration_documents_are_refused(anon, unchanged, case):
    """RFC 7591 §3.2.2: a request that is not a valid metadata object is invalid_client_metadata."""
    response = anon.post("/register", data=BAD_DOCUMENTS[case], content_type="application/json")
    assert_oauth_error(response, 400, "invalid_client_metadata")


@pytest.mark.parametrize("client_id", ["a%00b", "\u2603" * 100, "x" * 3000])
def test_odd_client_ids_in_the_configuration_endpoint_are_401(anon, unchanged, client_id):
    """RFC 7592 §2: an unknown client or a bad token is 401 invalid_token, whatever the id."""
    for method in ("get", "put", "delete"):
        response = getattr(anon, method)(f"/register/{client_id}", headers=bearer("x"))
        assert_oauth_error(response, 401, "invalid_token")


# -- the login and consent forms ----------------------------------------------------------------


@pytest.mark.parametrize(
    "form",
    [
        {"email": "alice\x00@example.org", "password": "x" * 10},
        {"email": "\u2603" * 400 + "@example.org", "password": "x" * 10},
        {"email": "alice@example.org", "password": "p" * 50000},
        {"email": "alice@example.org", "password": "", "interaction": "nope"},
        {"email": "alice@example.org", "password": "x", "interaction": "a\x00b"},
    ],
    ids=["nul_email", "huge_email", "huge_password", "unknown_interaction", "nul_interaction"],
)
def test_odd_login_posts_are_refused_cleanly(shared_app, anon, form):
    """Bad login input is a page with an error (401/400), not a crash, and starts no session."""
    token = csrf_from(anon.get("/login").get_data(as_text=True))
    before = count_rows(shared_app, LoginSession)
    response = anon.post("/login", data={"csrf_token": token, **form})
    assert response.status_code in (400, 401), response.status_code
    assert response.mimetype == "text/html"
    assert count_rows(shared_app, LoginSession) == before


@pytest.mark.parametrize("decision", [None, "maybe", "APPROVE"])
def test_consent_without_a_valid_decision_changes_nothing(shared_app, browser, new_client, decision):
    """The consent form's decision is approve or deny; anything else is an error page and the
    request can still be decided."""
    client = new_client()
    location = authorize(browser, client).headers["Location"]
    page = browser.get(location).get_data(as_text=True)
    interaction = location.split("interaction=")[1]
    form = {"csrf_token": csrf_from(page), "interaction": interaction}
    if decision:
        form["decision"] = decision
    before = snapshot(shared_app)
    assert_error_page(browser.post("/consent", data=form))
    assert snapshot(shared_app) == before
    approved = browser.post("/consent", data={**form, "decision": "approve"})
    assert "code" in callback_params(approved.headers["Location"])


# -- a property: random form bodies never make the token endpoint fail --------------------------

NAMES = ["grant_type", "code", "redirect_uri", "client_id", "client_secret", "refresh_token", "scope",
         "code_verifier", "client_assertion", "client_assertion_type", "token"]
GRANTS = ["authorization_code", "refresh_token", "client_credentials"]
AUTHORIZATIONS = [None, "Basic", "Basic eDp5", "Bearer x", "Basic " + _b64(b"\x00:\xff")]


def _post_token(app, body: bytes, authorization: str | None):
    headers = {"Authorization": authorization} if authorization is not None else {}
    response = app.test_client().post("/token", data=body, content_type=FORM, headers=headers)
    assert 400 <= response.status_code < 500, (response.status_code, body, headers)
    assert response.get_json()["error"]


def test_seeded_random_token_requests_never_yield_5xx(shared_app):
    """A fixed-seed fuzz (runs everywhere): random names, values and bytes give 4xx JSON."""
    rng = random.Random(20261123)
    alphabet = "abc=&%+\u00e9\u2603\x00 0123456789_-.~:/" + "".join(GRANTS)
    for _ in range(150):
        if rng.random() < 0.3:
            body = rng.randbytes(rng.randrange(0, 80))
        else:
            pairs = [
                (rng.choice([*NAMES, "", "x"]), rng.choice([*GRANTS, "".join(rng.choices(alphabet, k=rng.randrange(0, 30)))]))
                for _ in range(rng.randrange(0, 6))
            ]
            body = urlencode(pairs).encode()
        _post_token(shared_app, body, rng.choice(AUTHORIZATIONS))


if hypothesis is not None:

    @hypothesis.settings(max_examples=60, deadline=None, suppress_health_check=[hypothesis.HealthCheck.too_slow])
    @hypothesis.given(
        pairs=st.lists(st.tuples(st.sampled_from(NAMES) | st.text(max_size=8), st.sampled_from(GRANTS) | st.text(max_size=40)), max_size=6),
        raw=st.binary(max_size=64),
        use_raw=st.booleans(),
        authorization=st.sampled_from(AUTHORIZATIONS) | st.text(alphabet=st.characters(max_codepoint=255, exclude_characters="\r\n"), max_size=30).map(lambda t: "Basic " + t),
    )
    def test_random_token_requests_never_yield_5xx(shared_app, pairs, raw, use_raw, authorization):
        """Hypothesis: whatever the body and Authorization header, a 4xx JSON error."""
        _post_token(shared_app, raw if use_raw else urlencode(pairs).encode(), authorization)


def test_crlf_in_state_cannot_inject_headers(anon, rp_client, unchanged):
    """RFC 6749 §4.1.2.1: state is echoed in the redirect; it is percent-encoded there, so CR/LF
    cannot split the response (no injected header)."""
    response = authorize(anon, rp_client, prompt="none", state="s\r\nSet-Cookie: injected=1")
    assert response.status_code == 302
    assert "\r" not in response.headers["Location"] and "\n" not in response.headers["Location"]
    assert not any("injected" in c for c in response.headers.getlist("Set-Cookie"))
    assert callback_params(response.headers["Location"])["state"] == "s\r\nSet-Cookie: injected=1"
