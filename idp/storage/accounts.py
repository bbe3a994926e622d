"""The accounts aggregate: people, their personas and their login sessions."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select, update

from idp.base.clock import now, timestamp
from idp.storage.base import Aggregate, storable
from idp.storage.models import LoginSession, Persona, User


class Accounts(Aggregate):
    """People, personas and login sessions."""

    # -- people ---------------------------------------------------------------------
    def create_user(self, email: str, password_hash: str, profile: dict[str, Any]) -> User:
        """Add a person; ``email`` is stored lower-cased and must be unused."""
        moment = now()
        user = User(
            id=uuid.uuid4().hex,
            email=email.strip().lower(),
            password_hash=password_hash,
            profile=profile,
            created_at=moment,
            updated_at=moment,
        )
        self.session.add(user)
        self.session.flush()
        return user

    def get_user(self, user_id: str) -> User | None:
        """A person by id."""
        if not storable(user_id):
            return None
        return self.session.get(User, user_id)

    def get_user_by_email(self, email: str) -> User | None:
        """A person by login email (case-insensitive)."""
        if not storable(email):
            return None
        return self.session.scalar(select(User).where(User.email == email.strip().lower()))

    def list_users(self) -> list[User]:
        """Every person, oldest first."""
        return list(self.session.scalars(select(User).order_by(User.created_at)))

    def set_password_hash(self, user: User, password_hash: str) -> None:
        """Replace a person's password hash (re-hash on parameter change)."""
        user.password_hash = password_hash
        user.updated_at = now()

    def save_profile(self, user: User, profile: dict[str, Any], email: str | None = None) -> None:
        """Replace a person's profile (and login email), stamping ``updated_at``."""
        user.profile = profile
        if email is not None:
            user.email = email
        user.updated_at = now()
        self.session.flush()

    def record_verification(self, user: User, claim: str, value: Any, method: str) -> None:
        """Note that this provider verified ``claim`` = ``value`` itself, now (``method``)."""
        verifications = dict(user.verifications or {})
        verifications[claim] = {"value": value, "at": timestamp(now()), "method": method}
        user.verifications = verifications

    # -- personas -------------------------------------------------------------------
    def personas_of(self, user_id: str) -> list[Persona]:
        """A person's personas, oldest first."""
        return list(
            self.session.scalars(
                select(Persona).where(Persona.user_id == user_id).order_by(Persona.created_at)
            )
        )

    def get_persona(self, persona_id: str) -> Persona | None:
        """A persona by id, whoever it belongs to."""
        if not storable(persona_id):
            return None
        return self.session.get(Persona, persona_id)

    def add_persona(
        self, user_id: str, name: str, claims: dict[str, Any], persona_id: str | None = None
    ) -> Persona:
        """Store a new persona (names are unique per person, also in the schema)."""
        persona = Persona(
            id=persona_id or uuid.uuid4().hex,
            user_id=user_id,
            name=name,
            claims=claims,
            created_at=now(),
        )
        self.session.add(persona)
        self.session.flush()
        return persona

    def delete_persona(self, persona: Persona) -> None:
        """Remove a persona."""
        self.session.delete(persona)

    # -- login sessions -------------------------------------------------------------
    def create_login_session(self, user_id: str, auth_time: datetime, expires_at: datetime) -> str:
        """Start a login session; returns its ``sid``."""
        sid = uuid.uuid4().hex
        self.session.add(
            LoginSession(sid=sid, user_id=user_id, auth_time=auth_time, expires_at=expires_at)
        )
        return sid

    def get_login_session(self, sid: str) -> LoginSession | None:
        """A live (not ended, not expired) login session."""
        if not storable(sid):
            return None
        row = self.session.get(LoginSession, sid)
        if row is None or row.ended_at is not None or row.expires_at <= now():
            return None
        return row

    def login_session_ids(self, user_id: str) -> list[str]:
        """Every login session of a person, ended or not."""
        return list(
            self.session.scalars(select(LoginSession.sid).where(LoginSession.user_id == user_id))
        )

    def end_login_session(self, sid: str) -> None:
        """End a login session (logout)."""
        self.session.execute(
            update(LoginSession)
            .where(LoginSession.sid == sid, LoginSession.ended_at.is_(None))
            .values(ended_at=now())
        )
