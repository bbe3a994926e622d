"""SQLAlchemy 2 models: the provider's whole persistent state.

Secrets are never stored as given: client secrets, authorization codes,
refresh tokens and registration access tokens are kept as SHA-256 digests
(they are high-entropy random values, so a fast hash is the right tool);
passwords are argon2id; private signing keys are AES-GCM encrypted.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class UTCDateTime(TypeDecorator):
    """Aware UTC datetimes on every backend (SQLite keeps no zone: store naive UTC)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: object) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    """Declarative base of every Porta table."""


class User(Base):
    """A person with a login and a profile (OIDC Core §5.1 claims)."""

    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True, index=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    profile: Mapped[dict] = mapped_column(JSON, default=dict)
    # What this provider verified itself and when: {"email": {"value": …, "at": "…Z",
    # "method": "email-link"}}; exported as issuer-signed verified claims (SPEC.md §12).
    verifications: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Client(Base):
    """A relying party, registered by the CLI or dynamically (RFC 7591)."""

    __tablename__ = "clients"

    client_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    client_secret_hash: Mapped[str | None] = mapped_column(String(128), nullable=True)
    registration_token_hash: Mapped[str | None] = mapped_column(String(128), nullable=True)
    metadata_: Mapped[dict] = mapped_column("metadata", JSON, default=dict)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime())
    dynamic: Mapped[bool] = mapped_column(Boolean, default=False)


class SigningKey(Base):
    """A signing key pair; the private half is encrypted with a key derived from SECRET_KEY."""

    __tablename__ = "signing_keys"

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    alg: Mapped[str] = mapped_column(String(16))
    private_key_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    public_jwk: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # active: the newest key of its algorithm, the one that signs from ``sign_from`` on.
    # Inactive but not retired: still published, still verifies.
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # A key is published (in the JWKS) from created_at and signs only from sign_from, at
    # least one JWKS cache lifetime later, so no verifier meets a kid it has not seen.
    sign_from: Mapped[datetime] = mapped_column(UTCDateTime())
    # Emergency revocation (`porta keys revoke`): nothing it signed verifies any more, and
    # it is published nowhere, not even among the retired keys.
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class LoginSession(Base):
    """A person's login at the provider; its id is the `sid` claim (OIDC Front/Back-Channel)."""

    __tablename__ = "login_sessions"

    sid: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    auth_time: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class Interaction(Base):
    """A validated authorization request waiting for the person to log in and consent."""

    __tablename__ = "interactions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("clients.client_id", ondelete="CASCADE"))
    request: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True, index=True)


class Grant(Base):
    """One authorization: the family of everything issued from one code (RFC 9700 §4.14)."""

    __tablename__ = "grants"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), nullable=True, index=True
    )
    client_id: Mapped[str] = mapped_column(
        ForeignKey("clients.client_id", ondelete="CASCADE"), index=True
    )
    scope: Mapped[str] = mapped_column(Text)
    claims: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    auth_time: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    sid: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    revoked_reason: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # The consent record this grant was issued under, and the claims it may release
    # (None: no per-claim consent applies, e.g. grants older than the ledger).
    consent_record_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    granted_claims: Mapped[list | None] = mapped_column(JSON, nullable=True)
    # The persona whose values this grant releases (None: the base profile).
    persona_id: Mapped[str | None] = mapped_column(String(64), nullable=True)


class AuthorizationCode(Base):
    """A single-use authorization code (RFC 6749 §4.1.2), stored as its digest."""

    __tablename__ = "authorization_codes"

    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    grant_id: Mapped[str] = mapped_column(ForeignKey("grants.id", ondelete="CASCADE"))
    client_id: Mapped[str] = mapped_column(String(128))
    redirect_uri: Mapped[str] = mapped_column(Text)
    nonce: Mapped[str | None] = mapped_column(Text, nullable=True)
    code_challenge: Mapped[str | None] = mapped_column(String(128), nullable=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class AccessToken(Base):
    """Every JWT access token issued, by `jti`, so that revocation and introspection work."""

    __tablename__ = "access_tokens"

    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    grant_id: Mapped[str | None] = mapped_column(
        ForeignKey("grants.id", ondelete="CASCADE"), nullable=True, index=True
    )
    client_id: Mapped[str] = mapped_column(String(128), index=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class RefreshToken(Base):
    """An opaque refresh token (RFC 6749 §6), stored as its digest; rotated on every use."""

    __tablename__ = "refresh_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    grant_id: Mapped[str] = mapped_column(ForeignKey("grants.id", ondelete="CASCADE"), index=True)
    scope: Mapped[str] = mapped_column(Text)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True, index=True)


class UsedAssertion(Base):
    """`jti` values of client assertions already seen (RFC 7523 §3 item 7, replay)."""

    __tablename__ = "used_assertions"

    client_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    jti: Mapped[str] = mapped_column(String(255), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class AuditEvent(Base):
    """Security-relevant events (code reuse, refresh reuse, failed logins) for operators."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    kind: Mapped[str] = mapped_column(String(64))
    detail: Mapped[dict] = mapped_column(JSON)


class Persona(Base):
    """A named set of claim values ("Work", "Shopping"); unset claims fall back to the profile."""

    __tablename__ = "personas"
    __table_args__ = (UniqueConstraint("user_id", "name", name="uq_persona_user_name"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    claims: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ConsentRecord(Base):
    """One entry of a person's consent ledger (consent_spec SPEC.md §5, §8): append-only.

    ``document`` is the consent-record exactly as hashed; ``entry_hash`` is
    chain_hash(document, previous_hash). ``user_id`` is cleared, not the row,
    when an account is deleted, so the chain of hashes survives.
    """

    __tablename__ = "consent_records"
    __table_args__ = (UniqueConstraint("user_id", "sequence", name="uq_consent_user_sequence"),)

    record_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True, index=True
    )
    client_id: Mapped[str] = mapped_column(String(128), index=True)
    sequence: Mapped[int] = mapped_column(Integer)
    previous_hash: Mapped[str] = mapped_column(String(64))
    entry_hash: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16))
    document: Mapped[dict] = mapped_column(JSON)
    receipt: Mapped[str] = mapped_column(Text)
    # The persona whose values the record releases (internal id; the document carries an
    # opaque per-RP reference instead, SPEC.md §18).
    persona_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True, index=True)


class Disclosure(Base):
    """Each time a relying party received claims: which, when, and through which channel."""

    __tablename__ = "disclosures"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    client_id: Mapped[str] = mapped_column(String(128), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    channel: Mapped[str] = mapped_column(String(32))
    claims: Mapped[list] = mapped_column(JSON)


class EventOutbox(Base):
    """A Security Event Token waiting for push delivery (RFC 8935), retried with backoff."""

    __tablename__ = "event_outbox"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(128), index=True)
    user_id: Mapped[str | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True, index=True
    )
    endpoint: Mapped[str] = mapped_column(Text)
    token: Mapped[str] = mapped_column(Text)
    event_type: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16), index=True)  # pending, delivered, failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class ImportedConsentRecord(Base):
    """One consent record of a ledger the person brought from another provider (SPEC.md §12).

    Kept as history, never as consent given to this provider: nothing here is
    read when tokens or claims are released. ``document`` and ``receipt`` are
    stored exactly as exported, so the chain (SPEC.md §8) and the receipts
    (SPEC.md §7.3, against ``issuer``'s keys) can be checked again later.
    """

    __tablename__ = "imported_consent_records"
    __table_args__ = (
        UniqueConstraint("user_id", "export_id", "sequence", name="uq_imported_user_export_seq"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    export_id: Mapped[str] = mapped_column(String(64))
    issuer: Mapped[str] = mapped_column(Text)
    sequence: Mapped[int] = mapped_column(Integer)
    record_id: Mapped[str] = mapped_column(String(64))
    client_id: Mapped[str] = mapped_column(String(255))
    state: Mapped[str] = mapped_column(String(16))
    entry_hash: Mapped[str] = mapped_column(String(64))
    document: Mapped[dict] = mapped_column(JSON)
    receipt: Mapped[str | None] = mapped_column(Text, nullable=True)
    exported_at: Mapped[datetime] = mapped_column(UTCDateTime())
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # The local persona the relationship released at the exporter (its persona's ``sites``).
    persona_id: Mapped[str | None] = mapped_column(String(64), nullable=True)


class ImportedExport(Base):
    """An export imported here (SPEC.md §12): kept to refuse a replay, and, while its person's
    account exists, to re-export it as nested history (a chain of custody across moves)."""

    __tablename__ = "imported_exports"

    issuer: Mapped[str] = mapped_column(String(255), primary_key=True)
    export_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True, index=True
    )
    token: Mapped[str | None] = mapped_column(Text, nullable=True)
    self_asserted: Mapped[bool] = mapped_column(Boolean, default=False)
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime())


class PendingImport(Base):
    """An import waiting for its person to prove the email address (a link sent by mail)."""

    __tablename__ = "pending_imports"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    email: Mapped[str] = mapped_column(String(320))
    export: Mapped[str] = mapped_column(Text)
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class VerifiedClaim(Base):
    """A claim value another provider verified, kept with its verifier (OpenID Connect for
    Identity Assurance ``verified_claims``): released as such, never as a bare ``*_verified``."""

    __tablename__ = "verified_claims"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    claim: Mapped[str] = mapped_column(String(255))
    value: Mapped[Any] = mapped_column(JSON)
    verifier: Mapped[str] = mapped_column(Text)
    verified_at: Mapped[datetime] = mapped_column(UTCDateTime())
    token: Mapped[str] = mapped_column(Text)


class MailOutbox(Base):
    """A message waiting to be sent over SMTP; delivered like consent events (an outbox)."""

    __tablename__ = "mail_outbox"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    recipient: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(Text)
    text_body: Mapped[str] = mapped_column(Text)
    html_body: Mapped[str | None] = mapped_column(Text, nullable=True)
    purpose: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), index=True)  # pending, sent, failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    last_error: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True, index=True)


Index("ix_codes_grant", AuthorizationCode.grant_id)
