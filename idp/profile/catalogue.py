"""The claims catalogue: every claim Porta holds, described once (consent_spec SPEC.md §11).

The built-in catalogue lists every standard claim of OIDC Core §5.1 with its
JSON type, format, sensitivity and display name. An operator adds claims (or
re-labels standard ones, or raises their sensitivity) with a claims-catalogue
document named by the ``CLAIMS_CATALOGUE`` setting; the file is validated
against the consent_spec ``claims-catalogue`` schema when the app starts.

Each claim's value schema is derived from its ``type`` and ``format`` (the
catalogue formats are checked by this module, SPEC.md §11), and an operator may
narrow it further with the :data:`VALUE_SCHEMAS` extension (SPEC.md §3.4)::

    "extensions": {"https://porta.example/ext/claim-value-schemas":
                   {"urn:example:claim:diet": {"enum": ["vegan", "halal"]}}}

The catalogue in force travels in the request's :class:`~idp.base.context.Context`
(``ctx.catalogue``): the web layer, the CLI and the background pump all build
their Context from the same loaded catalogue, so none of them falls back to the
built-in one by accident.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import available_timezones

from jsonschema import Draft202012Validator, FormatChecker, SchemaError

import consent_spec

VALUE_SCHEMAS = "https://porta.example/ext/claim-value-schemas"
# Values the provider sets itself (OIDC Core §5.1): a person cannot claim that their own
# email address was verified, nor choose when their profile last changed.
PROVIDER_SET = ("email_verified", "phone_number_verified", "updated_at")
SENSITIVITY_ORDER = ("low", "moderate", "high", "special-category")

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_E164 = re.compile(r"^\+[1-9][0-9]{1,14}$")  # ITU-T E.164, as OIDC Core §5.1 recommends
_PHONE_SEPARATORS = re.compile(r"[\s().\-]")
_URI = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:[^\s]+$")  # RFC 3986 §4.3 absolute URI
_WEB_URL = r"^https?://[^\s/?#]+[^\s]*$"
_LANGUAGE_TAG = re.compile(r"^[a-zA-Z]{2,3}(-[a-zA-Z0-9]{2,8})*$")  # BCP 47, simplified
_COUNTRY = re.compile(r"^[A-Z]{2}$")  # ISO 3166-1 alpha-2
_BIRTHDATE = re.compile(r"^[0-9]{4}(-[0-9]{2}-[0-9]{2})?$")


class CatalogueError(ValueError):
    """A claims-catalogue file that cannot be used (unreadable, not JSON, invalid)."""


@dataclass(frozen=True)
class ClaimDefinition:
    """One claim of the catalogue (SPEC.md §11 claim description) and its value schema."""

    name: str
    display_name: dict[str, str]
    type: str
    sensitivity: str
    source: str
    format: str | None = None
    description: dict[str, str] | None = None
    verifiable: bool | None = None
    constraints: dict[str, Any] = field(default_factory=dict)  # further JSON Schema keywords

    @property
    def label(self) -> str:
        """The English display name, else the first one given."""
        return self.display_name.get("en") or next(iter(self.display_name.values()))

    @property
    def help(self) -> str | None:
        """The English description, if any."""
        if not self.description:
            return None
        return self.description.get("en") or next(iter(self.description.values()))

    @property
    def editable(self) -> bool:
        """Whether the person sets this value (not the provider)."""
        return self.name not in PROVIDER_SET

    def value_schema(self) -> dict[str, Any]:
        """The JSON Schema (draft 2020-12) a value of this claim must satisfy."""
        schema: dict[str, Any] = {"type": self.type}
        if self.type == "string":
            schema["minLength"] = 1
            schema["maxLength"] = 1000
        if self.format:
            schema["format"] = self.format
        schema.update(self.constraints)
        return schema

    def description_document(self) -> dict[str, Any]:
        """This claim as a member of a claims-catalogue document."""
        out: dict[str, Any] = {"display_name": dict(self.display_name)}
        if self.description:
            out["description"] = dict(self.description)
        out["type"] = self.type
        if self.format:
            out["format"] = self.format
        out["sensitivity"] = self.sensitivity
        out["source"] = self.source
        if self.verifiable is not None:
            out["verifiable"] = self.verifiable
        return out


def _standard(
    name: str,
    label: str,
    type_: str = "string",
    *,
    format_: str | None = None,
    sensitivity: str = "low",
    **constraints: Any,
) -> ClaimDefinition:
    return ClaimDefinition(
        name=name,
        display_name={"en": label},
        type=type_,
        format=format_,
        sensitivity=sensitivity,
        source="oidc-core",
        constraints=constraints,
    )


ADDRESS_PARTS = (  # OIDC Core §5.1.1, in the order a form shows them
    ("street_address", "Street address", 500),
    ("locality", "Town or city", 255),
    ("region", "Region, state or county", 255),
    ("postal_code", "Postal code", 64),
    ("country", "Country", 255),
    ("formatted", "Full address as printed on mail", 1000),
)

# OIDC Core §5.1 standard claims, in the order of its table.
STANDARD: tuple[ClaimDefinition, ...] = (
    _standard("name", "Full name", maxLength=255),
    _standard("given_name", "Given name", maxLength=255),
    _standard("family_name", "Family name", maxLength=255),
    _standard("middle_name", "Middle name", maxLength=255),
    _standard("nickname", "Nickname", maxLength=255),
    _standard("preferred_username", "Preferred username", maxLength=255),
    _standard("profile", "Profile page", format_="uri", maxLength=2048, pattern=_WEB_URL),
    _standard("picture", "Picture", format_="uri", maxLength=2048, pattern=_WEB_URL),
    _standard("website", "Website", format_="uri", maxLength=2048, pattern=_WEB_URL),
    _standard("email", "Email address", format_="email", sensitivity="moderate", maxLength=320),
    _standard("email_verified", "Email verified", "boolean"),
    _standard("gender", "Gender", sensitivity="moderate", maxLength=100),
    _standard("birthdate", "Date of birth", format_="date", sensitivity="moderate"),
    _standard("zoneinfo", "Time zone", format_="time-zone"),
    _standard("locale", "Language and region", format_="language-tag", maxLength=35),
    _standard(
        "phone_number", "Phone number", format_="phone-e164", sensitivity="moderate", maxLength=40
    ),
    _standard("phone_number_verified", "Phone number verified", "boolean"),
    _standard(
        "address",
        "Postal address",
        "object",
        sensitivity="moderate",
        properties={
            part: {"type": "string", "minLength": 1, "maxLength": size}
            for part, _, size in ADDRESS_PARTS
        },
        additionalProperties=False,
        minProperties=1,
    ),
    _standard("updated_at", "Profile last updated", "number", format_="numeric-date"),
)


# -- formats (SPEC.md §11) -------------------------------------------------------------------

_FORMATS = FormatChecker(formats=())


def _checks(name: str):
    def register(function):
        _FORMATS.checks(name)(function)
        return function

    return register


@_checks("email")
def _is_email(value: object) -> bool:
    return not isinstance(value, str) or bool(_EMAIL.match(value))


@_checks("phone-e164")
def _is_e164(value: object) -> bool:
    return not isinstance(value, str) or bool(_E164.match(value))


@_checks("uri")
def _is_uri(value: object) -> bool:
    return not isinstance(value, str) or bool(_URI.match(value))


@_checks("date")
def _is_date(value: object) -> bool:
    """OIDC Core §5.1 ``birthdate``: YYYY-MM-DD, YYYY alone, or 0000-MM-DD (year withheld)."""
    if not isinstance(value, str):
        return True
    if not _BIRTHDATE.match(value):
        return False
    if len(value) == 4:
        return value != "0000"
    try:
        date.fromisoformat(value.replace("0000-", "2000-", 1) if value[:4] == "0000" else value)
    except ValueError:
        return False
    return True


@_checks("date-time")
def _is_date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return moment.tzinfo is not None and "T" in value.upper()


@_checks("language-tag")
def _is_language_tag(value: object) -> bool:
    return not isinstance(value, str) or bool(_LANGUAGE_TAG.match(value))


@cache
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


@_checks("time-zone")
def _is_time_zone(value: object) -> bool:
    return not isinstance(value, str) or value in _zones()


@_checks("country-code")
def _is_country_code(value: object) -> bool:
    return not isinstance(value, str) or bool(_COUNTRY.match(value))


@_checks("numeric-date")
def _is_numeric_date(value: object) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return True
    return math.isfinite(value) and value >= 0


_FORMAT_ADVICE = {
    "email": "Enter an email address such as name@example.com.",
    "phone-e164": "Enter the number with + and the country code, such as +44 20 7946 0000.",
    "uri": "Enter a full address starting with https:// (or another scheme such as urn:).",
    "date": "Enter the date as YYYY-MM-DD, or just the year (YYYY).",
    "date-time": "Enter a date and time such as 2024-05-01T09:30:00Z.",
    "language-tag": "Enter a language tag such as en-GB or fr.",
    "time-zone": "Enter a time zone name such as Europe/Paris or America/New_York.",
    "country-code": "Enter a two-letter country code such as GB or FR.",
    "numeric-date": "Enter a number of seconds since 1970-01-01.",
}
_TYPE_ADVICE = {
    "string": "Enter text.",
    "integer": "Enter a whole number.",
    "number": "Enter a number.",
    "boolean": "Choose yes or no.",
    "object": 'Enter a JSON object, such as {"key": "value"}.',
    "array": 'Enter a JSON list, such as ["first", "second"].',
}


# -- the catalogue -----------------------------------------------------------------------------


class Catalogue:
    """The claims this provider knows, in display order: standard claims first."""

    def __init__(self, claims: list[ClaimDefinition]) -> None:
        self.claims: dict[str, ClaimDefinition] = {c.name: c for c in claims}

    def __contains__(self, name: object) -> bool:
        return name in self.claims

    def __iter__(self):
        return iter(self.claims.values())

    def get(self, name: str) -> ClaimDefinition | None:
        """The definition of one claim, or None."""
        return self.claims.get(name)

    def editable(self) -> list[ClaimDefinition]:
        """The claims a person sets on the profile and persona pages."""
        return [c for c in self.claims.values() if c.editable]

    def sensitivity(self, name: str) -> str:
        """The sensitivity of a claim; ``low`` for a claim the catalogue does not describe."""
        definition = self.claims.get(name)
        return definition.sensitivity if definition else "low"

    def document(self, issuer: str) -> dict[str, Any]:
        """This catalogue as a consent_spec claims-catalogue document (SPEC.md §11)."""
        return {
            "$schema": consent_spec.schema_id("claims-catalogue"),
            "spec_version": consent_spec.SPEC_VERSION,
            "issuer": issuer,
            "claims": {c.name: c.description_document() for c in self.claims.values()},
        }

    def check_value(self, name: str, value: Any) -> str | None:
        """Why ``value`` is not a valid value of claim ``name``, in words for the person; or None."""
        definition = self.claims.get(name)
        if definition is None:
            return "This is not a claim this provider knows."
        return check_value(definition, value)


def check_value(definition: ClaimDefinition, value: Any) -> str | None:
    """Validate one value against its claim's catalogue schema; a person-readable error or None."""
    validator = Draft202012Validator(definition.value_schema(), format_checker=_FORMATS)
    errors = sorted(validator.iter_errors(value), key=lambda e: (len(e.absolute_path), e.path))
    if not errors:
        return None
    error = errors[0]
    keyword = error.validator
    where = ""
    if error.absolute_path and definition.name == "address":
        part = str(error.absolute_path[0])
        where = dict((p, label) for p, label, _ in ADDRESS_PARTS).get(part, part) + ": "
    if keyword == "type":
        expected = error.validator_value if isinstance(error.validator_value, str) else "string"
        return where + _TYPE_ADVICE.get(expected, "This value has the wrong type.")
    if keyword == "format":
        return where + _FORMAT_ADVICE.get(str(error.validator_value), "This value is not valid.")
    if keyword == "maxLength":
        return f"{where}Use at most {error.validator_value} characters."
    if keyword == "minLength":
        return f"{where}This cannot be empty."
    if keyword == "pattern" and definition.format == "uri":
        return f"{where}Enter a web address starting with https:// or http://."
    if keyword == "enum":
        return where + "Choose one of: " + ", ".join(str(v) for v in error.validator_value) + "."
    if keyword == "additionalProperties":
        return "This address has a part the provider does not know."
    if keyword in {"minimum", "exclusiveMinimum"}:
        return f"{where}Enter a number of at least {error.validator_value}."
    if keyword in {"maximum", "exclusiveMaximum"}:
        return f"{where}Enter a number of at most {error.validator_value}."
    return where + "This value is not valid: " + error.message[:200]


def normalise_phone(text: str) -> str:
    """A phone number as typed ("+44 (20) 7946-0000") in E.164 form ("+442079460000")."""
    return _PHONE_SEPARATORS.sub("", text)


BUILTIN = Catalogue(list(STANDARD))


def builtin() -> Catalogue:
    """The catalogue of OIDC Core §5.1 standard claims alone."""
    return BUILTIN


def load_catalogue(path: str | None) -> Catalogue:
    """The built-in catalogue plus the operator's file at ``path`` (the CLAIMS_CATALOGUE setting).

    The file is a consent_spec claims-catalogue document. It may add custom
    URI-named claims and may re-label a standard claim or change its
    sensitivity, but not change a standard claim's type or format (OIDC Core
    §5.1 fixes them). Raises :class:`CatalogueError` naming the problem.
    """
    if not path:
        return BUILTIN
    where = f"PORTA_CLAIMS_CATALOGUE ({path})"
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CatalogueError(f"{where}: cannot read the file: {exc}") from exc
    try:
        document = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise CatalogueError(f"{where}: not valid JSON: {exc}") from exc
    problems = consent_spec.validate(document, kind="claims-catalogue")
    if problems:
        listed = "; ".join(str(p) for p in problems[:5])
        raise CatalogueError(
            f"{where} is not a valid claims catalogue (consent_spec SPEC.md §11): {listed}"
        )
    extra = (document.get("extensions") or {}).get(VALUE_SCHEMAS, {})
    if not isinstance(extra, dict):
        raise CatalogueError(f"{where}: extensions['{VALUE_SCHEMAS}'] must be an object")
    claims = dict(BUILTIN.claims)
    for name, described in document["claims"].items():
        constraints = extra.get(name, {})
        if not isinstance(constraints, dict):
            raise CatalogueError(f"{where}: the value schema of {name} must be a JSON object")
        try:
            Draft202012Validator.check_schema(constraints)
        except SchemaError as exc:
            raise CatalogueError(f"{where}: the value schema of {name}: {exc.message}") from exc
        standard = claims.get(name) if described["source"] == "oidc-core" else None
        if standard is not None:
            if described["type"] != standard.type or described.get("format") != standard.format:
                raise CatalogueError(
                    f"{where}: {name} is an OIDC Core §5.1 claim of type {standard.type}"
                    + (f" and format {standard.format}" if standard.format else "")
                    + "; its type and format cannot be changed"
                )
            constraints = {**standard.constraints, **constraints}
        claims[name] = ClaimDefinition(
            name=name,
            display_name=dict(described["display_name"]),
            description=described.get("description"),
            type=described["type"],
            format=described.get("format"),
            sensitivity=described["sensitivity"],
            source=described["source"],
            verifiable=described.get("verifiable"),
            constraints=constraints,
        )
    unknown = set(extra) - set(claims)
    if unknown:
        raise CatalogueError(
            f"{where}: value schemas for claims it does not describe: {', '.join(sorted(unknown))}"
        )
    return Catalogue(list(claims.values()))
