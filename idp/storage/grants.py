"""The grants aggregate: pending authorization requests, token families (grants) and what they
issue — authorization codes, access-token records, refresh tokens — and client-assertion replay.

Single-use rules are atomic conditional updates or unique keys, so they hold across any number
of workers and hosts (RFC 6749 §4.1.2, §10.4; RFC 7523 §3).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from idp.base.clock import now
from idp.storage.base import Aggregate, storable
from idp.storage.models import (
    AccessToken,
    AuthorizationCode,
    Grant,
    Interaction,
    RefreshToken,
    UsedAssertion,
)


class Grants(Aggregate):
    """Interactions, grants, codes and tokens."""

    # -- interactions ---------------------------------------------------------------
    def create_interaction(
        self, client_id: str, request: dict[str, Any], expires_at: datetime
    ) -> Interaction:
        """Keep a validated authorization request while the person logs in and consents."""
        row = Interaction(
            id=uuid.uuid4().hex,
            client_id=client_id,
            request=request,
            created_at=now(),
            expires_at=expires_at,
        )
        self.session.add(row)
        return row

    def get_interaction(self, interaction_id: str) -> Interaction | None:
        """A pending, unexpired interaction."""
        if not storable(interaction_id):
            return None
        row = self.session.get(Interaction, interaction_id)
        if row is None or row.completed_at is not None or row.expires_at <= now():
            return None
        return row

    def complete_interaction(self, interaction_id: str) -> bool:
        """Close an interaction exactly once (a replayed consent post loses the race)."""
        result = self.session.execute(
            update(Interaction)
            .where(Interaction.id == interaction_id, Interaction.completed_at.is_(None))
            .values(completed_at=now())
        )
        return result.rowcount == 1

    # -- grants ---------------------------------------------------------------------
    def create_grant(self, **fields: Any) -> Grant:
        """Start a token family."""
        grant = Grant(id=uuid.uuid4().hex, created_at=now(), **fields)
        self.session.add(grant)
        self.session.flush()  # codes and tokens reference it; no ORM relationship orders them
        return grant

    def get_grant(self, grant_id: str) -> Grant | None:
        """A grant by id, revoked or not."""
        return self.session.get(Grant, grant_id)

    def live_grants(self, user_id: str, client_id: str | None = None) -> list[Grant]:
        """The person's unrevoked grants, for one client or for all."""
        query = select(Grant).where(Grant.user_id == user_id, Grant.revoked_at.is_(None))
        if client_id is not None:
            query = query.where(Grant.client_id == client_id)
        return list(self.session.scalars(query.order_by(Grant.created_at)))

    def parties_of_session(self, sid: str) -> list[tuple[str, str | None]]:
        """(client_id, user_id) of every grant a login session authorized."""
        rows = self.session.execute(
            select(Grant.client_id, Grant.user_id).where(Grant.sid == sid).distinct()
        )
        return [(client_id, user_id) for client_id, user_id in rows]

    def revoke_grant(self, grant_id: str, reason: str) -> None:
        """Revoke a grant: every access and refresh token issued under it stops working."""
        moment = now()
        self.session.execute(
            update(Grant)
            .where(Grant.id == grant_id, Grant.revoked_at.is_(None))
            .values(revoked_at=moment, revoked_reason=reason)
        )
        self.session.execute(
            update(AccessToken)
            .where(AccessToken.grant_id == grant_id, AccessToken.revoked_at.is_(None))
            .values(revoked_at=moment)
        )

    def revoke_grants_of_session(self, sid: str, reason: str) -> None:
        """Revoke what a login session's authorizations issued (used on logout)."""
        for grant_id in self.session.scalars(
            select(Grant.id).where(Grant.sid == sid, Grant.revoked_at.is_(None))
        ):
            self.revoke_grant(grant_id, reason)

    # -- authorization codes -------------------------------------------------------
    def create_code(self, **fields: Any) -> None:
        """Store an authorization code digest."""
        self.session.add(AuthorizationCode(**fields))

    def get_code(self, code_hash: str) -> AuthorizationCode | None:
        """A code by digest, whatever its state."""
        return self.session.get(AuthorizationCode, code_hash)

    def redeem_code(self, code_hash: str) -> bool:
        """Mark a code used; True only for the one request that wins (RFC 6749 §4.1.2)."""
        result = self.session.execute(
            update(AuthorizationCode)
            .where(AuthorizationCode.code_hash == code_hash, AuthorizationCode.used_at.is_(None))
            .values(used_at=now())
        )
        return result.rowcount == 1

    # -- access tokens --------------------------------------------------------------
    def record_access_token(
        self, jti: str, client_id: str, grant_id: str | None, expires_at: datetime
    ) -> None:
        """Remember an issued access token by ``jti``."""
        self.session.add(
            AccessToken(jti=jti, client_id=client_id, grant_id=grant_id, expires_at=expires_at)
        )

    def get_access_token(self, jti: str) -> AccessToken | None:
        """An access token record by ``jti``."""
        if not storable(jti):
            return None
        return self.session.get(AccessToken, jti)

    def revoke_access_token(self, jti: str) -> None:
        """Revoke one access token (RFC 7009)."""
        self.session.execute(
            update(AccessToken)
            .where(AccessToken.jti == jti, AccessToken.revoked_at.is_(None))
            .values(revoked_at=now())
        )

    # -- refresh tokens -------------------------------------------------------------
    def create_refresh_token(self, **fields: Any) -> None:
        """Store a refresh token digest."""
        self.session.add(RefreshToken(issued_at=now(), **fields))

    def get_refresh_token(self, token_hash: str) -> RefreshToken | None:
        """A refresh token by digest, whatever its state."""
        return self.session.get(RefreshToken, token_hash)

    def use_refresh_token(self, token_hash: str) -> bool:
        """Mark a refresh token rotated; True only for the one request that wins."""
        result = self.session.execute(
            update(RefreshToken)
            .where(RefreshToken.token_hash == token_hash, RefreshToken.used_at.is_(None))
            .values(used_at=now())
        )
        return result.rowcount == 1

    # -- client assertion replay ----------------------------------------------------
    def remember_assertion(self, client_id: str, jti: str, expires_at: datetime) -> bool:
        """Record a client assertion ``jti``; False when it was already used (RFC 7523 §3)."""
        self.session.execute(delete(UsedAssertion).where(UsedAssertion.expires_at < now()))
        try:
            with self.session.begin_nested():
                self.session.add(UsedAssertion(client_id=client_id, jti=jti, expires_at=expires_at))
        except IntegrityError:
            return False
        return True
