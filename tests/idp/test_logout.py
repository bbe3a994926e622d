"""OpenID Connect RP-Initiated Logout 1.0 over HTTP: who may end a session, and where the
browser may be sent afterwards."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest

from idp.storage.models import LoginSession
from tests.conftest import (
    FORGERIES,
    SESSION_COOKIE,
    assert_error_page,
    authorize,
    callback_params,
    csrf_from,
    sid_of,
    store_of,
    tokens_for,
)

BYE = "https://rp.example/bye"


@pytest.fixture
def rp(new_client):
    """A client with a registered post_logout_redirect_uri."""
    return new_client(post_logout_redirect_uris=[BYE])


def logged_in(browser, client) -> bool:
    """Whether prompt=none still finds a session: a code or consent_required says yes,
    login_required says no (OIDC Core §3.1.2.6)."""
    response = authorize(browser, client, prompt="none")
    params = callback_params(response.headers["Location"])
    assert "code" in params or params["error"] in ("login_required", "consent_required"), params
    return params.get("error") != "login_required"


def session_ended(app, sid: str) -> bool:
    """Whether the login session row is closed."""
    store = store_of(app)
    try:
        return store.session.get(LoginSession, sid).ended_at is not None
    finally:
        store.close()


@pytest.mark.parametrize("method", ["get", "post"])
def test_logout_with_a_hint_for_this_session_redirects_with_state(shared_app, fresh_browser, rp, method):
    """RP-Initiated Logout §2-§3: an id_token_hint for the current session ends it at once and
    the browser goes to the registered post_logout_redirect_uri with state; afterwards
    prompt=none gives login_required."""
    browser = fresh_browser()
    id_token = tokens_for(browser, rp, scope="openid")["id_token"]
    params = {"id_token_hint": id_token, "post_logout_redirect_uri": BYE, "state": "bye-state"}
    if method == "get":
        response = browser.get("/logout?" + urlencode(params))
    else:
        response = browser.post("/logout", data=params)
    assert response.status_code in (302, 303)
    assert response.headers["Location"] == BYE + "?state=bye-state"
    assert session_ended(shared_app, sid_of(id_token))
    assert not logged_in(browser, rp)


@pytest.mark.parametrize(
    "target",
    [
        "https://attacker.example/bye",
        BYE + "/",
        BYE + "?next=https://attacker.example",
        BYE + "bye",
        "https://RP.example/bye",
        "https://rp.example/cb",  # the login redirect_uri is not a logout target
        "//attacker.example",
    ],
)
def test_unregistered_post_logout_redirect_uri_is_never_followed(shared_app, fresh_browser, rp, target):
    """RP-Initiated Logout §3: the URI MUST have been registered, compared exactly (RFC 9700
    §4.11 open redirection): an error page, no redirect, and the session stays."""
    browser = fresh_browser()
    id_token = tokens_for(browser, rp, scope="openid")["id_token"]
    query = urlencode({"id_token_hint": id_token, "post_logout_redirect_uri": target, "state": "s"})
    assert_error_page(browser.get("/logout?" + query), attacker="attacker.example")
    assert not session_ended(shared_app, sid_of(id_token))
    assert logged_in(browser, rp)


def test_post_logout_redirect_uri_needs_the_client_identified(fresh_browser, rp):
    """RP-Initiated Logout §2: without id_token_hint or client_id the OP cannot check the URI."""
    browser = fresh_browser()
    assert_error_page(browser.get("/logout?" + urlencode({"post_logout_redirect_uri": BYE})))
    assert logged_in(browser, rp)


def test_without_a_hint_the_person_confirms_through_a_csrf_protected_form(shared_app, fresh_browser, rp):
    """RP-Initiated Logout §2: when the OP cannot tell the request comes from the person's RP
    session it asks; the confirmation form carries a CSRF token and a registered target is
    honoured once the person confirms."""
    browser = fresh_browser()
    id_token = tokens_for(browser, rp, scope="openid")["id_token"]
    query = urlencode({"client_id": rp.client_id, "post_logout_redirect_uri": BYE, "state": "q"})
    page = browser.get("/logout?" + query)
    assert page.status_code == 200 and "Location" not in page.headers
    html = page.get_data(as_text=True)
    assert 'action="/logout/confirm"' in html
    assert not session_ended(shared_app, sid_of(id_token))
    confirmed = browser.post("/logout/confirm", data={"csrf_token": csrf_from(html), "decision": "logout"})
    assert confirmed.headers["Location"] == BYE + "?state=q"
    assert session_ended(shared_app, sid_of(id_token))
    assert not logged_in(browser, rp)


@pytest.mark.parametrize("token", [None, "forged", "other_browser"])
def test_logout_confirmation_without_a_valid_csrf_token_is_refused(shared_app, fresh_browser, alice_cookie, rp, token):
    """RFC 9700 §4.7 / Logout §2: a cross-site post cannot log the person out."""
    browser = fresh_browser()
    html = browser.get("/logout").get_data(as_text=True)
    form = {"decision": "logout"}
    if token == "forged":
        form["csrf_token"] = csrf_from(html)[:-4] + "AAAA"
    elif token == "other_browser":
        other = shared_app.test_client()
        other.set_cookie(SESSION_COOKIE, alice_cookie)
        form["csrf_token"] = csrf_from(other.get("/logout").get_data(as_text=True))
    assert_error_page(browser.post("/logout/confirm", data=form))
    assert logged_in(browser, rp)


def test_choosing_to_stay_keeps_the_session(fresh_browser, rp):
    """RP-Initiated Logout §2: the person may decline the logout."""
    browser = fresh_browser()
    html = browser.get("/logout").get_data(as_text=True)
    response = browser.post("/logout/confirm", data={"csrf_token": csrf_from(html), "decision": "stay"})
    assert response.status_code == 303 and response.headers["Location"] == "/"
    assert logged_in(browser, rp)


def test_hint_for_another_session_asks_instead_of_logging_out(shared_app, fresh_browser, browser, rp):
    """RP-Initiated Logout §2: an ID token of another (or an old) session does not prove the
    request comes from this session's RP: the person is asked, nothing ends yet."""
    someone_elses = tokens_for(browser, rp, scope="openid")["id_token"]  # the shared session
    mine = fresh_browser()
    query = urlencode({"id_token_hint": someone_elses, "post_logout_redirect_uri": BYE})
    page = mine.get("/logout?" + query)
    assert page.status_code == 200 and "Location" not in page.headers
    assert "csrf_token" in page.get_data(as_text=True)
    assert logged_in(mine, rp)
    assert not session_ended(shared_app, sid_of(someone_elses))


@pytest.mark.parametrize("forgery", sorted(FORGERIES))
def test_forged_id_token_hint_is_refused_at_logout(shared_app, fresh_browser, rp, forgery):
    """RP-Initiated Logout §2 with RFC 8725 §3.1: `alg: none`, HS256 signed with the public key
    and foreign-key tokens are not ID tokens of this OP; the session stays."""
    browser = fresh_browser()
    id_token = tokens_for(browser, rp, scope="openid")["id_token"]
    forged = FORGERIES[forgery](browser, id_token)
    query = urlencode({"id_token_hint": forged, "post_logout_redirect_uri": BYE, "state": "s"})
    assert_error_page(browser.get("/logout?" + query))
    assert not session_ended(shared_app, sid_of(id_token))
    assert logged_in(browser, rp)


def test_an_access_token_is_not_an_id_token_hint(shared_app, fresh_browser, rp):
    """RFC 8725 §3.11: an access token of this session (typ at+jwt) is not an ID token; it
    cannot end the session without the person's confirmation."""
    browser = fresh_browser()
    issued = tokens_for(browser, rp, scope="openid")
    query = urlencode({"id_token_hint": issued["access_token"], "post_logout_redirect_uri": BYE})
    assert_error_page(browser.get("/logout?" + query))
    assert not session_ended(shared_app, sid_of(issued["id_token"]))
    assert logged_in(browser, rp)


def test_client_id_must_match_the_hint(fresh_browser, rp, new_client):
    """RP-Initiated Logout §2: client_id, when sent with id_token_hint, must be its audience,
    or one client could redirect with another client's hint."""
    browser = fresh_browser()
    other = new_client(post_logout_redirect_uris=["https://other.example/bye"])
    id_token = tokens_for(browser, rp, scope="openid")["id_token"]
    query = urlencode(
        {"id_token_hint": id_token, "client_id": other.client_id, "post_logout_redirect_uri": "https://other.example/bye"}
    )
    assert_error_page(browser.get("/logout?" + query))
    assert logged_in(browser, rp)


def test_logout_without_a_session_is_harmless(anon, rp):
    """RP-Initiated Logout §2: with nobody logged in there is nothing to end; a registered
    target is still honoured for the RP's sake."""
    response = anon.get("/logout?" + urlencode({"client_id": rp.client_id, "post_logout_redirect_uri": BYE}))
    assert response.status_code == 303 and response.headers["Location"] == BYE
