"""Response headers of the person's pages (issue 13 item 9).

CSP allows no inline script (the one script, form_post's auto-submit, carries a
nonce: tests/idp/test_security.py::test_form_post_escapes_reflected_values);
no Referer leaves the provider; on an https issuer, HSTS (RFC 6797) and a
``__Host-`` session cookie (RFC 6265bis §4.1.3.2).
"""

from __future__ import annotations

from idp.web.common import session_cookie_name
from tests.conftest import PASSWORD, add_alice, csrf_from

HTTPS_ISSUER = "https://id.example"


def _sign_in(app, base_url: str):
    browser = app.test_client()
    page = browser.get("/login", base_url=base_url)
    response = browser.post(
        "/login",
        data={
            "csrf_token": csrf_from(page.get_data(as_text=True)),
            "email": "alice@example.org",
            "password": PASSWORD,
        },
        base_url=base_url,
        headers={"Referer": base_url + "/login"},
    )
    assert response.status_code == 303, response.get_data(as_text=True)
    return page, response


def test_an_https_issuer_sends_hsts_and_a_host_only_session_cookie(make_app):
    app = make_app(ISSUER=HTTPS_ISSUER)
    add_alice(app)
    page, response = _sign_in(app, HTTPS_ISSUER)
    assert page.headers["Strict-Transport-Security"] == "max-age=31536000"
    (cookie,) = [c for c in response.headers.getlist("Set-Cookie") if "porta_session" in c]
    # __Host- (RFC 6265bis §4.1.3.2), then the name derived from this issuer.
    assert cookie.startswith(
        "__Host-" + session_cookie_name(app.extensions["porta"]["settings"].issuer) + "="
    )
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")[1:]}
    assert {"secure", "httponly", "path"} <= attributes and "domain" not in attributes
    assert "Path=/" in cookie


def test_a_loopback_http_issuer_sends_neither(make_app):
    app = make_app(ISSUER="http://127.0.0.1:8000")
    add_alice(app)
    page, response = _sign_in(app, "http://127.0.0.1:8000")
    assert "Strict-Transport-Security" not in page.headers
    name = session_cookie_name(app.extensions["porta"]["settings"].issuer)
    assert any(c.startswith(name + "=") for c in response.headers.getlist("Set-Cookie"))


def test_pages_allow_no_inline_script_and_send_no_referrer(http):
    page = http.get("/login")
    csp = page.headers["Content-Security-Policy"]
    script_src = next(d for d in csp.split(";") if d.strip().startswith("script-src"))
    assert "'unsafe-inline'" not in script_src and "'unsafe-eval'" not in script_src
    assert "frame-ancestors 'none'" in csp
    assert page.headers["Referrer-Policy"] == "no-referrer"
