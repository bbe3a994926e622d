"""Words for people: claim names, purposes and retention periods as the pages show them."""

from __future__ import annotations

import re
from typing import Any

from flask import current_app, has_app_context

CLAIM_LABELS = {
    "name": "Full name",
    "given_name": "Given name",
    "family_name": "Family name",
    "middle_name": "Middle name",
    "nickname": "Nickname",
    "preferred_username": "Preferred username",
    "profile": "Profile page",
    "picture": "Picture",
    "website": "Website",
    "email": "Email address",
    "email_verified": "Email verified",
    "gender": "Gender",
    "birthdate": "Date of birth",
    "zoneinfo": "Time zone",
    "locale": "Language and region",
    "phone_number": "Phone number",
    "phone_number_verified": "Phone number verified",
    "address": "Postal address",
    "updated_at": "Profile last updated",
}

PURPOSE_LABELS = {
    "service-provision": "to provide the service",
    "account-management": "to manage your account",
    "identity-verification": "to verify who you are",
    "delivery-of-goods": "to deliver goods",
    "customer-care": "for customer care",
    "personalisation": "to personalise what you see",
    "service-optimisation": "to improve the service",
    "marketing": "for marketing",
    "advertising": "for advertising",
    "research-and-development": "for research and development",
    "fraud-prevention": "to prevent fraud",
    "security": "for security",
    "legal-compliance": "to comply with the law",
}

RETENTION_FROM = {
    "collection": "from when it is collected",
    "end-of-relationship": "after you stop using the site",
    "withdrawal": "after you withdraw consent",
}

_DURATION = re.compile(
    r"^P(?:(?P<Y>\d+)Y)?(?:(?P<M>\d+)M)?(?:(?P<W>\d+)W)?(?:(?P<D>\d+)D)?"
    r"(?:T(?:(?P<H>\d+)H)?(?:(?P<Mi>\d+)M)?(?:(?P<S>\d+)S)?)?$"
)
_UNITS = (
    ("Y", "year"),
    ("M", "month"),
    ("W", "week"),
    ("D", "day"),
    ("H", "hour"),
    ("Mi", "minute"),
    ("S", "second"),
)


def claim_label(name: str) -> str:
    """Words for a claim: "Email address" for email, a custom claim's catalogue display name."""
    if name in CLAIM_LABELS:
        return CLAIM_LABELS[name]
    if has_app_context():
        catalogue = current_app.extensions.get("porta", {}).get("catalogue")
        definition = catalogue.get(name) if catalogue is not None else None
        if definition is not None:
            return definition.label
    return name


def purpose_label(purpose: str) -> str:
    """ "to provide the service" for service-provision."""
    return PURPOSE_LABELS.get(purpose, purpose)


def duration_text(duration: str) -> str:
    """An ISO 8601 duration in words: P1Y6M -> "1 year and 6 months"."""
    match = _DURATION.match(duration or "")
    if not match:
        return duration
    parts = []
    for key, unit in _UNITS:
        value = match.group(key)
        if value and int(value):
            parts.append(f"{int(value)} {unit}{'' if int(value) == 1 else 's'}")
    if not parts:
        return "no time"
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def retention_text(retention: dict[str, Any] | None) -> str:
    """ "kept 1 year after you stop using the site"."""
    if not retention:
        return "kept for an unstated time"
    return f"kept {duration_text(retention.get('duration', ''))} {RETENTION_FROM.get(retention.get('from'), '')}".strip()
