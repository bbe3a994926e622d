"""The import page hashes a password and fetches another provider's keys: it is throttled
like the login form (Flask-Limiter, PORTA_LOGIN_RATE_LIMIT)."""

from __future__ import annotations

from tests.conftest import csrf_from


def test_import_posts_are_rate_limited(make_app):
    http = make_app(LOGIN_RATE_LIMIT="2 per minute").test_client()
    statuses = []
    for _ in range(3):
        page = http.get("/account/import").get_data(as_text=True)
        form = {
            "csrf_token": csrf_from(page),
            "export_text": "not-a-jws",
            "password": "long-enough-pw",
            "password_again": "long-enough-pw",
        }
        statuses.append(http.post("/account/import", data=form).status_code)
    assert statuses[:2] != [429, 429] and all(s < 500 for s in statuses[:2])
    assert statuses[2] == 429
