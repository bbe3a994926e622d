"""The person's consent over HTTP (consent_spec SPEC.md §4-§9, §13; DESIGN §4), on every backend.

A relying party asks for ``name``, ``email`` and a custom claim named by URI
through the OIDC ``claims`` parameter (Core §5.5); the person answers on the
consent page, changes their mind on the dashboard (HTML and JSON API), and
every step is checked where the relying party sees it (ID token, UserInfo,
introspection, refresh) and where the person sees it (ledger, receipts,
disclosure log). Expiry is produced by editing a row, never by waiting.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

import jwt
import pytest
from jsonschema import Draft202012Validator, FormatChecker
from sqlalchemy import select, text

import consent_spec
from idp.base.clock import now
from idp.consent.events import EXPIRED, NARROWED, WITHDRAWN
from idp.consent.ledger import verify_ledgers
from idp.protocol.clients import create_client
from idp.protocol.registration import prepare_metadata
from idp.storage.models import ConsentRecord, EventOutbox
from tests.conftest import (
    ISSUER,
    RegisteredClient,
    authorize,
    basic,
    callback_params,
    consent,
    context_of,
    csrf_from,
    exchange,
    interaction_from,
    login,
    offered_claims,
    preticked_claims,
    settle,
    store_of,
    token_request,
)

SHOE = "https://shop.example/claims/shoe-size"
# Where consent events are pushed: nothing listens, so deliveries stay queued in the outbox.
EVENTS = "http://127.0.0.1:9/events"
# name, email and a custom claim, in the ID token and at UserInfo (OIDC Core §5.5).
ASKED = {
    "id_token": {"name": None, "email": None},
    "userinfo": {"name": None, "email": None, SHOE: {"essential": False}},
}
COUNTED = ("consent_records", "grants", "authorization_codes", "event_outbox")


# -- fixtures and helpers -------------------------------------------------------------------


@pytest.fixture
def person(app, user):
    """Alice, with a custom claim in her profile."""
    store = store_of(app)
    row = store.get_user(user.id)
    row.profile = {**row.profile, SHOE: 43}
    store.commit()
    store.close()
    return user


def make_client(app, **metadata: Any) -> RegisteredClient:
    """Register a client the way the CLI does (metadata and its ``consent`` member validated)."""
    raw = {
        "client_name": "Shoe Shop",
        "redirect_uris": ["https://shop.example/cb"],
        "grant_types": ["authorization_code", "refresh_token"],
        "consent_event_endpoint": EVENTS,
        **metadata,
    }
    raw = {k: v for k, v in raw.items() if v is not None}
    store = store_of(app)
    try:
        ctx = context_of(app, store)
        client, secret, _ = create_client(ctx, prepare_metadata(ctx, raw))
        store.commit()
        return RegisteredClient(client.client_id, secret, raw["redirect_uris"][0], client.metadata_)
    finally:
        store.close()


@pytest.fixture
def shop(app):
    """A confidential RP with a consent-event endpoint."""
    return make_client(app)


def _goes_to(response, path: str) -> bool:
    return response.status_code == 303 and response.headers["Location"].startswith(path)


def sign_in(http, client, *, untick=(), decision="approve", claims=ASKED, **params: str):
    """Authorize with the claims parameter; log in and answer the consent page when shown."""
    params.setdefault("scope", "openid offline_access")
    response = authorize(http, client, claims=json.dumps(claims), **params)
    if _goes_to(response, "/login"):
        response = login(http, response)
    if _goes_to(response, "/consent"):
        response = consent(http, response, decision, untick)
    return response


def tokens_for(http, client, **kwargs: Any) -> dict[str, Any]:
    """A whole code flow; the token response."""
    response = sign_in(http, client, **kwargs)
    assert response.status_code == 302, response.get_data(as_text=True)
    params = callback_params(response.headers["Location"])
    assert "code" in params, params
    answer = exchange(http, client, params["code"])
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()


def jwks(http) -> dict[str, Any]:
    return http.get("/jwks.json").get_json()


def verify_jwt(http, token: str, *, typ: str, audience: str) -> dict[str, Any]:
    """Check a JWT's header type and signature against the provider's JWKS."""
    header = jwt.get_unverified_header(token)
    assert header["typ"] == typ
    key = next(k for k in jwks(http)["keys"] if k["kid"] == header["kid"])
    return jwt.decode(
        token, jwt.PyJWK(key), algorithms=[header["alg"]], audience=audience, issuer=ISSUER
    )


def userinfo(http, access_token: str):
    return http.get("/userinfo", headers={"Authorization": f"Bearer {access_token}"})


def refresh(http, client, refresh_token: str):
    return token_request(http, client, grant_type="refresh_token", refresh_token=refresh_token)


def introspect(http, client, token: str) -> dict[str, Any]:
    response = http.post("/introspect", data={"token": token}, headers=basic(client))
    assert response.status_code == 200
    return response.get_json()


def counts(app) -> dict[str, int]:
    """Rows in the tables a consent decision writes to."""
    with app.extensions["porta"]["engine"].connect() as conn:
        return {t: conn.execute(text(f"SELECT COUNT(*) FROM {t}")).scalar_one() for t in COUNTED}


def records(app, client_id: str | None = None) -> list[ConsentRecord]:
    """Every ledger row (or one RP's), in ledger order."""
    store = store_of(app)
    try:
        query = select(ConsentRecord).order_by(ConsentRecord.user_id, ConsentRecord.sequence)
        if client_id is not None:
            query = query.where(ConsentRecord.client_id == client_id)
        rows = list(store.session.scalars(query))
        store.session.expunge_all()
        return rows
    finally:
        store.close()


def outbox(app, client_id: str, event_type: str) -> list[str]:
    """The SETs queued for a client, of one event type."""
    store = store_of(app)
    try:
        return list(
            store.session.scalars(
                select(EventOutbox.token).where(
                    EventOutbox.client_id == client_id, EventOutbox.event_type == event_type
                )
            )
        )
    finally:
        store.close()


def dashboard_change(http, client_id: str, action: str, keep: list[str] | None = None):
    """Submit the relationship page's narrow or withdraw form, as the person would."""
    page = http.get(f"/account/relationships/{client_id}")
    assert page.status_code == 200
    form: dict[str, Any] = {"csrf_token": csrf_from(page.get_data(as_text=True))}
    if keep is not None:
        form["keep"] = keep
    return http.post(f"/account/relationships/{client_id}/{action}", data=form)


def check_event(http, token: str, client: RegisteredClient, event_type: str) -> dict[str, Any]:
    """A consent event: typ secevent+jwt, signed by the provider, valid consent-event (§13)."""
    claims = verify_jwt(http, token, typ="secevent+jwt", audience=client.client_id)
    assert consent_spec.validate(claims, "consent-event") == []
    assert list(claims["events"]) == [event_type]
    return claims["events"][event_type]


# -- what the RP receives -------------------------------------------------------------------


def test_unticked_claim_is_in_no_token_userinfo_or_introspection(app, http, person, shop):
    """SPEC §5: a refused claim is never released — not in the ID token, not at UserInfo, not
    by introspection, not after a refresh; the custom URI claim and name are."""
    tokens = tokens_for(http, shop, untick=("email",))
    id_token = verify_jwt(http, tokens["id_token"], typ="JWT", audience=shop.client_id)
    assert id_token["name"] == "Alice Example"
    assert "email" not in id_token and SHOE not in id_token  # SHOE was asked for UserInfo only
    body = userinfo(http, tokens["access_token"]).get_json()
    assert body == {"sub": id_token["sub"], "name": "Alice Example", SHOE: 43}
    assert "email" not in json.dumps(introspect(http, shop, tokens["access_token"]))
    again = refresh(http, shop, tokens["refresh_token"]).get_json()
    renewed = verify_jwt(http, again["id_token"], typ="JWT", audience=shop.client_id)
    assert "email" not in renewed and renewed["name"] == "Alice Example"
    assert "email" not in userinfo(http, again["access_token"]).get_json()


def test_disclosure_log_names_each_channel_and_the_claims_sent(app, http, person, shop):
    """DESIGN §4: each release is logged with its channel and exactly the claims sent."""
    tokens = tokens_for(http, shop, untick=("email",))
    userinfo(http, tokens["access_token"])
    introspect(http, shop, tokens["access_token"])
    store = store_of(app)
    try:
        log = [(d.channel, sorted(d.claims)) for d in store.disclosures(person.id, shop.client_id)]
    finally:
        store.close()
    assert log == [  # newest first
        ("introspection", ["sub"]),
        ("userinfo", sorted(["sub", "name", SHOE])),
        ("id_token", ["name", "sub"]),
    ]


def test_receipt_in_token_response_verifies_against_jwks_and_validates(app, http, person, shop):
    """SPEC §7.3: the receipt returned with the tokens verifies against /jwks.json, names the
    RP in aud, carries the ledger record exactly, and that record says email was refused."""
    tokens = tokens_for(http, shop, untick=("email",))
    receipt = tokens["consent_receipt"]
    claims = consent_spec.verify_receipt(
        receipt, jwks(http), issuer=ISSUER, audience=shop.client_id
    )
    assert jwt.get_unverified_header(receipt)["typ"] == consent_spec.RECEIPT_TYP
    record = claims["consent_record"]
    assert consent_spec.validate(claims, "consent-receipt") == []
    assert consent_spec.validate(record, "consent-record") == []
    assert record["state"] == "given" and record["collection_method"] == "consent-screen"
    assert sorted(record["granted"]) == sorted(["name", SHOE]) and record["refused"] == ["email"]
    assert sorted(record["request"]["claims"]) == sorted(["name", "email", SHOE])
    id_token = jwt.decode(tokens["id_token"], options={"verify_signature": False})
    assert claims["sub"] == record["subject"] == id_token["sub"]
    (row,) = records(app, shop.client_id)
    assert row.document == record and row.receipt == receipt
    assert (
        claims["record_hash"]
        == row.entry_hash
        == consent_spec.chain_hash(record, record["previous_hash"])
    )


def test_essential_claim_withheld_is_access_denied_and_recorded_as_refused(app, http, person, shop):
    """SPEC §5.2 rule 5: withholding an essential claim is a refusal of the whole request; the
    RP gets access_denied (OIDC Core §3.1.2.6) and the refusal is in the ledger."""
    asked = {"userinfo": {"name": None, "email": {"essential": True}}}
    before = counts(app)
    response = sign_in(http, shop, claims=asked, untick=("email",))
    assert response.status_code == 302
    assert callback_params(response.headers["Location"])["error"] == "access_denied"
    (row,) = records(app, shop.client_id)
    assert row.state == "refused" and row.document["granted"] == {}
    assert sorted(row.document["refused"]) == ["email", "name"]
    assert row.document["request"]["claims"]["email"]["essential"] is True
    assert consent_spec.validate(row.document, "consent-record") == []
    after = counts(app)
    assert after["consent_records"] == before["consent_records"] + 1
    assert (
        after["grants"] == before["grants"]
        and after["authorization_codes"] == before["authorization_codes"]
    )


def test_deny_is_access_denied_and_recorded_as_refused(app, http, person, shop):
    """SPEC §5: pressing deny is recorded as a `refused` record; no code is issued."""
    response = sign_in(http, shop, decision="deny")
    assert callback_params(response.headers["Location"])["error"] == "access_denied"
    (row,) = records(app, shop.client_id)
    assert row.state == "refused" and row.document["granted"] == {}
    assert sorted(row.document["refused"]) == sorted(["name", "email", SHOE])
    assert counts(app)["grants"] == 0
    # Asked again, the person may reconsider: refused -> given (SPEC §6.2).
    tokens_for(http, shop, prompt="consent")
    assert [r.state for r in records(app, shop.client_id)] == ["refused", "given"]
    assert consent_spec.verify_chain([r.document for r in records(app)]) == []


def test_remembered_consent_skips_the_page_and_prompt_consent_renews(app, http, person, shop):
    """An active record covering every asked claim is remembered; prompt=consent asks again
    (OIDC Core §3.1.2.1) and the answer is a `renewed` record replacing the first (SPEC §6.2)."""
    tokens_for(http, shop, untick=("email",))
    response = authorize(http, shop, scope="openid offline_access", claims=json.dumps(ASKED))
    assert response.status_code == 302 and "code" in callback_params(response.headers["Location"])
    code = callback_params(response.headers["Location"])["code"]
    body = exchange(http, shop, code).get_json()
    assert "email" not in userinfo(http, body["access_token"]).get_json()
    asked_again = authorize(
        http, shop, scope="openid offline_access", claims=json.dumps(ASKED), prompt="consent"
    )
    assert _goes_to(asked_again, "/consent")
    page = http.get(asked_again.headers["Location"]).get_data(as_text=True)
    assert sorted(offered_claims(page)) == sorted(["name", "email", SHOE])
    consent(http, asked_again)
    first, second = records(app, shop.client_id)
    assert (first.state, second.state) == ("given", "renewed")
    assert second.document["replaces"] == first.record_id
    assert consent_spec.verify_chain([r.document for r in records(app)]) == []


def test_renewal_with_fewer_claims_stops_releasing_the_dropped_one(app, http, person, shop):
    """SPEC §9: claims no longer consented are no longer released, also to tokens issued
    before the person renewed with a smaller choice."""
    old = tokens_for(http, shop)
    assert SHOE in userinfo(http, old["access_token"]).get_json()
    tokens_for(http, shop, prompt="consent", untick=(SHOE,))
    assert [r.state for r in records(app, shop.client_id)] == ["given", "renewed"]
    body = userinfo(http, old["access_token"]).get_json()
    assert SHOE not in body and body["email"] == "alice@example.org"
    given, renewed = records(app, shop.client_id)
    (token,) = outbox(app, shop.client_id, NARROWED)
    event = check_event(http, token, shop, NARROWED)
    assert event["removed_claims"] == [SHOE]
    assert (event["record_id"], event["new_record_id"]) == (given.record_id, renewed.record_id)


def test_refusing_a_renewal_supersedes_and_stops_the_old_tokens(app, http, person, shop):
    """SPEC §6: a refusal after an active consent supersedes it; a superseded consent releases
    nothing, so the tokens issued under it stop working."""
    old = tokens_for(http, shop)
    response = sign_in(http, shop, prompt="consent", decision="deny")
    assert callback_params(response.headers["Location"])["error"] == "access_denied"
    assert [r.state for r in records(app, shop.client_id)] == ["given", "superseded", "refused"]
    assert consent_spec.verify_chain([r.document for r in records(app)]) == []
    assert userinfo(http, old["access_token"]).status_code == 401
    assert refresh(http, shop, old["refresh_token"]).get_json()["error"] == "invalid_grant"


# -- the person changes their mind ----------------------------------------------------------


def test_narrowing_on_the_dashboard_removes_exactly_that_claim_at_once(app, http, person, shop):
    """SPEC §9 narrow: UserInfo stops returning the removed claim for the RP's existing token,
    the rest keeps flowing, refresh still works, and a consent-narrowed SET is queued."""
    tokens = tokens_for(http, shop)
    assert userinfo(http, tokens["access_token"]).get_json()["email"] == "alice@example.org"
    response = dashboard_change(http, shop.client_id, "narrow", keep=["name", SHOE])
    assert response.status_code == 303
    settle(app)
    body = userinfo(http, tokens["access_token"]).get_json()
    assert "email" not in body and body["name"] == "Alice Example" and body[SHOE] == 43
    again = refresh(http, shop, tokens["refresh_token"])
    assert again.status_code == 200
    id_token = verify_jwt(http, again.get_json()["id_token"], typ="JWT", audience=shop.client_id)
    assert "email" not in id_token and id_token["name"] == "Alice Example"
    given, narrowed = records(app, shop.client_id)
    receipt = consent_spec.verify_receipt(
        again.get_json()["consent_receipt"], jwks(http), issuer=ISSUER, audience=shop.client_id
    )
    assert receipt["consent_record"]["record_id"] == narrowed.record_id
    assert narrowed.state == "narrowed" and narrowed.document["replaces"] == given.record_id
    assert sorted(narrowed.document["granted"]) == sorted(["name", SHOE])
    assert narrowed.document["refused"] == ["email"] and narrowed.document["withdrawal_id"]
    (token,) = outbox(app, shop.client_id, NARROWED)
    event = check_event(http, token, shop, NARROWED)
    assert event["removed_claims"] == ["email"]
    assert (event["record_id"], event["new_record_id"]) == (given.record_id, narrowed.record_id)


def test_withdrawal_revokes_tokens_and_queues_a_signed_set(app, http, person, shop):
    """SPEC §9, §13: withdrawal revokes access and refresh tokens at once and queues a
    consent-withdrawn SET (RFC 8417, typ secevent+jwt) valid against consent-event."""
    tokens = tokens_for(http, shop, untick=("email",))
    sub = jwt.decode(tokens["id_token"], options={"verify_signature": False})["sub"]
    before = counts(app)
    forged = http.post(f"/account/relationships/{shop.client_id}/withdraw", data={})
    assert forged.status_code == 400 and forged.mimetype == "text/html"
    assert counts(app) == before and userinfo(http, tokens["access_token"]).status_code == 200
    response = dashboard_change(http, shop.client_id, "withdraw")
    assert response.status_code == 303
    assert userinfo(http, tokens["access_token"]).status_code == 401
    assert refresh(http, shop, tokens["refresh_token"]).get_json()["error"] == "invalid_grant"
    assert introspect(http, shop, tokens["access_token"]) == {"active": False}
    assert introspect(http, shop, tokens["refresh_token"]) == {"active": False}
    settle(app)
    given, withdrawn = records(app, shop.client_id)
    assert withdrawn.state == "withdrawn" and withdrawn.document["granted"] == {}
    (token,) = outbox(app, shop.client_id, WITHDRAWN)
    claims = verify_jwt(http, token, typ="secevent+jwt", audience=shop.client_id)
    assert claims["sub"] == sub
    event = check_event(http, token, shop, WITHDRAWN)
    assert sorted(event["claims"]) == sorted(["name", SHOE])
    assert (event["record_id"], event["new_record_id"]) == (given.record_id, withdrawn.record_id)
    # The remembered approval is gone: the next authorization asks again.
    silent = authorize(
        http, shop, scope="openid offline_access", claims=json.dumps(ASKED), prompt="none"
    )
    assert callback_params(silent.headers["Location"])["error"] == "consent_required"


def test_ledger_chain_is_intact_after_given_narrowed_withdrawn(app, http, person, shop):
    """SPEC §8: sequence, hash links and lineage verify over given -> narrowed -> withdrawn,
    and every row's receipt verifies and names its own entry hash."""
    tokens_for(http, shop)
    assert dashboard_change(http, shop.client_id, "narrow", keep=["name"]).status_code == 303
    assert dashboard_change(http, shop.client_id, "withdraw").status_code == 303
    settle(app)
    rows = records(app)
    assert [r.state for r in rows] == ["given", "narrowed", "withdrawn"]
    assert [r.sequence for r in rows] == [0, 1, 2]
    assert rows[1].document["replaces"] == rows[0].record_id
    assert rows[2].document["replaces"] == rows[1].record_id
    assert consent_spec.verify_chain([r.document for r in rows]) == []
    for row in rows:
        claims = consent_spec.verify_receipt(
            row.receipt, jwks(http), issuer=ISSUER, audience=shop.client_id
        )
        assert claims["record_hash"] == row.entry_hash
    store = store_of(app)
    try:
        assert verify_ledgers(store) == (3, [])
    finally:
        store.close()


@pytest.mark.parametrize(
    "terms",
    [
        {"claims": {"name": {"retention": {"duration": "P30D", "from": "collection"}}}},
        None,  # no expiry of its own: the operator sets one on the row
    ],
    ids=["retention-from-collection", "expiry-set-by-operator"],
)
def test_expired_consent_asks_again_and_the_old_tokens_are_dead(app, http, person, terms):
    """SPEC §6: a consent past its expires_at lapses (an `expired` record, a consent-expired
    SET); the next authorization shows the consent page and the old tokens no longer work."""
    shop = make_client(app, consent=terms)
    tokens = tokens_for(http, shop)
    (given,) = records(app, shop.client_id)
    assert (given.expires_at is not None) == ("expires_at" in given.document) == bool(terms)
    lapsed = (now() - timedelta(minutes=1)).replace(microsecond=0)
    store = store_of(app)
    store.get_consent_record(given.record_id).expires_at = lapsed
    store.commit()
    store.close()
    response = authorize(http, shop, scope="openid offline_access", claims=json.dumps(ASKED))
    assert _goes_to(response, "/consent")
    assert userinfo(http, tokens["access_token"]).status_code == 401
    assert refresh(http, shop, tokens["refresh_token"]).get_json()["error"] == "invalid_grant"
    assert [r.state for r in records(app, shop.client_id)] == ["given", "expired"]
    (token,) = outbox(app, shop.client_id, EXPIRED)
    event = check_event(http, token, shop, EXPIRED)
    assert event["expired_at"] == lapsed.strftime("%Y-%m-%dT%H:%M:%SZ")
    consent(http, response)
    assert [r.state for r in records(app, shop.client_id)] == ["given", "expired", "given"]
    assert consent_spec.verify_chain([r.document for r in records(app)]) == []


# -- registration of the RP's consent terms -------------------------------------------------


BAD_CONSENT_TERMS = [
    ({"claims": {"email": {"purposes": ["selling-your-data"]}}}, "consent.claims.email.purposes"),
    ({"claims": {"email": {"purposes": "marketing"}}}, "consent.claims.email.purposes"),
    ({"claims": {"email": {"purposes": []}}}, "consent.claims.email.purposes"),
    ({"claims": {"email": {"essential": "yes"}}}, "consent.claims.email.essential"),
    ({"claims": {"email": {"retention": "P1Y"}}}, "consent.claims.email.retention"),
    ({"claims": {"email": {"third_party_disclosure": True}}}, "consent.claims.email"),
    ({"claims": {"email": {"sensitivity": "low"}}}, "consent.claims.email: unknown member"),
    ({"claims": {"email": "marketing"}}, "consent.claims.email"),
    ({"claims": {"email": None}}, "consent.claims.email"),
    ({"claims": {"Email": {}}}, "consent.claims"),
    ({"legal_basis": "whim"}, "consent.legal_basis"),
]


def test_registration_refuses_invalid_consent_terms_naming_the_field(http):
    """SPEC §4.1, §4.2: an unknown purpose, a wrongly typed or unknown member of the RP's
    consent terms is invalid_client_metadata (RFC 7591 §3.2.2) naming the field — never a
    default put in its place, never a server error."""
    for terms, field in BAD_CONSENT_TERMS:
        document = {
            "client_name": "Shoe Shop",
            "redirect_uris": ["https://shop.example/cb"],
            "consent": terms,
        }
        response = http.post("/register", json=document)
        assert response.status_code == 400, (terms, response.get_json())
        body = response.get_json()
        assert body["error"] == "invalid_client_metadata", terms
        assert body["error_description"].startswith(field), (terms, body)


def test_registered_purposes_are_shown_on_the_consent_page(app, http, person):
    """SPEC §4.1, §4.3: the consent page shows the RP's registered purposes and declarations."""
    document = {
        "client_name": "Shoe Shop",
        "redirect_uris": ["https://shop.example/cb"],
        "grant_types": ["authorization_code"],
        "consent": {
            "claims": {"email": {"purposes": ["marketing", "delivery-of-goods"]}},
            "jurisdiction": "DE",
            "contact": {"name": "Shop Privacy Desk", "email": "privacy@shop.example"},
        },
    }
    response = http.post("/register", json=document)
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    client = RegisteredClient(
        body["client_id"], body["client_secret"], "https://shop.example/cb", body
    )
    response = login(http, authorize(http, client, scope="openid email"))
    assert _goes_to(response, "/consent")
    page = http.get(response.headers["Location"]).get_data(as_text=True)
    assert "Used for marketing, to deliver goods" in page
    assert "DE" in page and "Shop Privacy Desk" in page


# -- forged and replayed consent posts ------------------------------------------------------


def _consent_form(http, client) -> tuple[dict[str, Any], str]:
    """Start an authorization as the logged-in person; the consent form as shown, and its page."""
    response = authorize(http, client, scope="openid offline_access", claims=json.dumps(ASKED))
    if _goes_to(response, "/login"):
        response = login(http, response)
    assert _goes_to(response, "/consent")
    page = http.get(response.headers["Location"]).get_data(as_text=True)
    form = {
        "csrf_token": csrf_from(page),
        "interaction": interaction_from(response.headers["Location"]),
        "decision": "approve",
        "claim": offered_claims(page),
    }
    return form, page


def test_consent_post_with_a_wrong_csrf_token_changes_nothing(app, http, person, shop):
    """DESIGN §9: every form carries a CSRF token; a forged post is refused, nothing recorded."""
    form, _ = _consent_form(http, shop)
    before = counts(app)
    response = http.post(
        "/consent", data={**form, "csrf_token": "forged." + form["csrf_token"][7:]}
    )
    assert response.status_code == 400
    response = http.post("/consent", data={k: v for k, v in form.items() if k != "csrf_token"})
    assert response.status_code == 400
    assert counts(app) == before


def test_consent_post_for_a_claim_never_asked_for_changes_nothing(app, http, person, shop):
    """SPEC §5.2 rule 1: granted claims are members of the request; a post adding another
    claim is refused, nothing is recorded, and the genuine answer still goes through."""
    form, _ = _consent_form(http, shop)
    before = counts(app)
    for extra in ("phone_number", "https://shop.example/claims/hat-size"):
        response = http.post("/consent", data={**form, "claim": [*form["claim"], extra]})
        assert response.status_code == 400 and extra in response.get_data(as_text=True)
        assert counts(app) == before
    response = http.post("/consent", data=form)
    assert response.status_code == 302 and "code" in callback_params(response.headers["Location"])
    assert counts(app)["consent_records"] == before["consent_records"] + 1


def test_replayed_consent_post_changes_nothing(app, http, person, shop):
    """A consent form is answered once: the replay is refused and adds no record, grant or
    code, whatever it now says."""
    form, _ = _consent_form(http, shop)
    assert http.post("/consent", data=form).status_code == 302
    after_first = counts(app)
    for replay in (form, {**form, "decision": "deny"}):
        assert http.post("/consent", data=replay).status_code == 400
    assert counts(app) == after_first
    assert [r.state for r in records(app)] == ["given"]


def test_another_persons_consent_cannot_be_answered_or_changed(app, http, person, shop):
    """Bob's browser cannot answer Alice's pending consent (the interaction is bound to her
    browser), nor narrow, withdraw or read her consent through his own dashboard."""
    from idp.profile.accounts import create_user
    from tests.conftest import PASSWORD

    store = store_of(app)
    create_user(store, "bob@example.org", PASSWORD, "Bob Example")
    store.commit()
    store.close()
    alice_form, _ = _consent_form(http, shop)
    bob = app.test_client()
    response = authorize(bob, shop, scope="openid offline_access", claims=json.dumps(ASKED))
    response = login(bob, response, email="bob@example.org")
    bob_page = bob.get(response.headers["Location"]).get_data(as_text=True)
    before = counts(app)
    forged = {**alice_form, "csrf_token": csrf_from(bob_page)}
    assert bob.post("/consent", data=forged).status_code == 400
    assert counts(app) == before
    assert http.post("/consent", data=alice_form).status_code == 302  # still hers to answer
    (alice_record,) = records(app)
    before = counts(app)
    csrf = csrf_from(bob_page)  # one token per session: valid on every form of Bob's
    for action, form in (("narrow", {"keep": ["name"]}), ("withdraw", {})):
        response = bob.post(
            f"/account/relationships/{shop.client_id}/{action}", data={"csrf_token": csrf, **form}
        )
        assert response.status_code in (400, 404)
    assert bob.get(f"/account/receipts/{alice_record.record_id}").status_code == 404
    assert bob.get(f"/account/api/receipts/{alice_record.record_id}").status_code == 404
    assert counts(app) == before


# -- the dashboard JSON API and its OpenAPI description -------------------------------------


class OpenAPI:
    """Checks JSON API responses against the schemas of /account/api/openapi.json."""

    def __init__(self, document: dict[str, Any]) -> None:
        assert document["openapi"].startswith("3.1")
        self.document = document

    def check(self, template: str, method: str, response) -> Any:
        assert response.mimetype == "application/json", (template, response.status_code)
        operation = self.document["paths"][template][method]
        spec = operation["responses"].get(str(response.status_code))
        assert spec is not None, (
            f"{method.upper()} {template} answered undocumented {response.status_code}"
        )
        schema = spec["content"]["application/json"]["schema"]
        validator = Draft202012Validator(
            {"components": self.document["components"], **schema}, format_checker=FormatChecker()
        )
        body = response.get_json()
        errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(body)]
        assert errors == [], (template, errors)
        return body


def test_dashboard_api_matches_its_openapi_document(app, http, person, shop):
    """The JSON API: one relationship with disclosures and receipts; narrow and withdraw need
    the X-CSRFToken header from /account/api/session; every answer matches its schema."""
    api = OpenAPI(http.get("/account/api/openapi.json").get_json())
    rel = "/account/api/relationships/{client_id}"
    anonymous = api.check(
        "/account/api/session", "get", app.test_client().get("/account/api/session")
    )
    assert anonymous["error"] == "login_required"
    tokens = tokens_for(http, shop, untick=("email",))
    userinfo(http, tokens["access_token"])
    session = api.check("/account/api/session", "get", http.get("/account/api/session"))
    assert session["email"] == "alice@example.org"
    listing = api.check("/account/api/relationships", "get", http.get("/account/api/relationships"))
    (one,) = listing["relationships"]
    assert one["client_id"] == shop.client_id and one["state"] == "given" and one["active"]
    assert sorted(s["claim"] for s in one["shared"]) == sorted(["name", SHOE])
    assert one["refused"] == ["email"]
    path = f"/account/api/relationships/{shop.client_id}"
    detail = api.check(rel, "get", http.get(path))
    assert [d["channel"] for d in detail["disclosures"]] == ["userinfo", "id_token"]
    assert all("email" not in d["claims"] for d in detail["disclosures"])
    (receipt_ref,) = detail["receipts"]
    receipt = api.check(
        "/account/api/receipts/{record_id}",
        "get",
        http.get(f"/account/api/receipts/{receipt_ref['record_id']}"),
    )
    claims = consent_spec.verify_receipt(receipt["receipt"], jwks(http), issuer=ISSUER)
    assert claims["consent_record"] == receipt["record"]
    missing = api.check(rel, "get", http.get("/account/api/relationships/no-such-client"))
    assert missing["error"] == "not_found"

    before = counts(app)
    no_csrf = http.post(path + "/narrow", json={"claims": [SHOE]})
    assert no_csrf.status_code in (400, 403)
    api.check(rel + "/narrow", "post", no_csrf)
    assert counts(app) == before
    headers = {"X-CSRFToken": session["csrf_token"]}
    bad = api.check(
        rel + "/narrow",
        "post",
        http.post(path + "/narrow", json={"claims": "all"}, headers=headers),
    )
    assert bad["error"] == "invalid_request" and counts(app) == before
    not_shared = api.check(
        rel + "/narrow",
        "post",
        http.post(path + "/narrow", json={"claims": ["email"]}, headers=headers),
    )
    assert "email" in not_shared["error_description"] and counts(app) == before
    narrowed = api.check(
        rel + "/narrow",
        "post",
        http.post(path + "/narrow", json={"claims": [SHOE]}, headers=headers),
    )
    assert narrowed["state"] == "narrowed" and [s["claim"] for s in narrowed["shared"]] == ["name"]
    assert SHOE not in userinfo(http, tokens["access_token"]).get_json()
    withdrawn = api.check(rel + "/withdraw", "post", http.post(path + "/withdraw", headers=headers))
    assert (
        withdrawn["state"] == "withdrawn" and not withdrawn["active"] and withdrawn["shared"] == []
    )
    settle(app)
    assert userinfo(http, tokens["access_token"]).status_code == 401
    again = api.check(rel + "/withdraw", "post", http.post(path + "/withdraw", headers=headers))
    assert again["error"] == "invalid_request"
    final = api.check(rel, "get", http.get(path))
    assert [d["event_type"] for d in final["deliveries"]] == [WITHDRAWN, NARROWED]
    assert [r["state"] for r in final["receipts"]] == ["withdrawn", "narrowed", "given"]


# -- the RP fetches its receipts ------------------------------------------------------------


def test_rp_fetches_its_own_receipts_with_client_authentication(app, http, person, shop):
    """consent_spec §7: POST /consent/receipts, client-authenticated (RFC 7662 §2.1 style),
    answers the RP's own receipts only, each verifying with the RP as audience."""
    tokens = tokens_for(http, shop, untick=("email",))
    sub = jwt.decode(tokens["id_token"], options={"verify_signature": False})["sub"]
    response = http.post("/consent/receipts", headers=basic(shop))
    assert response.status_code == 200
    (receipt,) = response.get_json()["receipts"]
    assert receipt == tokens["consent_receipt"]
    claims = consent_spec.verify_receipt(
        receipt, jwks(http), issuer=ISSUER, audience=shop.client_id
    )
    assert claims["sub"] == sub and claims["consent_record"]["refused"] == ["email"]
    mine = http.post("/consent/receipts", data={"sub": sub}, headers=basic(shop)).get_json()
    assert mine["receipts"] == [receipt]
    assert http.post(
        "/consent/receipts", data={"sub": "someone-else"}, headers=basic(shop)
    ).get_json() == {"receipts": []}
    anonymous = http.post("/consent/receipts")
    assert anonymous.status_code == 401 and anonymous.get_json()["error"] == "invalid_client"
    wrong = http.post(
        "/consent/receipts",
        headers=basic(RegisteredClient(shop.client_id, "not-the-secret", "", {})),
    )
    assert wrong.status_code == 401
    other = make_client(app, client_name="Other RP", redirect_uris=["https://other.example/cb"])
    assert http.post("/consent/receipts", headers=basic(other)).get_json() == {"receipts": []}


# -- true status: banners come from what happened, never from the URL ----------------------------


def _banners(http, client_id: str, query: str = "") -> list[str]:
    html = http.get(f"/account/relationships/{client_id}{query}").get_data(as_text=True)
    return re.findall(r'<p class="done" role="status">([^<]*)</p>', html)


def test_a_banner_says_the_site_was_told_only_when_a_notice_was_queued(app, http, person, shop):
    """DESIGN §4 honesty rules: the site with an event endpoint is said to get a notice; one
    without is said not to have been told; no banner text is ever taken from ``?done=``."""
    tokens_for(http, shop)
    assert _banners(http, shop.client_id, "?done=withdrawn.%20The%20site%20has%20been%20told") == []
    response = dashboard_change(http, shop.client_id, "narrow", keep=["name", SHOE])
    assert "done=" not in response.headers["Location"]
    (banner,) = _banners(http, shop.client_id)
    assert "Stopped sharing Email address" in banner and "a notice to the site is queued" in banner
    assert len(outbox(app, shop.client_id, NARROWED)) == 1
    assert _banners(http, shop.client_id) == []  # shown once

    quiet = make_client(app, client_name="Quiet Cafe", consent_event_endpoint=None)
    tokens_for(http, quiet)
    dashboard_change(http, quiet.client_id, "withdraw")
    (banner,) = _banners(http, quiet.client_id)
    assert banner.startswith("Consent withdrawn") and "so it was not told" in banner
    assert "has been told" not in banner


def test_the_granted_scope_drops_what_the_person_refused_whole(app, http, person, shop):
    """RFC 6749 §3.3, DESIGN §4: unticking every claim of ``email`` removes ``email`` from the
    scope the site is told in the token response, the access token and introspection."""
    response = sign_in(
        http,
        shop,
        scope="openid profile email offline_access",
        claims={},
        untick=("email", "email_verified"),
    )
    code = callback_params(response.headers["Location"])["code"]
    body = exchange(http, shop, code).get_json()
    assert body["scope"].split() == ["openid", "profile", "offline_access"]
    access = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert access["scope"].split() == ["openid", "profile", "offline_access"]
    introspected = http.post(
        "/introspect", data={"token": body["access_token"]}, headers=basic(shop)
    ).get_json()
    assert introspected["active"] and "email" not in introspected["scope"].split()
    refreshed = refresh(http, shop, body["refresh_token"]).get_json()
    assert "email" not in refreshed["scope"].split()


# -- freely given: nothing optional pre-ticked, required-only in one click, last choices kept ---


def _consent_page(http, client, **params: str) -> tuple[str, str]:
    """(location, html) of the consent page for a fresh request (prompt=consent)."""
    response = authorize(
        http, client, claims=json.dumps(params.pop("asked", ASKED)), prompt="consent", **params
    )
    if _goes_to(response, "/login"):
        response = login(http, response)
    assert _goes_to(response, "/consent"), response.headers.get("Location")
    location = response.headers["Location"]
    return location, http.get(location).get_data(as_text=True)


def _answer(http, location: str, html: str, **form: Any):
    data = {"csrf_token": csrf_from(html), "interaction": interaction_from(location), **form}
    return http.post("/consent", data=data)


def test_nothing_optional_is_ticked_and_empty_claims_cannot_be_shared(app, http, person, shop):
    """GDPR Art. 7 / EDPB 05/2020 (Planet49): no pre-ticked boxes. A claim the person has no
    value for is shown but cannot be ticked, so it is never 'shared' on the dashboard."""
    asked = {"userinfo": {"name": None, "email": None, "nickname": None, SHOE: None}}
    _location, html = _consent_page(http, shop, asked=asked, scope="openid offline_access")
    assert preticked_claims(html) == []
    assert set(offered_claims(html)) == {"name", "email", SHOE}  # no nickname in the profile
    assert re.search(r'value="nickname" disabled', html)
    assert 'id="offline_access" name="offline_access" value="yes">' in html  # a choice, unticked


def test_share_only_whats_required_grants_the_essential_claims_alone(app, http, person, shop):
    asked = {"userinfo": {"name": None, "email": {"essential": True}, SHOE: None}}
    location, html = _consent_page(http, shop, asked=asked)
    assert preticked_claims(html) == ["email"]  # required, and marked so
    assert "cannot be used" in html
    response = _answer(http, location, html, decision="required", claim=["name", SHOE])
    assert response.status_code == 302
    (record,) = records(app, shop.client_id)
    assert record.state == "given" and list(record.document["granted"]) == ["email"]
    assert sorted(record.document["refused"]) == sorted(["name", SHOE])


def test_keep_me_signed_in_is_a_choice_of_its_own(app, http, person, shop):
    """offline_access unticked: no refresh token and no offline_access in the grant."""
    location, html = _consent_page(http, shop, scope="openid offline_access")
    response = _answer(http, location, html, decision="approve", claim=["name"])
    body = exchange(http, shop, callback_params(response.headers["Location"])["code"]).get_json()
    assert "refresh_token" not in body and "offline_access" not in body["scope"].split()
    location, html = _consent_page(http, shop, scope="openid offline_access")
    response = _answer(
        http, location, html, decision="approve", claim=["name"], offline_access="yes"
    )
    body = exchange(http, shop, callback_params(response.headers["Location"])["code"]).get_json()
    assert body["refresh_token"] and "offline_access" in body["scope"].split()


def test_a_second_request_starts_from_the_last_choice(app, http, person, shop):
    location, html = _consent_page(http, shop)
    _answer(http, location, html, decision="approve", claim=["name"])
    _location, again = _consent_page(http, shop)
    assert preticked_claims(again) == ["name"]  # what was shared before, not everything
    dashboard_change(http, shop.client_id, "withdraw")
    _location, after = _consent_page(http, shop)
    assert preticked_claims(after) == ["name"]  # earlier choices are not forgotten


def test_profile_last_updated_reads_as_a_date_not_a_unix_time(app, http, person, shop):
    asked = {"userinfo": {"name": None, "updated_at": None}}
    _location, html = _consent_page(http, shop, asked=asked)
    row = re.search(r'value="updated_at".*?<span class="claim-value">([^<]*)</span>', html, re.S)
    assert row and "UTC" in row.group(1) and not row.group(1).strip().isdigit()


def test_allowing_with_nothing_ticked_signs_in_and_shares_nothing(app, http, person, shop):
    """'Allow what I ticked' with nothing ticked is a sign-in that releases no claim, not a
    refusal; an essential claim the person has no value for is not 'withheld'."""
    asked = {"userinfo": {"name": None, "nickname": {"essential": True}}}
    location, html = _consent_page(http, shop, asked=asked, scope="openid profile")
    response = _answer(http, location, html, decision="approve")
    assert response.status_code == 302
    params = callback_params(response.headers["Location"])
    body = exchange(http, shop, params["code"]).get_json()
    assert body["scope"].split() == ["openid"]
    claims = userinfo(http, body["access_token"]).get_json()
    assert set(claims) == {"sub"}
    assert records(app, shop.client_id) == []  # nothing was consented, nothing recorded


# -- who is asking ------------------------------------------------------------------------------


def test_the_person_sees_who_is_asking_and_a_lookalike_warning(app, http, person, shop):
    """Issue 14 item 3: a site that registered itself as 'Sh0e Shop' on another host is not
    shown like the operator's 'Shoe Shop': its address, 'unverified' and a warning."""
    registered = http.post(
        "/register",
        json={
            "client_name": "Sh0e  Shop",
            "redirect_uris": ["https://shoes-deals.example/cb"],
            "logo_uri": "https://shoes-deals.example/logo.png",
        },
    ).get_json()
    impostor = RegisteredClient(
        registered["client_id"],
        registered["client_secret"],
        "https://shoes-deals.example/cb",
        registered,
    )
    _location, html = _consent_page(http, impostor, asked={"userinfo": {"name": None}})
    assert "shoes-deals.example" in html
    assert "the site itself — unverified" in html
    assert re.search(r'role="alert">Careful: another site here is called Shoe Shop', html)
    assert "logo.png" not in html  # logos only for operator-registered clients

    _location, html = _consent_page(http, shop, asked={"userinfo": {"name": None}})
    assert "shop.example" in html and "the operator of this provider" in html
    assert "another site here is called Sh0e  Shop" in html
    assert "not declared by this site" in html  # no contact registered


def test_an_edit_with_every_following_hash_recomputed_is_caught_by_the_receipts(
    app, http, person, shop
):
    """Issue 14 item 7: someone with the database rewrites a decision and recomputes the chain
    after it, so every hash link holds; the row's signed receipt no longer matches it."""
    tokens_for(http, shop)
    assert dashboard_change(http, shop.client_id, "withdraw").status_code == 303
    first, second = records(app, shop.client_id)
    store = store_of(app)
    try:
        row = store.get_consent_record(first.record_id)
        forged = {
            **row.document,
            "granted": {},
            "refused": sorted(row.document["request"]["claims"]),
        }
        row.document = forged
        row.entry_hash = consent_spec.chain_hash(forged, row.previous_hash)
        after = store.get_consent_record(second.record_id)
        relinked = {**after.document, "previous_hash": row.entry_hash}
        after.document = relinked
        after.previous_hash = row.entry_hash
        after.entry_hash = consent_spec.chain_hash(relinked, row.entry_hash)
        store.commit()
        _checked, broken = verify_ledgers(store)
        (link,) = broken
        assert link.record_id == first.record_id and "receipt" in link.reason
    finally:
        store.close()
