"""Key rotation without a window, across instances (DESIGN §8, issue 16 item 1).

Two providers built by ``create_app`` on one database (one SQLite file, or one PostgreSQL
schema) stand for two hosts. Each keeps its keys cached for ten minutes, longer than any
test, so whatever one of them accepts after a rotation it accepts because of the rules
under test: publish before signing, reload once on an unknown ``kid``, and revocation
checked in the database.
"""

from __future__ import annotations

import re
import threading
from datetime import timedelta

import jwt
from click.testing import CliRunner
from sqlalchemy import update

from idp.base.clock import now
from idp.cli import main as porta
from idp.keys import maintain_keys, rotate_keys
from idp.storage.models import SigningKey
from tests.conftest import (
    ISSUER,
    SECRET_KEY,
    add_alice,
    basic,
    bearer,
    forge_foreign_key,
    log_in,
    register_on,
    store_of,
    token_request,
    tokens_for,
)

CACHE = 600  # seconds: far longer than a test, so no cache expires by itself


def _two_hosts(make_app):
    first = make_app(KEY_CACHE_SECONDS=CACHE)
    second = make_app(KEY_CACHE_SECONDS=CACHE)
    add_alice(first)
    return first, second


def _kid(token: str) -> str:
    return jwt.get_unverified_header(token)["kid"]


def _kids(http) -> set[str]:
    return {key["kid"] for key in http.get("/jwks.json").get_json()["keys"]}


def _ring(app):
    return app.extensions["porta"]["keys"]


def _end_publishing_window(app, kids) -> None:
    """Stand in for waiting PORTA_KEY_PUBLISH_SECONDS (no test waits on the clock)."""
    store = store_of(app)
    try:
        for kid in kids:
            store.sign_now(kid, now())
        store.commit()
    finally:
        store.close()


def _refused(http, client, token: str) -> int:
    """How many of UserInfo and introspection refuse a token (0, 1 or 2)."""
    userinfo = http.get("/userinfo", headers=bearer(token))
    inspected = http.post("/introspect", data={"token": token}, headers=basic(client))
    assert inspected.status_code == 200
    return (userinfo.status_code != 200) + (inspected.get_json()["active"] is not True)


def test_a_rotation_refuses_no_valid_token_on_another_instance(make_app):
    """A rotation on a shared database: the new keys are in the JWKS before they sign, and the
    instance that has not seen them yet accepts every token they sign (one reload, not one per
    request). Issue 16 measured 63 of 1,032 introspections and 20 of 354 UserInfo calls
    refused on main."""
    first, second = _two_hosts(make_app)
    client = register_on(first)
    browser = log_in(first)
    other = second.test_client()
    before = tokens_for(browser, client)
    old_kids = {_kid(before["id_token"]), _kid(before["access_token"])}
    assert _refused(other, client, before["access_token"]) == 0  # warms the second cache

    store = store_of(first)
    try:
        fresh = {key.kid for key in rotate_keys(store, SECRET_KEY, 3600)}
        store.commit()
    finally:
        store.close()
    _ring(first).invalidate()  # the first host's cache has just expired
    assert fresh <= _kids(browser)  # published at once ...
    waiting = tokens_for(browser, client, scope="openid")
    assert {_kid(waiting["id_token"]), _kid(waiting["access_token"])} <= old_kids  # ... not signing

    _end_publishing_window(first, fresh)
    _ring(first).invalidate()
    loads = _ring(second).loads
    refused = 0
    refresh = before["refresh_token"]
    for _ in range(10):
        response = token_request(
            browser, client, grant_type="refresh_token", refresh_token=refresh
        ).get_json()
        refresh = response["refresh_token"]
        assert _kid(response["access_token"]) in fresh
        refused += _refused(other, client, response["access_token"])
    assert refused == 0
    assert _ring(second).loads == loads + 1  # one reload for twenty checks
    assert fresh <= _kids(other)
    assert _refused(other, client, before["access_token"]) == 0  # old tokens still verify


def test_an_unknown_kid_reloads_at_most_once_a_second(make_app):
    """A stream of tokens under kids nobody published cannot make a worker read the key table
    for each of them: concurrent misses share one reload, and later ones wait their turn."""
    first, second = _two_hosts(make_app)
    client = register_on(first)
    token = tokens_for(log_in(first), client, scope="openid")["access_token"]
    other = second.test_client()
    assert _refused(other, client, token) == 0
    forged = jwt.encode(
        jwt.decode(token, options={"verify_signature": False}),
        "x" * 32,
        algorithm="HS256",
        headers={"kid": "never-published"},
    )
    loads = _ring(second).loads
    results: list[int] = []
    threads = [
        threading.Thread(
            target=lambda: results.append(
                second.test_client().get("/userinfo", headers=bearer(forged)).status_code
            )
        )
        for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert results == [401] * 8
    assert _ring(second).loads - loads <= 1


def _cli(app, *args: str):
    settings = app.extensions["porta"]["settings"]
    env = {
        "PORTA_DATABASE_URL": settings.database_url,
        "PORTA_SECRET_KEY": SECRET_KEY,
        "PORTA_ISSUER": ISSUER,
    }
    return CliRunner().invoke(porta, list(args), env=env)


def test_a_revoked_key_is_refused_at_once_everywhere(make_app):
    """`porta keys revoke KID` is for a compromised key: what it signed is refused at once by
    both instances despite their caches; the key leaves both JWKS documents (even the retired
    one: a compromised key vouches for no receipt), and signing continues with another key."""
    first, second = _two_hosts(make_app)
    client = register_on(first)
    browser = log_in(first)
    other = second.test_client()
    issued = tokens_for(browser, client)
    kid = _kid(issued["access_token"])
    assert _refused(other, client, issued["access_token"]) == 0
    assert _refused(browser, client, issued["access_token"]) == 0

    revoked = _cli(first, "keys", "revoke", "--", kid)
    assert revoked.exit_code == 0, revoked.output
    assert re.search(r"new RS256 key \S+: signs now", revoked.output)
    assert _refused(other, client, issued["access_token"]) == 2
    assert _refused(browser, client, issued["access_token"]) == 2

    after = token_request(
        browser, client, grant_type="refresh_token", refresh_token=issued["refresh_token"]
    ).get_json()
    assert _kid(after["access_token"]) != kid
    assert _refused(other, client, after["access_token"]) == 0
    retired = {k["kid"] for k in other.get("/jwks-retired.json").get_json()["keys"]}
    _ring(second).invalidate()
    assert kid not in _kids(other) | retired
    listed = _cli(first, "keys", "list")
    assert re.search(rf"{re.escape(kid)}\s+RS256\s+revoked", listed.output), listed.output
    again = _cli(first, "keys", "revoke", "--", kid)
    assert again.exit_code != 0


def test_scheduled_rotation_runs_once_and_retires_what_expired(make_app):
    """PORTA_KEY_ROTATION_DAYS: pumps on two instances that both find the keys due add one new
    pair between them, which signs only after the publishing window; once the old keys' tokens
    have all expired, the old keys are retired — gone from the JWKS, kept in the retired JWKS
    for receipts (consent_spec SPEC.md §12.4)."""
    first, second = _two_hosts(make_app)
    settings = first.extensions["porta"]["settings"]
    store = store_of(first)
    try:
        old = {key.kid for key in store.list_keys()}
        made = now() - timedelta(days=settings.key_rotation_days + 1)
        store.session.execute(update(SigningKey).values(created_at=made, sign_from=made))
        store.commit()
    finally:
        store.close()

    barrier = threading.Barrier(2)
    added: list[list] = []
    errors: list[BaseException] = []

    def pump(app) -> None:
        store = store_of(app)
        try:
            barrier.wait(timeout=30)
            with store.unit_of_work():
                added.append(maintain_keys(store, SECRET_KEY, settings)[0])
        except BaseException as exc:  # SQLite may refuse the loser's write: it retries next round
            errors.append(exc)
        finally:
            store.close()

    threads = [threading.Thread(target=pump, args=(app,)) for app in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    fresh = {key.kid for batch in added for key in batch}
    assert len(fresh) == 2, (added, errors)
    store = store_of(first)
    try:
        assert len(store.list_keys()) == 4
        assert all(key.sign_from >= now() + timedelta(seconds=3000) for key in store.list_keys() if key.kid in fresh)
        assert maintain_keys(store, SECRET_KEY, settings) == ([], [])  # nothing more is due
        # The window ends and the longest token lifetime passes: the old keys retire.
        late = now() - timedelta(seconds=max(settings.access_token_ttl, settings.id_token_ttl) + 1)
        for kid in fresh:
            store.sign_now(kid, late)
        store.commit()
        assert sorted(maintain_keys(store, SECRET_KEY, settings)[1]) == sorted(old)
        store.commit()
    finally:
        store.close()
    http = second.test_client()
    _ring(second).invalidate()
    assert _kids(http) == fresh
    assert {k["kid"] for k in http.get("/jwks-retired.json").get_json()["keys"]} == old


def test_a_new_key_cannot_sign_before_every_cache_has_seen_it():
    """The publishing window must outlast a worker's key cache plus a relying party's JWKS
    cache; a configuration that would let a key sign before then is refused at start."""
    import pytest

    from idp.base.settings import load_settings

    with pytest.raises(ValueError, match="PORTA_KEY_PUBLISH_SECONDS"):
        load_settings(
            {"KEY_PUBLISH_SECONDS": 60, "KEY_CACHE_SECONDS": 30, "SECRET_KEY": SECRET_KEY}
        )
    assert load_settings({"KEY_PUBLISH_SECONDS": 90, "SECRET_KEY": SECRET_KEY}).key_publish_seconds == 90


def test_forged_signature_under_a_published_kid_is_still_refused(make_app):
    """Reloading on an unknown kid changes nothing for a known kid with a bad signature."""
    first, second = _two_hosts(make_app)
    client = register_on(first)
    token = tokens_for(log_in(first), client, scope="openid")["access_token"]
    assert _refused(second.test_client(), client, forge_foreign_key(token)) == 2
