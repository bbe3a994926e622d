"""Export, import and account deletion (consent_spec SPEC.md §7.3, §8, §12; GDPR Art. 17, 20), on
every backend.

Provider A (issuer ``http://localhost``) holds Alice, a persona and a consent; provider
B (issuer ``http://127.0.0.1:9``, a database of its own) imports what A exported. A's
discovery document and JWKS reach B through A's own test client: no network.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import jwt
import pytest
from sqlalchemy import func, inspect, select, text

import consent_spec
from idp.base.clock import now
from idp.consent import decisions
from idp.consent.consent_request import build_request
from idp.consent.events import WITHDRAWN
from idp.consent.ledger import verify_ledgers
from idp.keys import rotate_keys
from idp.portability import exports, imports, opening
from idp.portability.common import ImportRefusedError
from idp.portability.history import imported_history
from idp.profile.accounts import create_user
from idp.profile.personas import create_persona, list_personas
from idp.protocol.clients import create_client, validate_metadata
from idp.storage.models import (
    ConsentRecord,
    EventOutbox,
    ImportedConsentRecord,
    Persona,
    User,
)
from tests.conftest import (
    ISSUER,
    PASSWORD,
    b64,
    callback_params,
    consent,
    context_of,
    csrf_from,
    exchange,
    fresh_database,
    login,
    obtain_code,
    register_on,
    settle,
    store_of,
    token_request,
    unb64,
    wait_for_background,
)

ISSUER_B = "http://127.0.0.1:9"
EVENTS = "http://127.0.0.1:9/events"  # nothing listens: deliveries stay queued in the outbox
NEW_PASSWORD = "a new password at B"


# -- fixtures ---------------------------------------------------------------------------------


@pytest.fixture
def other_database_url(database_url: str, tmp_path) -> Iterator[str]:
    """A second, empty database on the same backend as ``database_url``."""
    backend = "sqlite" if database_url.startswith("sqlite") else "postgresql"
    folder = tmp_path / "other"
    folder.mkdir()
    with fresh_database(backend, folder) as url:
        yield url


@pytest.fixture
def app_b(make_app, other_database_url):
    """Provider B: another issuer, another database, other keys."""
    return make_app(DATABASE_URL=other_database_url, ISSUER=ISSUER_B)


@pytest.fixture
def shop(register):
    """An RP at A that is told of consent changes."""
    return register(client_name="Alder Books", consent_event_endpoint=EVENTS)


@pytest.fixture
def consented(app, http, user, shop) -> dict[str, Any]:
    """Alice has a Work persona and consented to the shop, which holds her tokens."""
    store = store_of(app)
    create_persona(store, store.get_user(user.id), "Work", {"email": "alice@work.example"})
    store.commit()
    store.close()
    params = obtain_code(http, shop, scope="openid profile email offline_access", prompt="consent")
    response = exchange(http, shop, params["code"])
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def jwks_of(app) -> dict[str, Any]:
    return app.extensions["porta"]["keys"].jwks()


def keys_of_a(app):
    """B's way to A's keys: only for A's issuer."""

    def fetch(issuer: str) -> dict[str, Any]:
        assert issuer == ISSUER
        return jwks_of(app)

    return fetch


def exported_token(http, passphrase: str | None = None) -> str:
    """The person's export, downloaded from the export page: signed only (the explicit
    option), or encrypted under ``passphrase``."""
    page = http.get("/account/export").get_data(as_text=True)
    form = {"csrf_token": csrf_from(page)}
    if passphrase is None:
        form["unencrypted"] = "yes"
    else:
        form.update(passphrase=passphrase, passphrase_again=passphrase)
    response = http.post("/account/export", data=form)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_data(as_text=True)


def import_into(app_b, token: str, fetch, password: str = NEW_PASSWORD, passphrase=None) -> User:
    """The operator's import at B (`porta users import`): checked, then a new account."""
    store = store_of(app_b)
    try:
        with store.unit_of_work():
            ctx = context_of(app_b, store)
            opened = opening.open_export(token, fetch, passphrase=passphrase)
            return imports.import_new_account(ctx, opened, fetch, password=password)
    finally:
        store.close()


def counts(app) -> dict[str, int]:
    store = store_of(app)
    try:
        return {
            model.__tablename__: store.session.scalar(select(func.count()).select_from(model))
            for model in (User, Persona, ImportedConsentRecord, ConsentRecord)
        }
    finally:
        store.close()


def resign(app, document: dict[str, Any]) -> str:
    """The document signed by A, as A would sign it (a well-signed but wrong export)."""
    store = store_of(app)
    try:
        return exports.sign_export(context_of(app, store), document)
    finally:
        store.close()


def payload_of(token: str) -> dict[str, Any]:
    return json.loads(unb64(token.split(".")[1]))


# -- export -----------------------------------------------------------------------------------


def test_discovery_names_the_export_endpoint(http):
    metadata = http.get("/.well-known/openid-configuration").get_json()
    assert metadata["consent_export_endpoint"] == ISSUER + "/account/api/export"


def test_the_export_api_answers_the_persons_session_in_json_only(app, http, consented):
    """SPEC.md §19.7: POST JSON; the signed form on request, else encrypted; never without a
    session, never from a form post (no CSRF token needed, none accepted instead)."""
    assert app.test_client().post("/account/api/export", json={"encrypt": False}).status_code == 401
    form = http.post("/account/api/export", data={"encrypt": "false"})
    assert form.status_code == 415
    assert http.post("/account/api/export", json={}).status_code == 400
    signed = http.post("/account/api/export", json={"encrypt": False})
    assert signed.status_code == 200 and signed.mimetype == "application/jwt"
    assert jwt.get_unverified_header(signed.get_data(as_text=True))["typ"] == "portable-profile+jwt"
    sealed = http.post("/account/api/export", json={"passphrase": "a long passphrase"})
    assert sealed.mimetype == "application/jose"
    assert sealed.get_data(as_text=True).count(".") == 4


def test_export_needs_the_persons_session(app):
    for method in ("get", "post"):
        response = getattr(app.test_client(), method)("/account/export")
        assert response.status_code in (303, 400)
        if response.status_code == 303:
            assert response.headers["Location"].startswith("/login")


def test_export_page_says_what_the_file_allows(http, consented):
    html = http.get("/account/export").get_data(as_text=True)
    assert "What this file allows" in html and "7 days" in html and "only once" in html
    assert '<label for="passphrase"' in html and 'id="unencrypted"' in html
    assert 'name="csrf_token"' in html


def test_export_is_a_signed_valid_portable_profile(app, http, consented, user):
    page = http.get("/account/export").get_data(as_text=True)
    response = http.post(
        "/account/export", data={"csrf_token": csrf_from(page), "unencrypted": "yes"}
    )
    assert response.status_code == 200
    assert response.mimetype == "application/jwt"
    assert response.headers["Content-Disposition"].startswith("attachment;")
    token = response.get_data(as_text=True)
    header = jwt.get_unverified_header(token)
    assert header["typ"] == "portable-profile+jwt" and header["alg"] == "ES256"
    assert header["iss"] == ISSUER
    key = next(k for k in jwks_of(app)["keys"] if k["kid"] == header["kid"])
    document = jwt.decode(token, jwt.PyJWK(key), algorithms=["ES256"])
    assert consent_spec.validate(document, "portable-profile") == []
    assert document["exporter"]["issuer"] == ISSUER
    # Profile values as OIDC Core wants them (E.164 phone), the persona, the whole ledger.
    assert document["profile"]["email"] == "alice@example.org"
    assert document["profile"]["phone_number"] == "+442079460000"
    assert [(p["label"], p["claims"]) for p in document["personas"]] == [
        ("Work", {"email": "alice@work.example"})
    ]
    assert document["ledger"] and document["ledger"][0]["state"] == "given"
    assert consent_spec.verify_chain(document["ledger"]) == []
    assert document["ledger_head"] == consent_spec.ledger_head(document["ledger"])
    assert len(document["receipts"]) == len(document["ledger"])
    for receipt, entry in zip(document["receipts"], document["ledger"], strict=True):
        claims = consent_spec.verify_receipt(receipt, jwks_of(app), issuer=ISSUER)
        assert claims["consent_record"] == entry
    assert document["terms"] == []
    # It expires (SPEC.md §12.3), and embeds the keys its receipts need (§12.4).
    assert document["expires_at"] > document["exported_at"]
    kids = {jwt.get_unverified_header(r)["kid"] for r in document["receipts"]}
    assert kids <= {key["kid"] for key in document["keys"]["keys"]}


# -- import -----------------------------------------------------------------------------------


def test_import_creates_the_person_personas_and_history_granting_nothing(
    app, http, consented, app_b
):
    token = exported_token(http)
    document = payload_of(token)
    user = import_into(app_b, token, keys_of_a(app))

    store = store_of(app_b)
    try:
        imported = store.get_user(user.id)
        assert imported.email == "alice@example.org"
        # Self-asserted: every value but no verification flag (SPEC.md §12.2).
        assert imported.profile == {
            **{k: v for k, v in document["profile"].items() if not k.endswith("_verified")},
            "email_verified": False,
        }
        assert [(p.name, p.claims) for p in list_personas(store, user.id)] == [
            ("Work", {"email": "alice@work.example"})
        ]
        rows = store.imported_records(user.id)
        assert [row.document for row in rows] == document["ledger"]
        assert rows[-1].entry_hash == document["ledger_head"]
        assert all(row.issuer == ISSUER and row.receipt for row in rows)
        for row in rows:  # still verifiable against the exporter's keys
            consent_spec.verify_receipt(row.receipt, jwks_of(app), issuer=ISSUER)
        # History, not consent: B's own ledger is empty, and so is every grant.
        assert store.session.scalar(select(func.count()).select_from(ConsentRecord)) == 0
        history = imported_history(store, user.id)
        assert history[0]["intact"] and history[0]["issuer"] == ISSUER
        assert history[0]["relationships"][0]["name"] == "Alder Books"
    finally:
        store.close()

    # Alice signs in at B with her new password and sees where her history came from.
    browser = app_b.test_client()
    page = browser.get("/login")
    response = browser.post(
        "/login",
        data={
            "csrf_token": csrf_from(page.get_data(as_text=True)),
            "email": "alice@example.org",
            "password": NEW_PASSWORD,
        },
    )
    assert response.status_code == 303
    html = browser.get("/account/imported").get_data(as_text=True)
    assert "Imported consent history" in html and "Alder Books" in html and ISSUER in html
    assert "chain intact" in html


def _tamperings(token: str) -> Iterator[tuple[str, str]]:
    """The token with one byte changed: in the header, across the payload, in the signature."""
    header, payload, signature = token.split(".")
    raw = unb64(payload)
    step = max(1, len(raw) // 40)
    for position in [*range(0, len(raw), step), len(raw) - 2]:
        changed = bytearray(raw)
        changed[position] = ord("1") if changed[position] != ord("1") else ord("2")
        yield f"payload byte {position}", f"{header}.{b64(bytes(changed))}.{signature}"
    raw_header = bytearray(unb64(header))
    raw_header[-3] ^= 0x01
    yield "header byte", f"{b64(bytes(raw_header))}.{payload}.{signature}"
    for position in (0, 31, 63):
        sig = bytearray(unb64(signature))
        sig[position] ^= 0x01
        yield f"signature byte {position}", f"{header}.{payload}.{b64(bytes(sig))}"


def test_a_tampered_export_is_refused_whole(app, http, consented, app_b):
    token = exported_token(http)
    before = counts(app_b)
    tried = 0
    for where, forged in _tamperings(token):
        with pytest.raises(ImportRefusedError) as refused:
            import_into(app_b, forged, keys_of_a(app))
        assert refused.value.path in {"signature", "header", "header.typ", "header.kid", "$"}, (
            where,
            str(refused.value),
        )
        tried += 1
    assert tried > 40
    assert (
        counts(app_b)
        == before
        == {
            "users": 0,
            "personas": 0,
            "imported_consent_records": 0,
            "consent_records": 0,
        }
    )


def test_keys_of_another_issuer_do_not_verify(app, http, consented, app_b):
    token = exported_token(http)
    with pytest.raises(ImportRefusedError) as refused:
        import_into(app_b, token, lambda issuer: jwks_of(app_b))
    assert refused.value.path == "header.kid"
    # B's keys under A's kid: the signature is what fails.
    kid = jwt.get_unverified_header(token)["kid"]
    impostor = {"keys": [{**k, "kid": kid} for k in jwks_of(app_b)["keys"] if k["kty"] == "EC"]}
    with pytest.raises(ImportRefusedError) as refused:
        import_into(app_b, token, lambda issuer: impostor)
    assert refused.value.path == "signature"
    assert counts(app_b)["users"] == 0


def test_an_export_signed_by_another_provider_than_it_names_is_refused(app, http, consented, app_b):
    """B signs A's document: the keys fetched for the named issuer cannot verify it."""
    document = payload_of(exported_token(http))
    forged = resign(app_b, document)  # header iss is B, document says A
    with pytest.raises(ImportRefusedError) as refused:
        import_into(app_b, forged, lambda issuer: jwks_of(app_b))
    assert refused.value.path == "$.exporter.issuer"
    assert counts(app_b)["users"] == 0


def test_unreachable_keys_are_refused_without_the_network_error(app, http, consented, app_b):
    token = exported_token(http)

    def down(issuer: str) -> dict[str, Any]:
        raise ConnectionError("connection refused by 10.0.0.7:8443")

    with pytest.raises(ImportRefusedError) as refused:
        import_into(app_b, token, down)
    assert refused.value.path == "$.exporter.issuer"
    assert "10.0.0.7" not in str(refused.value)


@pytest.mark.parametrize(
    ("damage", "path"),
    [
        (lambda d: d["ledger"][0].update(state="withdrawn"), "$.ledger[0]"),
        (lambda d: d.update(ledger_head="f" * 64), "$.ledger_head"),
        (lambda d: d["profile"].update(email_verified="yes"), "$.profile.email_verified"),
        (lambda d: d["receipts"].reverse() or d["receipts"].append("x.y.z"), "$.receipts"),
    ],
)
def test_a_wrong_document_is_refused_with_its_path(app, http, consented, app_b, damage, path):
    """Signed by A, but wrong inside: the error names the member (SPEC.md §1 JSONPath)."""
    document = payload_of(exported_token(http))
    damage(document)
    with pytest.raises(ImportRefusedError) as refused:
        import_into(app_b, resign(app, document), keys_of_a(app))
    assert refused.value.path.startswith(path), str(refused.value)
    assert counts(app_b)["users"] == 0


def test_a_fault_found_while_creating_rolls_back_everything(app, http, consented, app_b):
    """Two personas with one name pass the schema but not this provider: nothing is kept."""
    document = payload_of(exported_token(http))
    document["personas"].append({"persona_id": "p2", "label": "work", "claims": {}})
    with pytest.raises(ImportRefusedError) as refused:
        import_into(app_b, resign(app, document), keys_of_a(app))
    assert refused.value.path == "$.personas[1].label"
    assert counts(app_b) == {
        "users": 0,
        "personas": 0,
        "imported_consent_records": 0,
        "consent_records": 0,
    }


def test_an_email_that_has_an_account_is_refused(app, http, consented):
    """Importing into A itself: Alice is already there."""
    token = exported_token(http)
    before = counts(app)
    with pytest.raises(ImportRefusedError) as refused:
        import_into(app, token, lambda issuer: jwks_of(app))
    assert refused.value.path == "$.profile.email"
    assert "already exists" in refused.value.message
    assert counts(app) == before


def test_a_short_password_is_refused(app, http, consented, app_b):
    with pytest.raises(ImportRefusedError) as refused:
        import_into(app_b, exported_token(http), keys_of_a(app), password="short")
    assert refused.value.path == "password"


# -- the import page --------------------------------------------------------------------------


@pytest.fixture
def a_served(app, app_b, monkeypatch):
    """B fetches A's discovery document and JWKS from A's test client, not the network."""
    client = app.test_client()

    def fetch_json(url: str) -> Any:
        assert url.startswith(ISSUER + "/"), url
        response = client.get(url.removeprefix(ISSUER))
        assert response.status_code == 200
        return response.get_json()

    porta = app_b.extensions["porta"]
    if "fetch_json" in porta:  # the app's own fetcher, when it keeps one
        monkeypatch.setitem(porta, "fetch_json", fetch_json)
    else:
        monkeypatch.setattr("idp.web.common.fetch_json", fetch_json)


def test_import_page_is_open_and_labelled(app_b):
    html = app_b.test_client().get("/account/import").get_data(as_text=True)
    for control in ("export_file", "export_text", "passphrase", "password", "password_again"):
        assert f'<label for="{control}"' in html and f'id="{control}"' in html
    assert 'name="csrf_token"' in html


@pytest.fixture
def app_b_mail(make_app, other_database_url, smtp_server):
    """Provider B, sending its mail to the test's SMTP server."""
    return make_app(DATABASE_URL=other_database_url, ISSUER=ISSUER_B, SMTP_URL=smtp_server.url)


@pytest.fixture
def a_served_to_b_mail(app, app_b_mail, monkeypatch):
    client = app.test_client()

    def fetch_json(url: str) -> Any:
        response = client.get(url.removeprefix(ISSUER))
        assert response.status_code == 200
        return response.get_json()

    monkeypatch.setitem(app_b_mail.extensions["porta"], "fetch_json", fetch_json)


def _link_in(message) -> str:
    body = message.get_body(("plain",)).get_content()
    return next(line.strip() for line in body.splitlines() if "/account/import/confirm" in line)


def test_import_page_proves_the_email_then_makes_the_account(
    app, http, consented, app_b_mail, a_served_to_b_mail, smtp_server
):
    """Signed out, an export alone makes no account (SPEC.md §12.3 step 7): a link goes to
    the export's address over SMTP, and only opening it does; that address is then verified."""
    token = exported_token(http)
    browser = app_b_mail.test_client()
    page = browser.get("/account/import").get_data(as_text=True)
    response = browser.post(
        "/account/import",
        data={
            "csrf_token": csrf_from(page),
            "export_file": (io.BytesIO(token.encode()), "porta-export.jwt"),
            "password": NEW_PASSWORD,
            "password_again": NEW_PASSWORD,
        },
        content_type="multipart/form-data",
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 200, html
    assert "Check your mail" in html and "alice@example.org" in html
    assert counts(app_b_mail)["users"] == 0
    wait_for_background(app_b_mail)
    (message,) = smtp_server.to("alice@example.org")
    assert "Finish importing your profile" in message["Subject"]
    assert message.get_body(("html",)) is not None
    link = _link_in(message)
    assert link.startswith(ISSUER_B + "/account/import/confirm?token=")
    path = link.removeprefix(ISSUER_B)
    # Opening the link (a GET, as mail scanners do) creates nothing.
    confirm = browser.get(path)
    assert confirm.status_code == 200 and counts(app_b_mail)["users"] == 0
    done = browser.post(
        "/account/import/confirm",
        data={
            "csrf_token": csrf_from(confirm.get_data(as_text=True)),
            "token": path.split("=", 1)[1],
        },
    )
    html = done.get_data(as_text=True)
    assert done.status_code == 200, html
    assert "Your profile is here" in html and "Work" in html and "Alder Books" in html
    store = store_of(app_b_mail)
    try:
        imported = store.get_user_by_email("alice@example.org")
        assert imported.profile["email_verified"] is True  # B checked it itself
        assert imported.verifications["email"]["method"] == "email-link"
    finally:
        store.close()
    # The link is single use.
    again = browser.get(path)
    assert again.status_code == 410 and counts(app_b_mail)["users"] == 1


def test_import_page_takes_an_export_larger_than_other_requests(
    app, http, consented, app_b_mail, a_served_to_b_mail, smtp_server
):
    """Exports outgrow MAX_REQUEST_BYTES (64 KiB by default); the import page allows more."""
    padded = exported_token(http) + "\n" * (2 * app_b_mail.config["MAX_CONTENT_LENGTH"])
    browser = app_b_mail.test_client()
    page = browser.get("/account/import").get_data(as_text=True)
    response = browser.post(
        "/account/import",
        data={
            "csrf_token": csrf_from(page),
            "export_file": (io.BytesIO(b"\xef\xbb\xbf" + padded.encode()), "export.jwt"),
            "password": NEW_PASSWORD,
            "password_again": NEW_PASSWORD,
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    assert "Check your mail" in response.get_data(as_text=True)
    wait_for_background(app_b_mail)
    assert len(smtp_server.to("alice@example.org")) == 1


def test_import_page_names_the_fault_and_keeps_nothing(
    app, http, consented, app_b_mail, a_served_to_b_mail
):
    header, payload, signature = exported_token(http).split(".")
    document = json.loads(unb64(payload))
    document["profile"]["name"] = "Mallory"
    forged = f"{header}.{b64(json.dumps(document).encode())}.{signature}"
    browser = app_b_mail.test_client()
    page = browser.get("/account/import").get_data(as_text=True)
    response = browser.post(
        "/account/import",
        data={
            "csrf_token": csrf_from(page),
            "export_text": forged,
            "password": NEW_PASSWORD,
            "password_again": NEW_PASSWORD,
        },
    )
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert 'role="alert"' in html and "signature does not verify" in html
    assert counts(app_b_mail)["users"] == 0


def test_import_page_refuses_a_post_without_csrf(app, http, consented, app_b, a_served):
    response = app_b.test_client().post(
        "/account/import",
        data={
            "export_text": exported_token(http),
            "password": NEW_PASSWORD,
            "password_again": NEW_PASSWORD,
        },
    )
    assert response.status_code == 400
    assert counts(app_b)["users"] == 0


# -- deletion ---------------------------------------------------------------------------------


def _delete_form(http) -> str:
    page = http.get("/account/delete")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert '<label for="password"' in html and '<label for="confirm"' in html
    return csrf_from(html)


def _every_value(app) -> str:
    """Every row of every table as text (JSON columns included)."""
    store = store_of(app)
    try:
        chunks = []
        for table in inspect(store.session.get_bind()).get_table_names():
            for row in store.session.execute(text(f'SELECT * FROM "{table}"')):
                chunks.append(" ".join(str(value) for value in row))
        return "\n".join(chunks)
    finally:
        store.close()


def test_a_wrong_password_deletes_nothing(app, http, consented):
    before = counts(app)
    response = http.post(
        "/account/delete",
        data={"csrf_token": _delete_form(http), "confirm": "yes", "password": "not it"},
    )
    assert response.status_code == 400
    assert counts(app) == before


def test_deletion_tells_the_rp_kills_tokens_and_keeps_only_the_ledger(
    app, http, consented, user, shop
):
    # A failed sign-in puts the email in the audit log; deletion must take it out.
    stranger = app.test_client()
    form = {"csrf_token": csrf_from(stranger.get("/login").get_data(as_text=True))}
    stranger.post("/login", data={**form, "email": "Alice@Example.org", "password": "wrong!"})
    store = store_of(app)
    assert store.audit_events("login_failed")
    subject = store.session.scalars(select(ConsentRecord.document)).first()["subject"]
    entries = store.session.scalar(select(func.count()).select_from(ConsentRecord))
    store.close()

    response = http.post(
        "/account/delete",
        data={"csrf_token": _delete_form(http), "confirm": "yes", "password": PASSWORD},
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    assert "Your account is deleted" in response.get_data(as_text=True)
    settle(app)

    # The RP got a consent-withdrawn SET (SPEC.md §13) in the outbox.
    store = store_of(app)
    try:
        tokens = list(
            store.session.scalars(
                select(EventOutbox.token).where(
                    EventOutbox.client_id == shop.client_id, EventOutbox.event_type == WITHDRAWN
                )
            )
        )
        assert len(tokens) == 1
        event = jwt.decode(tokens[0], options={"verify_signature": False})
        assert event["sub"] == subject
        assert "email" in event["events"][WITHDRAWN]["claims"]
        # The ledger stays, detached, one withdrawn record longer, and still verifies.
        rows = list(store.session.scalars(select(ConsentRecord)))
        assert len(rows) == entries + 1 and rows and all(r.user_id is None for r in rows)
        assert sorted(r.state for r in rows)[-1] == "withdrawn"
        checked, broken = verify_ledgers(store)
        assert checked == entries + 1 and broken == []
    finally:
        store.close()

    # Tokens are dead; the session is over.
    assert (
        http.get(
            "/userinfo", headers={"Authorization": "Bearer " + consented["access_token"]}
        ).status_code
        == 401
    )
    refreshed = token_request(
        http, shop, grant_type="refresh_token", refresh_token=consented["refresh_token"]
    )
    assert refreshed.status_code == 400 and refreshed.get_json()["error"] == "invalid_grant"
    assert http.get("/account").status_code == 303

    # Nothing personal is left anywhere: no email, name, phone, persona value or account id.
    everything = _every_value(app)
    for personal in (
        "alice@example.org",
        "Alice Example",
        "7946",
        "alice@work.example",
        "Leeds",
        user.id,
    ):
        assert personal not in everything, personal


def test_a_deleted_ledger_that_was_edited_is_reported(app, http, consented):
    response = http.post(
        "/account/delete",
        data={"csrf_token": _delete_form(http), "confirm": "yes", "password": PASSWORD},
    )
    assert response.status_code == 200
    settle(app)
    store = store_of(app)
    try:
        row = store.session.scalars(select(ConsentRecord).where(ConsentRecord.sequence == 0)).one()
        row.document = {**row.document, "refused": ["email"]}
        store.commit()
        _, broken = verify_ledgers(store)
    finally:
        store.close()
    assert broken and broken[0].user_id is None and broken[0].sequence == 0


# -- portability you can trust (SPEC.md §12.2-§12.5) -------------------------------------------

EMAIL_ASKED = {"userinfo": {"email": None, "email_verified": None, "verified_claims": None}}


def _client_at(app, redirect_uri: str = "https://rp-b.example/cb") -> tuple[str, str]:
    store = store_of(app)
    try:
        with store.unit_of_work():
            client, secret, _ = create_client(
                context_of(app, store),
                validate_metadata({"client_name": "Birch Bank", "redirect_uris": [redirect_uri]}),
            )
        return client.client_id, secret
    finally:
        store.close()


def userinfo_at(app, email: str, password: str, claims: dict | None = None) -> dict[str, Any]:
    """What an RP of ``app`` receives at UserInfo after the person logs in and consents."""
    client_id, secret = _client_at(app)
    http = app.test_client()
    query = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": "https://rp-b.example/cb",
        "scope": "openid email",
        "state": "s",
        "nonce": "n",
    }
    if claims is not None:
        query["claims"] = json.dumps(claims)
    response = http.get("/authorize?" + urlencode(query))
    response = login(http, response, email=email, password=password)
    response = consent(http, response)
    code = callback_params(response.headers["Location"])["code"]
    tokens = http.post(
        "/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": query["redirect_uri"],
        },
        auth=(client_id, secret),
    ).get_json()
    return http.get(
        "/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    ).get_json()


def _verified_by_a(app, user_id: str) -> None:
    """A verified Alice's address itself (as its email link would)."""
    store = store_of(app)
    try:
        with store.unit_of_work():
            person = store.get_user(user_id)
            store.record_verification(person, "email", person.profile["email"], "email-link")
    finally:
        store.close()


# -- forged identities ------------------------------------------------------------------------


def test_a_forged_export_yields_no_verified_identity(app, http, user, consented, app_b):
    """The measured attack: an 'export' for cfo@bank.example from a provider B does not trust,
    claiming the address and phone verified. B imports the values as self-asserted only, and
    its UserInfo says email_verified false."""
    store = store_of(app)
    with store.unit_of_work():
        person = store.get_user(user.id)
        store.save_profile(
            person,
            {
                **person.profile,
                "email": "cfo@bank.example",
                "email_verified": True,
                "phone_number_verified": True,
            },
        )
        store.record_verification(person, "email", "cfo@bank.example", "email-link")
    store.close()
    token = exported_token(http)
    assert payload_of(token)["profile"]["email_verified"] is True  # what the forger asserts
    imported = import_into(app_b, token, keys_of_a(app))
    assert imported.profile["email_verified"] is False
    assert "phone_number_verified" not in imported.profile
    body = userinfo_at(app_b, "cfo@bank.example", NEW_PASSWORD, EMAIL_ASKED)
    assert body["email"] == "cfo@bank.example"
    assert body["email_verified"] is False
    assert "verified_claims" not in body


def test_signed_out_import_without_mail_makes_no_account(app, http, user, consented, app_b):
    """No SMTP, no proof of the address: signed out, an export alone is refused."""
    token = exported_token(http)
    b = app_b.test_client()
    page = b.get("/account/import").get_data(as_text=True)
    assert "sends no mail" in page
    response = b.post(
        "/account/import",
        data={
            "csrf_token": csrf_from(page),
            "export_text": token,
            "password": NEW_PASSWORD,
            "password_again": NEW_PASSWORD,
        },
    )
    assert response.status_code == 400
    assert "cannot check that the address is yours" in response.get_data(as_text=True)
    assert counts(app_b)["users"] == 0
    assert b.get("/account/import/confirm?token=made-up").status_code == 410


# -- exports are not bearer credentials -------------------------------------------------------


def test_a_replayed_export_is_refused(app, http, user, consented, app_b):
    """Imported once, an export is spent: Bob, signed in at B, cannot import Alice's again,
    merge confirmed or not."""
    token = exported_token(http)
    import_into(app_b, token, keys_of_a(app))
    store = store_of(app_b)
    with store.unit_of_work():
        create_user(store, "bob@example.org", "bob's password here")
    store.close()
    b = app_b.test_client()
    page = b.get("/login").get_data(as_text=True)
    b.post(
        "/login",
        data={
            "csrf_token": csrf_from(page),
            "email": "bob@example.org",
            "password": "bob's password here",
        },
    )
    app_b.extensions["porta"]["fetch_json"] = _served_by(app)
    page = b.get("/account/import").get_data(as_text=True)
    form = {"csrf_token": csrf_from(page), "export_text": token}
    refused = b.post("/account/import", data=form)
    assert refused.status_code == 400 and "merge it into this account" in refused.get_data(
        as_text=True
    )
    replay = b.post("/account/import", data={**form, "merge": "yes"})
    assert replay.status_code == 400
    assert "already imported" in replay.get_data(as_text=True)


def _served_by(app):
    client = app.test_client()

    def fetch_json(url: str) -> Any:
        response = client.get(url.removeprefix(ISSUER))
        assert response.status_code == 200, url
        return response.get_json()

    return fetch_json


def test_an_expired_export_is_refused(app, http, user, consented, app_b):
    document = payload_of(exported_token(http))
    past = (datetime.now(UTC) - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    with pytest.raises(ImportRefusedError) as refused:
        import_into(app_b, resign(app, {**document, "expires_at": past}), keys_of_a(app))
    assert refused.value.path == "$.expires_at"
    # Without an expiry, an old export is refused too (SPEC.md §12.3 step 4).
    old = (datetime.now(UTC) - timedelta(days=31)).strftime("%Y-%m-%dT%H:%M:%SZ")
    undated = {k: v for k, v in document.items() if k != "expires_at"} | {"exported_at": old}
    with pytest.raises(ImportRefusedError) as refused:
        import_into(app_b, resign(app, undated), keys_of_a(app))
    assert refused.value.path == "$.exported_at"
    assert counts(app_b)["users"] == 0


def test_an_encrypted_export_needs_its_passphrase(app, http, user, consented, app_b):
    """The default export is a JWE under the person's passphrase (PBES2, A256GCM)."""
    passphrase = "correct horse battery"
    token = exported_token(http, passphrase=passphrase)
    header = json.loads(jwt.utils.base64url_decode(token.split(".")[0]))
    assert token.count(".") == 4
    assert (header["alg"], header["enc"]) == ("PBES2-HS512+A256KW", "A256GCM")
    assert header["p2c"] >= 210_000
    assert "alice@example.org" not in token
    for wrong in (None, "not the passphrase"):
        with pytest.raises(ImportRefusedError) as refused:
            import_into(app_b, token, keys_of_a(app), passphrase=wrong)
        assert refused.value.path == "passphrase"
    imported = import_into(app_b, token, keys_of_a(app), passphrase=passphrase)
    assert imported.email == "alice@example.org"
    # A passphrase shorter than the page asks for makes no file.
    page = http.get("/account/export").get_data(as_text=True)
    short = http.post(
        "/account/export",
        data={"csrf_token": csrf_from(page), "passphrase": "short", "passphrase_again": "short"},
    )
    assert short.status_code == 400 and "at least" in short.get_data(as_text=True)


# -- verified claims keep their verifier --------------------------------------------------------


def test_an_untrusted_issuers_verified_claims_arrive_unverified(app, http, user, consented, app_b):
    _verified_by_a(app, user.id)
    token = exported_token(http)
    (claim,) = payload_of(token)["verified_claims"]
    assert jwt.get_unverified_header(claim)["typ"] == "verified-claims+jwt"
    import_into(app_b, token, keys_of_a(app))
    body = userinfo_at(app_b, "alice@example.org", NEW_PASSWORD, EMAIL_ASKED)
    assert body["email_verified"] is False
    assert "verified_claims" not in body


@pytest.fixture
def app_b_trusting_a(make_app, other_database_url):
    return make_app(DATABASE_URL=other_database_url, ISSUER=ISSUER_B, IMPORT_TRUSTED_ISSUERS=ISSUER)


def test_a_trusted_issuers_verified_claims_are_released_naming_it(
    app, http, user, consented, app_b_trusting_a
):
    _verified_by_a(app, user.id)
    import_into(app_b_trusting_a, exported_token(http), keys_of_a(app))
    body = userinfo_at(app_b_trusting_a, "alice@example.org", NEW_PASSWORD, EMAIL_ASKED)
    assert body["email_verified"] is False  # B verified nothing itself
    (verified,) = body["verified_claims"]
    assert verified["claims"] == {"email": "alice@example.org"}
    assert verified["verification"]["verifier"] == {"organization": ISSUER}
    assert verified["verification"]["trust_framework"] == "consent-spec-provider"
    assert verified["verification"]["time"].endswith("Z")
    # Not asked for, not sent.
    plain = userinfo_at(app_b_trusting_a, "alice@example.org", NEW_PASSWORD)
    assert "verified_claims" not in plain


# -- long-term verifiability ----------------------------------------------------------------------


def test_an_export_made_after_rotation_and_retirement_imports(app, http, user, consented, app_b):
    old_kid = jwt.get_unverified_header(payload_of(exported_token(http))["receipts"][0])["kid"]
    store = store_of(app)
    with store.unit_of_work():
        fresh = rotate_keys(store, app.extensions["porta"]["settings"].secret_key, 3600)
    with store.unit_of_work():  # the publishing window ends: the new keys sign
        for key in fresh:
            store.sign_now(key.kid, now())
    with store.unit_of_work():
        assert store.retire_key(old_kid)
    store.close()
    app.extensions["porta"]["keys"].invalidate()
    published = {k["kid"] for k in http.get("/jwks.json").get_json()["keys"]}
    retired = {k["kid"] for k in http.get("/jwks-retired.json").get_json()["keys"]}
    assert old_kid not in published and old_kid in retired
    metadata = http.get("/.well-known/openid-configuration").get_json()
    assert metadata["retired_jwks_uri"] == ISSUER + "/jwks-retired.json"
    token = exported_token(http)
    assert jwt.get_unverified_header(token)["kid"] != old_kid  # retired keys never sign
    imported = import_into(app_b, token, keys_of_a(app))
    store = store_of(app_b)
    try:
        rows = store.imported_records(imported.id)
        assert rows and all(row.receipt for row in rows)
    finally:
        store.close()


# -- a move keeps everything ----------------------------------------------------------------------


def test_a_move_keeps_persona_bindings_withdrawals_and_custom_claims(
    make_app, database_url, tmp_path, other_database_url
):
    """A with an operator catalogue: Alice's custom claim, her Work persona released to the
    shop, and a narrowing (whose withdrawal_id must resolve) all travel to B."""
    diet = "urn:porta:claim:dietary-preference"
    catalogue = tmp_path / "catalogue.json"
    catalogue.write_text(
        json.dumps(
            {
                "spec_version": "1.0",
                "issuer": ISSUER,
                "claims": {
                    diet: {
                        "display_name": {"en": "Dietary preference"},
                        "type": "string",
                        "sensitivity": "special-category",
                        "source": "custom",
                    }
                },
            }
        )
    )
    a = make_app(CLAIMS_CATALOGUE=str(catalogue))
    b = make_app(DATABASE_URL=other_database_url, ISSUER=ISSUER_B)
    store = store_of(a)
    with store.unit_of_work():
        alice = create_user(store, "alice@example.org", "alice's password", "Alice Example")
        store.save_profile(alice, {**alice.profile, diet: "vegan"})
        work = store.add_persona(alice.id, "Work", {"email": "alice@work.example"})
        client, _secret, _ = create_client(
            context_of(a, store),
            validate_metadata(
                {"client_name": "Alder Books", "redirect_uris": ["https://shop.example/cb"]}
            ),
        )
    ctx = context_of(a, store)
    asked = build_request(
        client, ["name", "email", "locale"], set(), now=datetime.now(UTC), catalogue=ctx.catalogue
    )
    with store.unit_of_work():
        decisions.decide(ctx, alice, client, asked, ["name", "email", "locale"], approve=True)
    with store.unit_of_work():
        decisions.switch_persona(ctx, alice, client, work.id)
    with store.unit_of_work():
        decisions.narrow(ctx, alice, client, ["locale"])
    store.close()
    http = a.test_client()
    page = http.get("/login").get_data(as_text=True)
    http.post(
        "/login",
        data={
            "csrf_token": csrf_from(page),
            "email": "alice@example.org",
            "password": "alice's password",
        },
    )
    document = payload_of(exported_token(http))
    (persona,) = document["personas"]
    assert persona["persona_id"] == work.id and persona["sites"] == [client.client_id]
    withdrawal_ids = {e["withdrawal_id"] for e in document["ledger"] if "withdrawal_id" in e}
    assert withdrawal_ids and withdrawal_ids == {
        w["withdrawal_id"] for w in document["withdrawals"]
    }
    (narrowing,) = document["withdrawals"]
    assert narrowing["action"] == "narrow" and narrowing["removes"] == {"claims": ["locale"]}
    assert list(document["catalogue"]["claims"]) == [diet]

    imported = import_into(b, resign(a, document), keys_of_a(a))
    store = store_of(b)
    try:
        assert store.get_user(imported.id).profile[diet] == "vegan"
        (kept,) = store.personas_of(imported.id)
        assert kept.id == work.id and kept.name == "Work"
        (history,) = imported_history(store, imported.id)
        (relationship,) = history["relationships"]
        assert relationship["persona"] == "Work"
    finally:
        store.close()


def test_a_second_move_keeps_the_first_history(
    app, http, user, consented, app_b, make_app, tmp_path, database_url
):
    """A → B → C: B's export carries A's signed export as history, and C verifies and keeps it."""
    first = exported_token(http)
    import_into(app_b, first, keys_of_a(app))
    b = app_b.test_client()
    page = b.get("/login").get_data(as_text=True)
    b.post(
        "/login",
        data={
            "csrf_token": csrf_from(page),
            "email": "alice@example.org",
            "password": NEW_PASSWORD,
        },
    )
    second = exported_token(b)
    document = payload_of(second)
    assert document["ledger"] == [] and document["history"] == [first]
    backend = "sqlite" if database_url.startswith("sqlite") else "postgresql"
    folder = tmp_path / "c"
    folder.mkdir()
    with fresh_database(backend, folder) as url_c:
        app_c = make_app(DATABASE_URL=url_c, ISSUER="http://127.0.0.1:10")
        keys = {ISSUER: jwks_of(app), ISSUER_B: jwks_of(app_b)}
        moved = import_into(app_c, second, lambda issuer: keys[issuer])
        store = store_of(app_c)
        try:
            rows = store.imported_records(moved.id)
            assert rows and {row.issuer for row in rows} == {ISSUER}
            assert {row.document["record_id"] for row in rows} == {
                entry["record_id"] for entry in payload_of(first)["ledger"]
            }
            assert all(isinstance(row, ImportedConsentRecord) and row.receipt for row in rows)
            (history,) = imported_history(store, moved.id)
            assert history["intact"] and history["issuer"] == ISSUER
        finally:
            store.close()


# -- telling the old sites, only if the person asks ---------------------------------------------


def _moved_rows(app) -> list:
    store = store_of(app)
    try:
        return [
            row
            for row in store.session.scalars(select(EventOutbox))
            if row.event_type.endswith("/subject-moved")
        ]
    finally:
        store.close()


def test_sites_are_told_of_a_move_only_when_the_person_picks_them(app, http, consented, shop):
    quiet = register_on(app, client_name="Quiet Cafe", redirect_uris=["https://cafe.example/cb"])
    obtain_code(http, quiet, scope="openid email", prompt="consent")
    exported_token(http)
    page = http.get("/account/moved").get_data(as_text=True)
    assert "Alder Books" in page and "Quiet Cafe" in page
    assert "checked" not in page  # nothing picked in advance
    assert _moved_rows(app) == []  # an export tells nobody
    refused = http.post(
        "/account/moved", data={"csrf_token": csrf_from(page), "new_issuer": "https://b.example"}
    )
    assert refused.status_code == 400 and "pick at least one site" in refused.get_data(as_text=True)
    bad = http.post(
        "/account/moved",
        data={
            "csrf_token": csrf_from(page),
            "new_issuer": "http://b.example",
            "site": shop.client_id,
        },
    )
    assert bad.status_code == 400
    done = http.post(
        "/account/moved",
        data={
            "csrf_token": csrf_from(page),
            "new_issuer": "https://b.example/",
            "site": [shop.client_id, quiet.client_id],
        },
    )
    html = done.get_data(as_text=True)
    assert done.status_code == 200, html
    assert "Alder Books: a notice is on its way" in html
    assert "Quiet Cafe: not told" in html  # it registered no event endpoint
    (row,) = _moved_rows(app)
    assert row.client_id == shop.client_id
    event = jwt.decode(row.token, options={"verify_signature": False})
    assert consent_spec.validate(event, "consent-event") == []
    (payload,) = event["events"].values()
    assert payload["new_issuer"] == "https://b.example"


def test_an_unsigned_export_is_imported_as_self_asserted(app, http, consented, app_b):
    """SPEC.md §12.1 form 3: plain JSON is accepted, and nothing of it counts as verified."""
    document = payload_of(exported_token(http))
    imported = import_into(app_b, json.dumps(document), keys_of_a(app))
    assert imported.profile["email_verified"] is False
    store = store_of(app_b)
    try:
        (history,) = imported_history(store, imported.id)
        assert history["self_asserted"] is True and history["issuer"] == ISSUER
        assert all(row.receipt is None for row in store.imported_records(imported.id))
        assert store.imports_of(imported.id)[0].token is None  # never re-exported as history
    finally:
        store.close()
