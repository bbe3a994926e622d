"""Personas: named sets of claim values a person shows to different relying parties (DESIGN §4).

A persona overrides the claims it sets; every other claim comes from the
base profile. A relying party never learns that other personas exist: the
consent record names the persona by an opaque reference derived per relying
party (consent_spec SPEC.md §18), so two RPs cannot match references.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from idp.base.encoding import b64url
from idp.storage import Store
from idp.storage.models import Persona, User

BASE = "base"  # the reference name of the base profile when no persona is chosen
MAX_PERSONAS = 20


class PersonaError(ValueError):
    """A persona operation that cannot be done (duplicate name, unknown persona…)."""


def list_personas(store: Store, user_id: str) -> list[Persona]:
    """A person's personas, oldest first."""
    return store.personas_of(user_id)


def get_persona(store: Store, user_id: str, persona_id: str | None) -> Persona | None:
    """One of the person's own personas (None for the base profile or someone else's id)."""
    if not persona_id:
        return None
    persona = store.get_persona(persona_id)
    if persona is None or persona.user_id != user_id:
        return None
    return persona


def create_persona(
    store: Store, user: User, name: str, claims: dict[str, Any] | None = None
) -> Persona:
    """Add a persona; names are unique per person."""
    name = name.strip()
    if not name or len(name) > 100:
        raise PersonaError("a persona needs a name of 1 to 100 characters")
    existing = list_personas(store, user.id)
    if any(p.name.lower() == name.lower() for p in existing):
        raise PersonaError(f"you already have a persona named {name!r}")
    if len(existing) >= MAX_PERSONAS:
        raise PersonaError(f"at most {MAX_PERSONAS} personas")
    return store.add_persona(user.id, name, dict(claims or {}))


def update_persona(
    persona: Persona,
    *,
    name: str | None = None,
    claims: dict[str, Any] | None = None,
    store: Store | None = None,
) -> None:
    """Rename a persona or replace its claim values; with ``store``, names stay unique."""
    if name is not None:
        name = name.strip()
        if not name or len(name) > 100:
            raise PersonaError("a persona needs a name of 1 to 100 characters")
        if store is not None and any(
            p.id != persona.id and p.name.lower() == name.lower()
            for p in list_personas(store, persona.user_id)
        ):
            raise PersonaError(f"you already have a persona named {name!r}")
        persona.name = name
    if claims is not None:
        persona.claims = {k: v for k, v in claims.items() if v not in (None, "")}


def delete_persona(store: Store, persona: Persona) -> None:
    """Remove a persona; relationships that used it fall back to the base profile."""
    store.delete_persona(persona)


def overlay(persona: Persona | None) -> dict[str, Any]:
    """The claim values a persona sets (empty for the base profile)."""
    return dict(persona.claims) if persona is not None else {}


def reference(persona_id: str | None, client_id: str, secret: str) -> str:
    """The opaque, per-RP reference of a persona for consent records (SPEC.md §18)."""
    material = f"{persona_id or BASE}\x00{client_id}".encode()
    digest = hmac.new(secret.encode(), material, hashlib.sha256).digest()
    return "prs-" + b64url(digest[:12])
