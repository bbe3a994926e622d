"""The profile, the personas pages and the claims catalogue (OIDC Core §5.1, §5.4, §5.5;
consent_spec SPEC.md §11; DESIGN §4), end to end through the Flask test client.
"""

from __future__ import annotations

import glob
import json
import re
from datetime import UTC, datetime
from typing import Any

import jwt
import pytest
from click.testing import CliRunner
from sqlalchemy import select

import consent_spec
from idp.cli import main
from idp.cli.runtime import Runtime
from idp.consent.consent_request import build_request
from idp.profile.accounts import create_user
from idp.profile.catalogue import BUILTIN, CatalogueError, load_catalogue
from idp.profile.claims import SCOPE_CLAIMS, STANDARD_CLAIMS
from idp.storage.models import ConsentRecord, Persona, User
from tests.conftest import (
    PASSWORD,
    authorize,
    callback_params,
    csrf_from,
    exchange,
    interaction_from,
    obtain_code,
    offered_claims,
    store_of,
)

LOYALTY = "https://books.example.com/claims/loyalty-tier"
INTERESTS = "urn:porta:claim:interests"
DIET = "urn:porta:claim:dietary-preference"
NEWSLETTER = "urn:porta:claim:newsletter"

# A value for every claim a person edits (OIDC Core §5.1).
EDITED = {
    "name": "Alice Q. Example",
    "given_name": "Alice",
    "family_name": "Example",
    "middle_name": "Quinn",
    "nickname": "Al",
    "preferred_username": "alice",
    "profile": "https://alice.example/about",
    "picture": "https://alice.example/me.png",
    "website": "https://alice.example",
    "email": "alice@example.org",
    "gender": "female",
    "birthdate": "1990-04-01",
    "zoneinfo": "Europe/London",
    "locale": "en-GB",
    "phone_number": "+44 20 7946 0001",
    "address.street_address": "2 High Street\nFlat 3",
    "address.locality": "York",
    "address.region": "North Yorkshire",
    "address.postal_code": "YO1 7HH",
    "address.country": "United Kingdom",
}


def sign_in(http, email: str = "alice@example.org") -> None:
    """Log in through the login form (no authorization request)."""
    page = http.get("/login")
    response = http.post(
        "/login",
        data={
            "csrf_token": csrf_from(page.get_data(as_text=True)),
            "email": email,
            "password": PASSWORD,
        },
    )
    assert response.status_code == 303, response.get_data(as_text=True)


def post_form(http, path: str, values: dict[str, Any]):
    """Load the page at ``path`` for its CSRF token, then post ``values`` to it."""
    token = csrf_from(http.get(path).get_data(as_text=True))
    return http.post(path, data={"csrf_token": token, **values})


def field_errors(html: str) -> dict[str, str]:
    """The per-field error messages of a page, keyed by the id of the field they describe."""
    return dict(re.findall(r'<p class="field-error" id="([^"]+)-error">([^<]+)</p>', html))


def profile_of(app, email: str = "alice@example.org") -> User:
    store = store_of(app)
    try:
        user = store.get_user_by_email(email)
        store.session.expunge(user)
        return user
    finally:
        store.close()


def userinfo(http, access_token: str) -> dict[str, Any]:
    response = http.get("/userinfo", headers={"Authorization": f"Bearer {access_token}"})
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def flow(http, rp, **params: str) -> dict[str, Any]:
    """A code flow asking afresh (prompt=consent): the token response."""
    params.setdefault("prompt", "consent")
    code = obtain_code(http, rp, **params)["code"]
    response = exchange(http, rp, code)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


# -- the catalogue -------------------------------------------------------------------------------


def test_builtin_catalogue_describes_every_oidc_core_standard_claim():
    standard = set(consent_spec.load_schema("defs")["$defs"]["standard_claim"]["enum"])
    assert set(BUILTIN.claims) == standard == set(STANDARD_CLAIMS)
    assert all(c.source == "oidc-core" for c in BUILTIN)
    assert BUILTIN.get("address").type == "object"
    assert BUILTIN.get("email_verified").type == "boolean"
    assert BUILTIN.get("updated_at").format == "numeric-date"


def test_catalogue_is_served_as_a_valid_claims_catalogue(http):
    response = http.get("/claims-catalogue.json")
    assert response.status_code == 200
    document = response.get_json()
    assert consent_spec.validate(document, kind="claims-catalogue") == []
    assert document["issuer"] == "http://localhost"
    assert document["claims"]["phone_number"]["format"] == "phone-e164"


@pytest.mark.parametrize(
    "path", sorted(glob.glob("consent_spec/vectors/valid/claims-catalogue/*.json"))
)
def test_valid_catalogue_vectors_load_as_operator_files(path):
    catalogue = load_catalogue(path)
    assert set(STANDARD_CLAIMS) <= set(catalogue.claims)


def test_consent_request_takes_sensitivity_from_the_catalogue(tmp_path):
    from idp.storage.models import Client

    catalogue = load_catalogue(str(_operator_file(tmp_path)))
    client = Client(client_id="c1", metadata_={"client_name": "Shop"})
    request = build_request(
        client, ["birthdate", DIET, "name"], set(), now=datetime.now(UTC), catalogue=catalogue
    )
    sensitivities = {name: entry["sensitivity"] for name, entry in request["claims"].items()}
    assert sensitivities == {"birthdate": "moderate", DIET: "special-category", "name": "low"}


@pytest.mark.parametrize(
    "content, words",
    [
        ("{not json", "not valid JSON"),
        (
            json.dumps({"spec_version": "1.0", "issuer": "https://op.example", "claims": {}}),
            "claims",
        ),
        (
            json.dumps(
                {
                    "spec_version": "1.0",
                    "issuer": "https://op.example",
                    "claims": {
                        "x-custom": {
                            "display_name": {"en": "X"},
                            "type": "string",
                            "sensitivity": "low",
                            "source": "custom",
                        }
                    },
                }
            ),
            "x-custom",
        ),
        (
            json.dumps(
                {
                    "spec_version": "1.0",
                    "issuer": "https://op.example",
                    "claims": {
                        "birthdate": {
                            "display_name": {"en": "Born"},
                            "type": "integer",
                            "sensitivity": "low",
                            "source": "oidc-core",
                        }
                    },
                }
            ),
            "type and format cannot be changed",
        ),
    ],
)
def test_bad_operator_catalogue_is_a_startup_error_naming_the_problem(
    make_app, tmp_path, content, words
):
    path = tmp_path / "catalogue.json"
    path.write_text(content)
    with pytest.raises(CatalogueError) as caught:
        make_app(CLAIMS_CATALOGUE=str(path))
    assert str(path) in str(caught.value) and words in str(caught.value)


@pytest.mark.parametrize(
    "path", sorted(glob.glob("consent_spec/vectors/invalid/claims-catalogue/*.json"))
)
def test_invalid_catalogue_vectors_are_refused_as_operator_files(path):
    with pytest.raises(CatalogueError, match="not a valid claims catalogue"):
        load_catalogue(path)


def test_catalogue_from_the_environment_stops_the_cli_with_the_reason(monkeypatch, tmp_path):
    """Every `porta` command reads the settings and the catalogue first: a bad
    PORTA_CLAIMS_CATALOGUE stops it there, naming the variable, before any database work."""
    path = tmp_path / "catalogue.json"
    path.write_text("[]")
    monkeypatch.setenv("PORTA_CLAIMS_CATALOGUE", str(path))
    monkeypatch.setenv("PORTA_DATABASE_URL", f"sqlite:///{tmp_path}/porta.sqlite")
    result = CliRunner().invoke(main, ["users", "list"])
    assert result.exit_code == 1
    assert "PORTA_CLAIMS_CATALOGUE" in result.output
    assert not (tmp_path / "porta.sqlite").exists()


def test_the_cli_context_carries_the_operators_catalogue(monkeypatch, tmp_path):
    """The CLI (and so the background pump's callers) see the operator's catalogue, not the
    built-in one: the Context is built from the same loaded catalogue as the web app's."""
    monkeypatch.setenv("PORTA_CLAIMS_CATALOGUE", str(_operator_file(tmp_path)))
    monkeypatch.setenv("PORTA_DATABASE_URL", f"sqlite:///{tmp_path}/porta.sqlite")
    runtime = Runtime()
    store = runtime.store()
    try:
        ctx = runtime.context(store)
        assert {DIET, LOYALTY} <= set(ctx.catalogue.claims)
    finally:
        store.close()


def test_missing_operator_catalogue_is_a_startup_error(make_app, tmp_path):
    with pytest.raises(CatalogueError, match="cannot read"):
        make_app(CLAIMS_CATALOGUE=str(tmp_path / "absent.json"))


# -- the profile page ----------------------------------------------------------------------------


def test_profile_page_needs_a_login(http):
    response = http.get("/account/profile")
    assert response.status_code == 303
    assert response.headers["Location"].startswith("/login")


def test_profile_form_has_a_labelled_control_for_every_editable_claim(http, user):
    sign_in(http)
    html = http.get("/account/profile").get_data(as_text=True)
    for name in STANDARD_CLAIMS:
        if name in {"email_verified", "phone_number_verified", "updated_at"}:
            assert f'name="{name}"' not in html  # set by the provider, never by the person
        elif name == "address":
            for part in (
                "street_address",
                "locality",
                "region",
                "postal_code",
                "country",
                "formatted",
            ):
                assert f'name="address.{part}"' in html
                assert f'<label for="f-address-{part.replace("_", "-")}">' in html
        else:
            field_id = "f-" + name.replace("_", "-")
            assert f'id="{field_id}" name="{name}"' in html, name
            assert f'<label for="{field_id}">' in html, name
    assert 'value="Leeds"' in html  # the current address is filled in


def test_every_scope_maps_to_its_claims_after_editing_the_profile(app, http, user, register):
    """OIDC Core §5.4: profile, email, address and phone each release exactly their claims."""
    store = store_of(app)
    store.get_user_by_email("alice@example.org").updated_at = datetime(2020, 1, 1, tzinfo=UTC)
    store.commit()
    store.close()
    sign_in(http)
    response = post_form(http, "/account/profile", EDITED)
    assert response.status_code == 303, field_errors(response.get_data(as_text=True))
    saved = profile_of(app)
    assert saved.updated_at.replace(tzinfo=UTC) > datetime(2020, 1, 1, tzinfo=UTC)
    updated_at = int(saved.updated_at.replace(tzinfo=UTC).timestamp())
    expected = {
        **{k: v for k, v in EDITED.items() if not k.startswith("address.")},
        "phone_number": "+442079460001",  # stored in E.164 form
        "email_verified": True,  # the email address did not change
        "phone_number_verified": False,
        "updated_at": updated_at,
        "address": {
            "street_address": "2 High Street\nFlat 3",
            "locality": "York",
            "region": "North Yorkshire",
            "postal_code": "YO1 7HH",
            "country": "United Kingdom",
        },
    }
    for scope, claims in SCOPE_CLAIMS.items():
        rp = register(client_name=f"RP for {scope}")
        body = userinfo(http, flow(http, rp, scope=f"openid {scope}")["access_token"])
        assert set(body) == {"sub", *claims}, scope
        assert {k: body[k] for k in claims} == {k: expected[k] for k in claims}, scope


def test_claims_parameter_selects_claims_with_essential_value_and_values(app, http, user, register):
    """OIDC Core §5.5: individual claims, essential marks, and value / values filters."""
    sign_in(http)
    assert post_form(http, "/account/profile", EDITED).status_code == 303
    rp = register()
    claims = {
        "userinfo": {
            "given_name": {"essential": True},
            "nickname": {"values": ["Ally", "Al"]},
            "family_name": {"value": "Example"},
            "locale": {"value": "fr-FR"},  # the person's is en-GB: not released
            "birthdate": None,
        },
        "id_token": {"email": {"essential": True}},
    }
    tokens = flow(http, rp, scope="openid", claims=json.dumps(claims))
    body = userinfo(http, tokens["access_token"])
    assert body == {
        "sub": body["sub"],
        "given_name": "Alice",
        "nickname": "Al",
        "family_name": "Example",
        "birthdate": "1990-04-01",
    }
    id_token = jwt.decode(tokens["id_token"], options={"verify_signature": False})
    assert id_token["email"] == "alice@example.org"
    shared = http.get(f"/account/api/relationships/{rp.client_id}").get_json()["shared"]
    essential = {item["claim"] for item in shared if item["essential"]}
    assert essential == {"given_name", "email"}


def test_invalid_values_are_refused_per_field_and_nothing_is_saved(app, http, user):
    sign_in(http)
    before = profile_of(app)
    response = post_form(
        http,
        "/account/profile",
        {
            **EDITED,
            "name": "Changed Name",  # valid, but must not be saved either
            "email": "not-an-email",
            "birthdate": "1990-02-30",
            "website": "javascript:alert(1)",
            "zoneinfo": "Mars/Olympus",
            "locale": "en_GB",
            "phone_number": "020 7946 0000",
            "address.postal_code": "x" * 65,
        },
    )
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    errors = field_errors(html)
    assert set(errors) == {
        "f-email",
        "f-birthdate",
        "f-website",
        "f-zoneinfo",
        "f-locale",
        "f-phone-number",
        "f-address-group",
    }
    assert "name@example.com" in errors["f-email"]
    assert "YYYY-MM-DD" in errors["f-birthdate"]
    assert "country code" in errors["f-phone-number"]
    assert "Postal code" in errors["f-address-group"] and "64" in errors["f-address-group"]
    for field_id in (
        "f-email",
        "f-birthdate",
        "f-website",
        "f-zoneinfo",
        "f-locale",
        "f-phone-number",
    ):
        control = re.search(rf'<input [^>]*id="{field_id}"[^>]*>', html).group(0)
        assert 'aria-invalid="true"' in control
        assert f"{field_id}-error" in re.search(r'aria-describedby="([^"]+)"', control).group(1)
    assert 'value="not-an-email"' in html  # what the person typed comes back to be corrected
    assert "Nothing was saved" in html and 'href="#f-email"' in html
    after = profile_of(app)
    assert after.profile == before.profile and after.updated_at == before.updated_at


def test_email_in_use_by_another_person_is_refused(app, http, user):
    store = store_of(app)
    create_user(store, "bob@example.org", PASSWORD, "Bob")
    store.commit()
    store.close()
    sign_in(http)
    response = post_form(http, "/account/profile", {**EDITED, "email": "Bob@Example.org"})
    assert response.status_code == 400
    assert "Another person uses" in field_errors(response.get_data(as_text=True))["f-email"]
    assert profile_of(app).profile["email"] == "alice@example.org"
    assert "email" in field_errors(
        post_form(http, "/account/profile", {**EDITED, "email": ""}).get_data(as_text=True)
    ).get("f-email", "email")


def test_new_email_becomes_the_sign_in_address_and_is_not_verified(app, http, user):
    sign_in(http)
    response = post_form(http, "/account/profile", {**EDITED, "email": "Alice@New.example"})
    assert response.status_code == 303
    saved = profile_of(app, "alice@new.example")
    assert saved.email == "alice@new.example"
    assert saved.profile["email"] == "alice@new.example"
    assert saved.profile["email_verified"] is False


def test_profile_post_without_csrf_token_is_refused(app, http, user):
    sign_in(http)
    before = profile_of(app)
    response = http.post("/account/profile", data={**EDITED, "name": "Mallory"})
    assert response.status_code == 400
    assert "security token" in response.get_data(as_text=True)
    assert profile_of(app).profile == before.profile
    response = http.post(
        "/account/profile", data={**EDITED, "csrf_token": "forged", "name": "Mallory"}
    )
    assert response.status_code == 400
    assert profile_of(app).profile == before.profile


# -- custom claims from the operator's catalogue --------------------------------------------------


def _operator_file(tmp_path):
    path = tmp_path / "catalogue.json"
    path.write_text(
        json.dumps(
            {
                "$schema": consent_spec.schema_id("claims-catalogue"),
                "spec_version": "1.0",
                "issuer": "https://id.porta.example",
                "claims": {
                    LOYALTY: {
                        "display_name": {"en": "Loyalty tier"},
                        "type": "integer",
                        "sensitivity": "low",
                        "source": "custom",
                    },
                    INTERESTS: {
                        "display_name": {"en": "Interests"},
                        "description": {"en": "Topics you like, for recommendations."},
                        "type": "array",
                        "sensitivity": "low",
                        "source": "custom",
                    },
                    DIET: {
                        "display_name": {"en": "Dietary preference"},
                        "type": "string",
                        "sensitivity": "special-category",
                        "source": "custom",
                    },
                    NEWSLETTER: {
                        "display_name": {"en": "Reads our newsletter"},
                        "type": "boolean",
                        "sensitivity": "low",
                        "source": "custom",
                    },
                    "birthdate": {
                        "display_name": {"en": "Birthday"},
                        "type": "string",
                        "format": "date",
                        "sensitivity": "moderate",
                        "source": "oidc-core",
                    },
                },
                "extensions": {
                    "https://porta.example/ext/claim-value-schemas": {
                        DIET: {"enum": ["vegetarian", "vegan", "halal", "kosher"]},
                        INTERESTS: {"items": {"type": "string", "maxLength": 40}, "maxItems": 10},
                        LOYALTY: {"minimum": 0, "maximum": 5},
                    }
                },
            }
        )
    )
    return path


def test_custom_catalogue_claim_end_to_end(make_app, tmp_path, user, register):
    """An operator's URI-named claim: edited, validated, requested by `claims`, released."""
    app = make_app(CLAIMS_CATALOGUE=str(_operator_file(tmp_path)))
    http = app.test_client()
    served = http.get("/claims-catalogue.json").get_json()
    assert consent_spec.validate(served, kind="claims-catalogue") == []
    assert served["claims"][DIET]["sensitivity"] == "special-category"
    assert served["claims"]["birthdate"]["display_name"] == {"en": "Birthday"}

    sign_in(http)
    html = http.get("/account/profile").get_data(as_text=True)
    assert "Loyalty tier" in html and "Dietary preference" in html and "Topics you like" in html
    bad = post_form(
        http,
        "/account/profile",
        {**EDITED, LOYALTY: "gold", INTERESTS: '["books", 3]', DIET: "pizza"},
    )
    assert bad.status_code == 400
    errors = field_errors(bad.get_data(as_text=True))
    loyalty_id = "f-" + re.sub(r"[^A-Za-z0-9]+", "-", LOYALTY).strip("-")
    assert "whole number" in errors[loyalty_id]
    assert "Enter text" in errors["f-urn-porta-claim-interests"]
    assert "vegetarian" in errors["f-urn-porta-claim-dietary-preference"]
    assert LOYALTY not in profile_of(app).profile
    good = post_form(
        http,
        "/account/profile",
        {**EDITED, LOYALTY: "3", INTERESTS: '["books", "jazz"]', DIET: "vegan"},
    )
    assert good.status_code == 303, field_errors(good.get_data(as_text=True))
    assert profile_of(app).profile[LOYALTY] == 3
    assert profile_of(app).profile[NEWSLETTER] is False  # an unticked box
    html = http.get("/account/profile").get_data(as_text=True)
    assert re.search(r'<input type="checkbox" id="f-urn-porta-claim-newsletter" [^>]*>', html)
    ticked = post_form(
        http,
        "/account/profile",
        {**EDITED, LOYALTY: "3", INTERESTS: '["books", "jazz"]', DIET: "vegan", NEWSLETTER: "yes"},
    )
    assert ticked.status_code == 303
    assert profile_of(app).profile[NEWSLETTER] is True

    rp = register()
    claims = {
        "userinfo": {
            NEWSLETTER: None,
            LOYALTY: {"essential": True},
            INTERESTS: None,
            DIET: {"values": ["vegan", "halal"]},
        }
    }
    tokens = flow(http, rp, scope="openid", claims=json.dumps(claims))
    body = userinfo(http, tokens["access_token"])
    assert body[LOYALTY] == 3 and body[INTERESTS] == ["books", "jazz"] and body[DIET] == "vegan"
    assert body[NEWSLETTER] is True

    store = store_of(app)
    try:
        record = store.session.scalars(
            select(ConsentRecord).where(ConsentRecord.client_id == rp.client_id)
        ).first()
        asked = record.document["request"]["claims"]
    finally:
        store.close()
    assert asked[DIET]["sensitivity"] == "special-category"
    assert asked[LOYALTY]["essential"] is True


# -- personas ------------------------------------------------------------------------------------


def _persona_id(location: str) -> str:
    return location.split("?")[0].rstrip("/").rsplit("/", 1)[-1]


def test_persona_create_edit_rename_and_delete(app, http, user):
    sign_in(http)
    assert "no personas yet" in http.get("/account/personas").get_data(as_text=True)
    created = post_form(http, "/account/personas", {"name": "Work"})
    assert created.status_code == 303
    persona_id = _persona_id(created.headers["Location"])
    again = post_form(http, "/account/personas", {"name": "work"})
    assert again.status_code == 400 and "already have a persona" in again.get_data(as_text=True)
    assert post_form(http, "/account/personas", {"name": "  "}).status_code == 400

    page = f"/account/personas/{persona_id}"
    html = http.get(page).get_data(as_text=True)
    assert 'placeholder="Alice Example"' in html  # empty fields show what falls back
    bad = post_form(
        http, page, {"persona_name": "Office", "email": "nope", "name": "Alice at Work"}
    )
    assert bad.status_code == 400
    assert set(field_errors(bad.get_data(as_text=True))) == {"f-email"}
    assert _persona(app, persona_id).name == "Work" and _persona(app, persona_id).claims == {}

    saved = post_form(
        http,
        page,
        {
            "persona_name": "Office",
            "name": "Alice at Work",
            "email": "alice@work.example",
            "address.locality": "Leeds",
        },
    )
    assert saved.status_code == 303
    persona = _persona(app, persona_id)
    assert persona.name == "Office"
    assert persona.claims == {
        "name": "Alice at Work",
        "email": "alice@work.example",
        "email_verified": False,  # the provider never checked the persona's address
        "address": {"locality": "Leeds"},
    }
    listing = http.get("/account/personas").get_data(as_text=True)
    assert "Office" in listing and "3 values of its own" in listing

    # empty fields fall back to the profile again
    assert post_form(http, page, {"persona_name": "Office", "name": ""}).status_code == 303
    assert _persona(app, persona_id).claims == {}

    token = csrf_from(http.get(page).get_data(as_text=True))
    assert http.post(page + "/delete").status_code == 400  # no CSRF token
    assert _persona(app, persona_id) is not None
    deleted = http.post(page + "/delete", data={"csrf_token": token})
    assert deleted.status_code == 303
    assert _persona(app, persona_id) is None
    assert http.get(page).status_code == 404


def test_personas_of_another_person_are_out_of_reach(app, http, user):
    store = store_of(app)
    bob = create_user(store, "bob@example.org", PASSWORD, "Bob")
    store.commit()
    store.close()
    bobs = app.test_client()
    sign_in(bobs, "bob@example.org")
    persona_id = _persona_id(
        post_form(bobs, "/account/personas", {"name": "Secret"}).headers["Location"]
    )
    sign_in(http)
    page = f"/account/personas/{persona_id}"
    assert http.get(page).status_code == 404
    token = csrf_from(http.get("/account/personas").get_data(as_text=True))
    assert http.post(page, data={"csrf_token": token, "persona_name": "Mine"}).status_code == 404
    assert http.post(page + "/delete", data={"csrf_token": token}).status_code == 404
    assert _persona(app, persona_id).name == "Secret" and bob.id


def test_persona_create_without_csrf_token_is_refused(app, http, user):
    sign_in(http)
    assert http.post("/account/personas", data={"name": "Work"}).status_code == 400
    store = store_of(app)
    try:
        assert store.session.scalars(select(Persona)).first() is None
    finally:
        store.close()


def test_choosing_a_persona_at_consent_changes_userinfo_but_not_sub(app, http, user, register):
    sign_in(http)
    persona_id = _persona_id(
        post_form(http, "/account/personas", {"name": "Work"}).headers["Location"]
    )
    response = post_form(
        http,
        f"/account/personas/{persona_id}",
        {"persona_name": "Work", "name": "Alice at Work", "email": "alice@work.example"},
    )
    assert response.status_code == 303
    rp = register()

    as_profile = userinfo(http, flow(http, rp, scope="openid profile email")["access_token"])
    assert as_profile["name"] == "Alice Example" and as_profile["email"] == "alice@example.org"
    assert as_profile["email_verified"] is True

    answer = authorize(http, rp, scope="openid profile email", prompt="consent")
    location = answer.headers["Location"]
    html = http.get(location).get_data(as_text=True)
    assert f'name="persona" value="{persona_id}"' in html
    decided = http.post(
        "/consent",
        data={
            "csrf_token": csrf_from(html),
            "interaction": interaction_from(location),
            "decision": "approve",
            "claim": offered_claims(html),
            "persona": persona_id,
        },
    )
    assert decided.status_code == 302, decided.get_data(as_text=True)
    code = callback_params(decided.headers["Location"])["code"]
    as_work = userinfo(http, exchange(http, rp, code).get_json()["access_token"])
    assert as_work["sub"] == as_profile["sub"]
    assert as_work["name"] == "Alice at Work"
    assert as_work["email"] == "alice@work.example" and as_work["email_verified"] is False
    assert as_work["given_name"] == as_profile["given_name"] == "Alice"  # falls back to the profile


def _persona(app, persona_id: str) -> Persona | None:
    store = store_of(app)
    try:
        persona = store.session.get(Persona, persona_id)
        if persona is not None:
            store.session.expunge(persona)
        return persona
    finally:
        store.close()
