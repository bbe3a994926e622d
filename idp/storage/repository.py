"""Repository functions: the only way the rest of Porta reads or writes the database.

A :class:`Store` wraps one SQLAlchemy session (one unit of work). Callers
decide when to :meth:`Store.commit`; single-use rules (codes, refresh tokens,
assertion ``jti``) are enforced here by atomic conditional updates or unique
keys, so they hold across any number of workers and hosts.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import String, cast, delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from idp.base.clock import now
from idp.storage.models import (
    AccessToken,
    AuditEvent,
    AuthorizationCode,
    Client,
    ConsentGrant,
    ConsentRecord,
    Disclosure,
    EventOutbox,
    Grant,
    ImportedConsentRecord,
    Interaction,
    LoginSession,
    Persona,
    RefreshToken,
    SigningKey,
    UsedAssertion,
    User,
)


def _now() -> datetime:
    return now()


def _storable(key: str) -> bool:
    """Whether ``key`` could name a row: no backend row holds a NUL, and PostgreSQL text
    cannot even be compared with one (psycopg raises), so such a lookup finds nothing."""
    return "\x00" not in key


class Store:
    """Repository over one database session."""

    def __init__(self, session: Session) -> None:
        self.session = session

    # -- unit of work ---------------------------------------------------------------
    def commit(self) -> None:
        """Make everything written so far durable."""
        self.session.commit()

    def rollback(self) -> None:
        """Forget everything written since the last commit."""
        self.session.rollback()

    def close(self) -> None:
        """Release the connection."""
        self.session.close()

    # -- users ----------------------------------------------------------------------
    def create_user(self, email: str, password_hash: str, profile: dict[str, Any]) -> User:
        """Add a person; ``email`` is stored lower-cased and must be unused."""
        moment = _now()
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
        return self.session.get(User, user_id)

    def get_user_by_email(self, email: str) -> User | None:
        """A person by login email (case-insensitive)."""
        if not _storable(email):
            return None
        return self.session.scalar(select(User).where(User.email == email.strip().lower()))

    def list_users(self) -> list[User]:
        """Every person, oldest first."""
        return list(self.session.scalars(select(User).order_by(User.created_at)))

    def set_password_hash(self, user: User, password_hash: str) -> None:
        """Replace a person's password hash (re-hash on parameter change)."""
        user.password_hash = password_hash
        user.updated_at = _now()

    # -- clients --------------------------------------------------------------------
    def create_client(
        self,
        client_id: str,
        metadata: dict[str, Any],
        *,
        client_secret_hash: str | None,
        registration_token_hash: str | None = None,
        dynamic: bool = False,
    ) -> Client:
        """Register a client."""
        client = Client(
            client_id=client_id,
            client_secret_hash=client_secret_hash,
            registration_token_hash=registration_token_hash,
            metadata_=metadata,
            issued_at=_now(),
            dynamic=dynamic,
        )
        self.session.add(client)
        self.session.flush()
        return client

    def get_client(self, client_id: str) -> Client | None:
        """A client by id."""
        if not _storable(client_id):
            return None
        return self.session.get(Client, client_id)

    def list_clients(self) -> list[Client]:
        """Every client, oldest first."""
        return list(self.session.scalars(select(Client).order_by(Client.issued_at)))

    def update_client(
        self, client: Client, metadata: dict[str, Any], client_secret_hash: str | None
    ) -> None:
        """Replace a client's metadata (RFC 7592 §2.2)."""
        client.metadata_ = metadata
        client.client_secret_hash = client_secret_hash

    def delete_client(self, client: Client) -> None:
        """Remove a client and, by cascade, everything issued to it (RFC 7592 §2.3)."""
        self.session.execute(delete(Grant).where(Grant.client_id == client.client_id))
        self.session.execute(delete(AccessToken).where(AccessToken.client_id == client.client_id))
        self.session.delete(client)

    # -- signing keys ---------------------------------------------------------------
    def list_keys(self, *, include_retired: bool = False) -> list[SigningKey]:
        """Signing keys, newest first."""
        query = select(SigningKey).order_by(SigningKey.created_at.desc())
        if not include_retired:
            query = query.where(SigningKey.retired_at.is_(None))
        return list(self.session.scalars(query))

    def add_key(self, key: SigningKey) -> None:
        """Store a new key as the active one for its algorithm."""
        self.session.execute(
            update(SigningKey).where(SigningKey.alg == key.alg).values(active=False)
        )
        self.session.add(key)

    def retire_key(self, kid: str) -> bool:
        """Stop publishing a key; tokens it signed no longer verify."""
        key = self.session.get(SigningKey, kid)
        if key is None or key.retired_at is not None:
            return False
        if key.active:
            raise ValueError(f"key {kid} is the active {key.alg} key; rotate before retiring it")
        key.retired_at = _now()
        return True

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
        if not _storable(sid):
            return None
        row = self.session.get(LoginSession, sid)
        if row is None or row.ended_at is not None or row.expires_at <= _now():
            return None
        return row

    def end_login_session(self, sid: str) -> None:
        """End a login session (logout)."""
        self.session.execute(
            update(LoginSession)
            .where(LoginSession.sid == sid, LoginSession.ended_at.is_(None))
            .values(ended_at=_now())
        )

    # -- interactions ---------------------------------------------------------------
    def create_interaction(
        self, client_id: str, request: dict[str, Any], expires_at: datetime
    ) -> Interaction:
        """Keep a validated authorization request while the person logs in and consents."""
        row = Interaction(
            id=uuid.uuid4().hex,
            client_id=client_id,
            request=request,
            created_at=_now(),
            expires_at=expires_at,
        )
        self.session.add(row)
        return row

    def get_interaction(self, interaction_id: str) -> Interaction | None:
        """A pending, unexpired interaction."""
        if not _storable(interaction_id):
            return None
        row = self.session.get(Interaction, interaction_id)
        if row is None or row.completed_at is not None or row.expires_at <= _now():
            return None
        return row

    def complete_interaction(self, interaction_id: str) -> bool:
        """Close an interaction exactly once (a replayed consent post loses the race)."""
        result = self.session.execute(
            update(Interaction)
            .where(Interaction.id == interaction_id, Interaction.completed_at.is_(None))
            .values(completed_at=_now())
        )
        return result.rowcount == 1

    # -- remembered consent ---------------------------------------------------------
    def get_consent(self, user_id: str, client_id: str) -> ConsentGrant | None:
        """What the person approved for this client before."""
        return self.session.get(ConsentGrant, (user_id, client_id))

    def save_consent(self, user_id: str, client_id: str, scopes: list[str]) -> None:
        """Remember an approval (merging with what was approved before)."""
        row = self.session.get(ConsentGrant, (user_id, client_id))
        if row is None:
            self.session.add(
                ConsentGrant(user_id=user_id, client_id=client_id, scopes=scopes, granted_at=_now())
            )
        else:
            row.scopes = sorted(set(row.scopes) | set(scopes))
            row.granted_at = _now()

    def forget_consent(self, user_id: str, client_id: str) -> None:
        """Forget a remembered approval (after withdrawal or expiry the person is asked again)."""
        self.session.execute(
            delete(ConsentGrant).where(
                ConsentGrant.user_id == user_id, ConsentGrant.client_id == client_id
            )
        )

    # -- grants, codes, tokens ------------------------------------------------------
    def create_grant(self, **fields: Any) -> Grant:
        """Start a token family."""
        grant = Grant(id=uuid.uuid4().hex, created_at=_now(), **fields)
        self.session.add(grant)
        self.session.flush()  # codes and tokens reference it; no ORM relationship orders them
        return grant

    def get_grant(self, grant_id: str) -> Grant | None:
        """A grant by id, revoked or not."""
        return self.session.get(Grant, grant_id)

    def revoke_grant(self, grant_id: str, reason: str) -> None:
        """Revoke a grant: every access and refresh token issued under it stops working."""
        moment = _now()
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
            .values(used_at=_now())
        )
        return result.rowcount == 1

    def record_access_token(
        self, jti: str, client_id: str, grant_id: str | None, expires_at: datetime
    ) -> None:
        """Remember an issued access token by ``jti``."""
        self.session.add(
            AccessToken(jti=jti, client_id=client_id, grant_id=grant_id, expires_at=expires_at)
        )

    def get_access_token(self, jti: str) -> AccessToken | None:
        """An access token record by ``jti``."""
        return self.session.get(AccessToken, jti)

    def revoke_access_token(self, jti: str) -> None:
        """Revoke one access token (RFC 7009)."""
        self.session.execute(
            update(AccessToken)
            .where(AccessToken.jti == jti, AccessToken.revoked_at.is_(None))
            .values(revoked_at=_now())
        )

    def create_refresh_token(self, **fields: Any) -> None:
        """Store a refresh token digest."""
        self.session.add(RefreshToken(issued_at=_now(), **fields))

    def get_refresh_token(self, token_hash: str) -> RefreshToken | None:
        """A refresh token by digest, whatever its state."""
        return self.session.get(RefreshToken, token_hash)

    def use_refresh_token(self, token_hash: str) -> bool:
        """Mark a refresh token rotated; True only for the one request that wins."""
        result = self.session.execute(
            update(RefreshToken)
            .where(RefreshToken.token_hash == token_hash, RefreshToken.used_at.is_(None))
            .values(used_at=_now())
        )
        return result.rowcount == 1

    # -- client assertion replay ----------------------------------------------------
    def remember_assertion(self, client_id: str, jti: str, expires_at: datetime) -> bool:
        """Record a client assertion ``jti``; False when it was already used."""
        self.session.execute(delete(UsedAssertion).where(UsedAssertion.expires_at < _now()))
        try:
            with self.session.begin_nested():
                self.session.add(UsedAssertion(client_id=client_id, jti=jti, expires_at=expires_at))
        except IntegrityError:
            return False
        return True

    # -- consent ledger and disclosures ------------------------------------------------
    def get_consent_record(self, record_id: str) -> ConsentRecord | None:
        """A ledger entry by record_id."""
        return self.session.get(ConsentRecord, record_id)

    def record_disclosure(
        self, user_id: str, client_id: str, channel: str, claims: list[str]
    ) -> None:
        """Log that a relying party received these claims through ``channel``."""
        self.session.add(
            Disclosure(
                user_id=user_id, client_id=client_id, at=_now(), channel=channel, claims=claims
            )
        )

    def disclosures(self, user_id: str, client_id: str | None = None) -> list[Disclosure]:
        """A person's disclosure log, newest first."""
        query = select(Disclosure).where(Disclosure.user_id == user_id)
        if client_id is not None:
            query = query.where(Disclosure.client_id == client_id)
        return list(self.session.scalars(query.order_by(Disclosure.id.desc())))

    # -- audit ----------------------------------------------------------------------
    def audit(self, kind: str, **detail: Any) -> None:
        """Record a security event for operators."""
        self.session.add(AuditEvent(at=_now(), kind=kind, detail=detail))

    def audit_events(self, kind: str | None = None) -> list[AuditEvent]:
        """Recorded security events, oldest first."""
        query = select(AuditEvent).order_by(AuditEvent.id)
        if kind:
            query = query.where(AuditEvent.kind == kind)
        return list(self.session.scalars(query))

    # -- portability: imported history, erasure --------------------------------------
    def add_imported_record(self, **fields: Any) -> ImportedConsentRecord:
        """Keep one record of a ledger imported from another provider (history only)."""
        row = ImportedConsentRecord(id=uuid.uuid4().hex, imported_at=_now(), **fields)
        self.session.add(row)
        return row

    def imported_records(self, user_id: str) -> list[ImportedConsentRecord]:
        """A person's imported history: per import, in ledger order."""
        return list(
            self.session.scalars(
                select(ImportedConsentRecord)
                .where(ImportedConsentRecord.user_id == user_id)
                .order_by(
                    ImportedConsentRecord.imported_at,
                    ImportedConsentRecord.export_id,
                    ImportedConsentRecord.sequence,
                )
            )
        )

    def erase_person(self, user: User) -> None:
        """Remove a person and everything that holds their data (GDPR Art. 17).

        Ledger rows stay, detached (``user_id`` and ``persona_id`` cleared): their
        documents hold the RP's pseudonymous ``subject``, claim names and the RP's
        request, never the person's values, and the law may require them as proof.
        Grants and every token issued under them are deleted, so no token of the
        person verifies any more. Audit events that name the person's email or id
        keep their kind and time with those values replaced.
        """
        user_id = user.id
        self.session.flush()  # events and records queued in this unit of work first
        self.session.execute(
            update(ConsentRecord)
            .where(ConsentRecord.user_id == user_id)
            .values(user_id=None, persona_id=None)
        )
        self.session.execute(
            update(EventOutbox).where(EventOutbox.user_id == user_id).values(user_id=None)
        )
        grants = select(Grant.id).where(Grant.user_id == user_id)
        for model in (AuthorizationCode, RefreshToken, AccessToken):
            self.session.execute(delete(model).where(model.grant_id.in_(grants)))
        for model in (
            Grant,
            ConsentGrant,
            Disclosure,
            Persona,
            LoginSession,
            ImportedConsentRecord,
        ):
            self.session.execute(delete(model).where(model.user_id == user_id))
        for needle in {user.email, user_id}:
            for event in self.session.scalars(
                select(AuditEvent).where(cast(AuditEvent.detail, String).icontains(needle))
            ):
                event.detail = {
                    key: (
                        "erased"
                        if isinstance(value, str) and needle.lower() in value.lower()
                        else value
                    )
                    for key, value in event.detail.items()
                }
        self.session.delete(user)
        self.session.flush()
