"""The person's profile and personas pages (OIDC Core §5.1 claims; DESIGN §4), and the catalogue.

- ``/account/profile``: every claim of the claims catalogue (consent_spec SPEC.md
  §11), each value validated against its catalogue schema; nothing is saved
  while any field is wrong, and every error sits next to its field.
- ``/account/personas``: named sets of claim values ("Work", "Shopping"); a
  field left empty falls back to the profile.
- ``/claims-catalogue.json``: the catalogue as a consent_spec document.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)

from idp.profile import editing
from idp.profile import personas as persona_store
from idp.profile.catalogue import (
    ADDRESS_PARTS,
    PROVIDER_SET,
    Catalogue,
    ClaimDefinition,
    normalise_phone,
)
from idp.web.account import _login_or_redirect
from idp.web.common import error_page, store

bp = Blueprint("profile", __name__)

# Claims whose provider-set flag says the value was checked; a new value is not.
INPUT_TYPES = {"email": "email", "phone-e164": "tel", "uri": "url"}
AUTOCOMPLETE = {
    "name": "name",
    "given_name": "given-name",
    "family_name": "family-name",
    "middle_name": "additional-name",
    "nickname": "nickname",
    "preferred_username": "username",
    "email": "email",
    "phone_number": "tel",
    "birthdate": "bday",
    "website": "url",
    "gender": "sex",
    "street_address": "street-address",
    "locality": "address-level2",
    "region": "address-level1",
    "postal_code": "postal-code",
    "country": "country-name",
}
HINTS = {
    "phone-e164": "With + and the country code, such as +44 20 7946 0000.",
    "date": "YYYY-MM-DD, or just the year.",
    "time-zone": "Such as Europe/Paris.",
    "language-tag": "Such as en-GB.",
    "uri": "A full address starting with https://.",
}


def catalogue() -> Catalogue:
    """The serving app's claims catalogue."""
    return current_app.extensions["porta"]["catalogue"]


@bp.route("/claims-catalogue.json", methods=["GET"])
def claims_catalogue() -> Response:
    """The provider's claims catalogue (consent_spec SPEC.md §11), for RPs and other providers."""
    issuer = current_app.extensions["porta"]["settings"].issuer
    response = jsonify(catalogue().document(issuer))
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


# -- the claims form, shared by the profile and persona pages ----------------------------------


@dataclass
class Field:
    """One control of the claims form, as the template draws it."""

    name: str  # the form field name (the claim name, or address.<part>)
    id: str
    label: str
    control: str  # text, email, tel, url, number, checkbox, choice, textarea, json
    value: Any = ""
    error: str | None = None
    hint: str | None = None
    autocomplete: str | None = None
    placeholder: str | None = None


@dataclass
class ClaimForm:
    """A claim's controls: one field, or a group (the address) with one error for the group."""

    claim: str
    label: str
    fields: list[Field]
    group: bool = False
    error: str | None = None
    sensitivity: str = "low"
    help: str | None = None

    @property
    def id(self) -> str:
        return _field_id(self.claim) + "-group" if self.group else self.fields[0].id


@dataclass
class Submission:
    """What the person sent: the values that are valid and the errors of the others."""

    values: dict[str, Any] = field(default_factory=dict)  # claim -> value (None: empty)
    errors: dict[str, str] = field(default_factory=dict)  # claim -> message


def _field_id(name: str) -> str:
    return "f-" + re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-")


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def build_form(
    cat: Catalogue,
    values: dict[str, Any],
    errors: dict[str, str],
    *,
    fallback: dict[str, Any] | None = None,
) -> list[ClaimForm]:
    """The controls for every editable catalogue claim, filled from ``values``.

    ``fallback`` (persona pages) holds the profile's values, shown as placeholders
    of empty fields; booleans then get a three-way choice, "use the profile" included.
    """
    out: list[ClaimForm] = []
    for claim in cat.editable():
        value = values.get(claim.name)
        if claim.name == "address":
            parts = value if isinstance(value, dict) else {}
            base = (fallback or {}).get("address") or {}
            fields = [
                Field(
                    name=f"address.{part}",
                    id=_field_id(f"address-{part}"),
                    label=label,
                    control="textarea" if part in {"street_address", "formatted"} else "text",
                    value=_text(parts.get(part)),
                    autocomplete=AUTOCOMPLETE.get(part),
                    placeholder=_text(base.get(part)) if isinstance(base, dict) else None,
                )
                for part, label, _ in ADDRESS_PARTS
            ]
            out.append(
                ClaimForm(
                    claim.name,
                    claim.label,
                    fields,
                    group=True,
                    error=errors.get(claim.name),
                    sensitivity=claim.sensitivity,
                    help=claim.help,
                )
            )
            continue
        one = _field_for(claim, value, fallback)
        one.error = errors.get(claim.name)
        out.append(
            ClaimForm(
                claim.name, claim.label, [one], sensitivity=claim.sensitivity, help=claim.help
            )
        )
    return out


def _field_for(claim: ClaimDefinition, value: Any, fallback: dict[str, Any] | None) -> Field:
    one = Field(
        name=claim.name,
        id=_field_id(claim.name),
        label=claim.label,
        control="text",
        value=_text(value),
        hint=HINTS.get(claim.format or ""),
        autocomplete=AUTOCOMPLETE.get(claim.name),
    )
    if fallback is not None and fallback.get(claim.name) not in (None, ""):
        one.placeholder = _text(fallback[claim.name])
    if claim.type == "boolean":
        if fallback is None:
            one.control = "checkbox"
            one.value = value is True
        else:
            one.control = "choice"
            one.value = "" if value is None else ("yes" if value else "no")
    elif claim.type in {"integer", "number"}:
        one.control = "number"
        one.hint = one.hint or ("A whole number." if claim.type == "integer" else "A number.")
    elif claim.type in {"object", "array"}:
        one.control = "json"
        one.hint = "Written as JSON."
    elif claim.format in INPUT_TYPES:
        one.control = INPUT_TYPES[claim.format]
    return one


def read_form(cat: Catalogue, form: Any, *, fallback: bool) -> Submission:
    """Parse and validate every editable claim of a submitted claims form.

    Each value is checked against its catalogue schema (SPEC.md §11); an empty
    field means "no value" (on a persona page: "use the profile's").
    """
    result = Submission()
    for claim in cat.editable():
        try:
            value = _parse(claim, form, fallback=fallback)
        except ValueError as error:
            result.errors[claim.name] = str(error)
            continue
        if value is not None:
            problem = cat.check_value(claim.name, value)
            if problem:
                result.errors[claim.name] = problem
                continue
        result.values[claim.name] = value
    return result


def _parse(claim: ClaimDefinition, form: Any, *, fallback: bool) -> Any:
    if claim.name == "address":
        parts = {}
        for part, _, _ in ADDRESS_PARTS:
            text = form.get(f"address.{part}", "").replace("\r\n", "\n").strip()
            if text:
                parts[part] = text
        return parts or None
    raw = form.get(claim.name, "")
    if claim.type == "boolean":
        if fallback:
            return {"yes": True, "no": False}.get(raw)
        return raw in {"on", "yes", "true", "1"}
    text = raw.strip()
    if not text:
        return None
    if claim.type == "integer":
        try:
            return int(text)
        except ValueError:
            raise ValueError("Enter a whole number, such as 3.") from None
    if claim.type == "number":
        try:
            number = float(text)
        except ValueError:
            raise ValueError("Enter a number, such as 2.5.") from None
        return int(number) if number.is_integer() else number
    if claim.type in {"object", "array"}:
        try:
            return json.loads(text)
        except ValueError:
            raise ValueError("This is not valid JSON.") from None
    if claim.format == "phone-e164":
        return normalise_phone(text)
    if claim.format == "email":
        return text.lower()
    return text


def _form_page(template: str, status: int = 200, **values: Any) -> tuple[str, int]:
    return render_template(template, **values), status


# -- profile -----------------------------------------------------------------------------------


@bp.route("/account/profile", methods=["GET", "POST"])
@_login_or_redirect(api=False)
def profile_page(login) -> tuple[str, int] | Response:
    """Edit the base profile: every claim, validated against the catalogue; all or nothing."""
    user = login.user
    cat = catalogue()
    if request.method == "GET":
        return _form_page(
            "profile.html",
            user=user,
            claims=build_form(cat, editing.profile_values(user), {}),
            provider_set=_provider_set(user),
            saved=request.args.get("saved") == "1",
        )
    submitted = read_form(cat, request.form, fallback=False)
    email = submitted.values.get("email")
    if "email" not in submitted.errors:
        if not email:
            submitted.errors["email"] = "An email address is needed: it is how you sign in."
        elif editing.email_taken(store(), email, user.id):
            submitted.errors["email"] = "Another person uses this email address here."
    if submitted.errors:
        shown = {**submitted.values, **_raw_values(cat, request.form, submitted.errors)}
        return _form_page(
            "profile.html",
            400,
            user=user,
            claims=build_form(cat, shown, submitted.errors),
            provider_set=_provider_set(user),
            errors=_summary(cat, submitted.errors),
        )
    with store().unit_of_work():
        editing.save_profile(store(), user, cat, submitted.values)
    return redirect(url_for("profile.profile_page", saved="1"), code=303)


def _provider_set(user) -> list[tuple[str, str]]:
    profile = user.profile or {}
    return [
        ("Email address verified", "yes" if profile.get("email_verified") else "no"),
        ("Phone number verified", "yes" if profile.get("phone_number_verified") else "no"),
        ("Profile last updated", user.updated_at.strftime("%Y-%m-%d %H:%M UTC")),
    ]


def _raw_values(cat: Catalogue, form: Any, errors: dict[str, str]) -> dict[str, Any]:
    """What the person typed in the fields that are wrong, to show it back unchanged."""
    raw: dict[str, Any] = {}
    for name in errors:
        if name == "address":
            raw[name] = {part: form.get(f"address.{part}", "") for part, _, _ in ADDRESS_PARTS}
        else:
            raw[name] = form.get(name, "")
    return raw


def _summary(cat: Catalogue, errors: dict[str, str]) -> list[tuple[str, str, str]]:
    """(field id, claim label, message) for the error summary at the top of the form."""
    out = []
    for claim in cat.editable():
        if claim.name in errors:
            target = _field_id("address-street_address" if claim.name == "address" else claim.name)
            out.append((target, claim.label, errors[claim.name]))
    return out


# -- personas ----------------------------------------------------------------------------------


@bp.route("/account/personas", methods=["GET", "POST"])
@_login_or_redirect(api=False)
def personas_page(login) -> tuple[str, int] | Response:
    """List the person's personas; create one by name."""
    user = login.user
    name_error = None
    name = ""
    if request.method == "POST":
        name = request.form.get("name", "")
        try:
            with store().unit_of_work():
                persona = persona_store.create_persona(store(), user, name)
        except persona_store.PersonaError as error:
            name_error = _sentence(str(error))
        else:
            return redirect(url_for("profile.persona_page", persona_id=persona.id), code=303)
    return _form_page(
        "personas.html",
        400 if name_error else 200,
        user=user,
        personas=[
            (p, sum(1 for claim in p.claims if claim not in PROVIDER_SET))
            for p in persona_store.list_personas(store(), user.id)
        ],
        name=name,
        name_error=name_error,
    )


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


@bp.route("/account/personas/<persona_id>", methods=["GET", "POST"])
@_login_or_redirect(api=False)
def persona_page(login, persona_id: str) -> tuple[str, int] | Response:
    """Rename a persona and set its claim values; an empty field falls back to the profile."""
    user = login.user
    persona = persona_store.get_persona(store(), user.id, persona_id)
    if persona is None:
        return error_page("No such persona", "This persona is not one of yours.", 404)
    cat = catalogue()
    base = editing.profile_values(user)
    if request.method == "GET":
        return _form_page(
            "persona.html",
            persona=persona,
            name=persona.name,
            claims=build_form(cat, persona.claims, {}, fallback=base),
            saved=request.args.get("saved") == "1",
        )
    submitted = read_form(cat, request.form, fallback=True)
    name = request.form.get("persona_name", "").strip()  # "name" is the claim (OIDC Core §5.1)
    name_error = None
    if not name or len(name) > 100:
        name_error = "A persona needs a name of 1 to 100 characters."
    elif any(
        p.id != persona.id and p.name.lower() == name.lower()
        for p in persona_store.list_personas(store(), user.id)
    ):
        name_error = f"You already have a persona named {name!r}."
    email = submitted.values.get("email")
    if "email" not in submitted.errors and editing.email_taken(store(), email, user.id):
        submitted.errors["email"] = "Another person uses this email address here."
    if submitted.errors or name_error:
        shown = {**submitted.values, **_raw_values(cat, request.form, submitted.errors)}
        summary = _summary(cat, submitted.errors)
        if name_error:
            summary.insert(0, ("f-persona-name", "Name", name_error))
        return _form_page(
            "persona.html",
            400,
            persona=persona,
            name=name,
            name_error=name_error,
            claims=build_form(cat, shown, submitted.errors, fallback=base),
            errors=summary,
        )
    claims = editing.persona_claims(cat, persona, submitted.values, base)
    with store().unit_of_work():
        persona_store.update_persona(persona, name=name, claims=claims, store=store())
    return redirect(url_for("profile.persona_page", persona_id=persona.id, saved="1"), code=303)


@bp.route("/account/personas/<persona_id>/delete", methods=["POST"])
@_login_or_redirect(api=False)
def persona_delete(login, persona_id: str) -> tuple[str, int] | Response:
    """Delete a persona; sites that received it get the profile from now on."""
    persona = persona_store.get_persona(store(), login.user.id, persona_id)
    if persona is None:
        return error_page("No such persona", "This persona is not one of yours.", 404)
    name = persona.name
    with store().unit_of_work():
        persona_store.delete_persona(store(), persona)
    flash(f"Deleted the persona {name}.", "done")
    return redirect(url_for("profile.personas_page"), code=303)
