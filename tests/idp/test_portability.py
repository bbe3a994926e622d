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
from typing import Any

import jwt
import pytest
from sqlalchemy import func, inspect, select, text

import consent_spec
from idp.consent.events import WITHDRAWN
from idp.consent.ledger import verify_ledgers
from idp.profile import portability
from idp.profile.personas import create_persona, list_personas
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
    context_of,
    csrf_from,
    exchange,
    fresh_database,
    obtain_code,
    settle,
    store_of,
    token_request,
    unb64,
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


def exported_token(http) -> str:
    response = http.get("/account/export")
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_data(as_text=True)


def import_into(app_b, token: str, fetch, password: str = NEW_PASSWORD) -> User:
    store = store_of(app_b)
    try:
        user = portability.import_export(
            context_of(app_b, store), token, password=password, fetch_jwks=fetch
        )
        store.commit()
        return user
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
        return portability.sign_export(context_of(app, store), document)
    finally:
        store.close()


def payload_of(token: str) -> dict[str, Any]:
    return json.loads(unb64(token.split(".")[1]))


# -- export -----------------------------------------------------------------------------------


def test_discovery_names_the_export_endpoint(http):
    metadata = http.get("/.well-known/openid-configuration").get_json()
    assert metadata["consent_export_endpoint"] == ISSUER + "/account/export"


def test_export_needs_the_persons_session(app):
    response = app.test_client().get("/account/export")
    assert response.status_code == 303 and response.headers["Location"].startswith("/login")


def test_export_is_a_signed_valid_portable_profile(app, http, consented, user):
    response = http.get("/account/export")
    assert response.status_code == 200
    assert response.mimetype == "application/jwt"
    assert response.headers["Content-Disposition"].startswith("attachment;")
    token = response.get_data(as_text=True)
    header = jwt.get_unverified_header(token)
    assert header["typ"] == "portable-profile+json" and header["alg"] == "ES256"
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
        assert imported.profile == document["profile"]
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
        history = portability.imported_history(store, user.id)
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
        with pytest.raises(portability.ImportRefusedError) as refused:
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
    with pytest.raises(portability.ImportRefusedError) as refused:
        import_into(app_b, token, lambda issuer: jwks_of(app_b))
    assert refused.value.path == "header.kid"
    # B's keys under A's kid: the signature is what fails.
    kid = jwt.get_unverified_header(token)["kid"]
    impostor = {"keys": [{**k, "kid": kid} for k in jwks_of(app_b)["keys"] if k["kty"] == "EC"]}
    with pytest.raises(portability.ImportRefusedError) as refused:
        import_into(app_b, token, lambda issuer: impostor)
    assert refused.value.path == "signature"
    assert counts(app_b)["users"] == 0


def test_an_export_signed_by_another_provider_than_it_names_is_refused(app, http, consented, app_b):
    """B signs A's document: the keys fetched for the named issuer cannot verify it."""
    document = payload_of(exported_token(http))
    forged = resign(app_b, document)  # header iss is B, document says A
    with pytest.raises(portability.ImportRefusedError) as refused:
        import_into(app_b, forged, lambda issuer: jwks_of(app_b))
    assert refused.value.path == "$.exporter.issuer"
    assert counts(app_b)["users"] == 0


def test_unreachable_keys_are_refused_without_the_network_error(app, http, consented, app_b):
    token = exported_token(http)

    def down(issuer: str) -> dict[str, Any]:
        raise ConnectionError("connection refused by 10.0.0.7:8443")

    with pytest.raises(portability.ImportRefusedError) as refused:
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
    with pytest.raises(portability.ImportRefusedError) as refused:
        import_into(app_b, resign(app, document), keys_of_a(app))
    assert refused.value.path.startswith(path), str(refused.value)
    assert counts(app_b)["users"] == 0


def test_a_fault_found_while_creating_rolls_back_everything(app, http, consented, app_b):
    """Two personas with one name pass the schema but not this provider: nothing is kept."""
    document = payload_of(exported_token(http))
    document["personas"].append({"persona_id": "p2", "label": "work", "claims": {}})
    with pytest.raises(portability.ImportRefusedError) as refused:
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
    with pytest.raises(portability.ImportRefusedError) as refused:
        import_into(app, token, lambda issuer: jwks_of(app))
    assert refused.value.path == "$.profile.email"
    assert "already exists" in refused.value.message
    assert counts(app) == before


def test_a_short_password_is_refused(app, http, consented, app_b):
    with pytest.raises(portability.ImportRefusedError) as refused:
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
    for control in ("export_file", "export_text", "password", "password_again"):
        assert f'<label for="{control}"' in html and f'id="{control}"' in html
    assert 'name="csrf_token"' in html


def test_import_page_upload_then_sign_in(app, http, consented, app_b, a_served):
    token = exported_token(http)
    browser = app_b.test_client()
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
    assert "Your profile is here" in html and "Work" in html and "Alder Books" in html
    assert counts(app_b)["users"] == 1


def test_import_page_takes_an_export_larger_than_other_requests(
    app, http, consented, app_b, a_served
):
    """Exports outgrow MAX_REQUEST_BYTES (64 KiB by default); the import page allows more."""
    padded = exported_token(http) + "\n" * (2 * app_b.config["MAX_CONTENT_LENGTH"])
    browser = app_b.test_client()
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
    assert counts(app_b)["users"] == 1


def test_import_page_names_the_fault_and_keeps_nothing(app, http, consented, app_b, a_served):
    header, payload, signature = exported_token(http).split(".")
    document = json.loads(unb64(payload))
    document["profile"]["name"] = "Mallory"
    forged = f"{header}.{b64(json.dumps(document).encode())}.{signature}"
    browser = app_b.test_client()
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
    assert counts(app_b)["users"] == 0


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
