"""The rules of editing a profile or a persona, whoever edits it (the profile pages, an API or
the CLI): the sign-in email is unique, a changed value is no longer verified, and the profile
records when it last changed (OIDC Core §5.1 ``email_verified``, ``phone_number_verified``,
``updated_at``)."""

from __future__ import annotations

from typing import Any

from idp.profile.catalogue import Catalogue, normalise_phone
from idp.storage import Store
from idp.storage.models import Persona, User

# Claims whose value the provider may have verified, and the flag that says so.
VERIFIED_FLAG = {"email": "email_verified", "phone_number": "phone_number_verified"}


def same_value(claim: str, new: Any, old: Any) -> bool:
    """Whether a verified claim keeps its value (a phone number written differently does)."""
    if claim == "phone_number" and isinstance(new, str) and isinstance(old, str):
        return normalise_phone(new) == normalise_phone(old)
    if claim == "email" and isinstance(new, str) and isinstance(old, str):
        return new.lower() == old.lower()
    return new == old


def email_taken(store: Store, email: str | None, user_id: str) -> bool:
    """Whether another person signs in with ``email`` here."""
    if not email:
        return False
    owner = store.get_user_by_email(email)
    return owner is not None and owner.id != user_id


def profile_values(user: User) -> dict[str, Any]:
    """The person's base profile claim values, the sign-in email included."""
    values = dict(user.profile or {})
    values.setdefault("email", user.email)
    return values


def save_profile(store: Store, user: User, catalogue: Catalogue, values: dict[str, Any]) -> None:
    """Replace the person's editable claims with ``values`` (already validated).

    Claims the person cannot edit (provider-set ones) stay; a changed email or
    phone number loses its verified flag; the sign-in email follows the email
    claim; ``updated_at`` is stamped.
    """
    before = profile_values(user)
    profile = {
        k: v
        for k, v in (user.profile or {}).items()
        if k not in catalogue or not catalogue.get(k).editable
    }
    for name, value in values.items():
        if value is not None:
            profile[name] = value
    for claim, flag in VERIFIED_FLAG.items():
        if not same_value(claim, profile.get(claim), before.get(claim)):
            profile[flag] = False  # a changed value has not been verified (OIDC Core §5.1)
    email = values.get("email")
    store.save_profile(user, profile, email=email if email and email != user.email else None)


def persona_claims(
    catalogue: Catalogue, persona: Persona, values: dict[str, Any], base: dict[str, Any]
) -> dict[str, Any]:
    """A persona's claim values after an edit (``values`` already validated).

    Provider-set values stay as they were, except that a persona's own email or
    phone number is not one the provider verified (OIDC Core §5.1 email_verified).
    """
    claims = {k: v for k, v in values.items() if v is not None}
    kept = {
        k: v for k, v in persona.claims.items() if k in catalogue and not catalogue.get(k).editable
    }
    claims.update({k: v for k, v in kept.items() if k not in VERIFIED_FLAG.values()})
    for claim, flag in VERIFIED_FLAG.items():
        if claim in claims and not same_value(claim, claims[claim], base.get(claim)):
            claims[flag] = False
    return claims
