"""What every storage aggregate shares: the session it works in and small key checks."""

from __future__ import annotations

from sqlalchemy.orm import Session


def storable(key: str) -> bool:
    """Whether ``key`` could name a row: no backend row holds a NUL, and PostgreSQL text
    cannot even be compared with one (psycopg raises), so such a lookup finds nothing."""
    return "\x00" not in key


class ConflictError(ValueError):
    """A write broke a uniqueness rule (another request stored the same key first)."""


class Aggregate:
    """Base of the per-aggregate repositories that :class:`idp.storage.Store` combines."""

    session: Session
