"""The Store: one unit of work over every aggregate.

The rest of Porta reads and writes the database only through a :class:`Store`
and its named operations, grouped by aggregate in this package (accounts,
clients, keys, grants, ledger, outbox, audit, cleanup). A Store wraps one SQLAlchemy
session; :meth:`Store.unit_of_work` commits what a block wrote, or rolls all of
it back when the block raises.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import String, cast, delete, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from idp.storage.accounts import Accounts
from idp.storage.audit import Audit
from idp.storage.base import ConflictError
from idp.storage.cleanup import Cleanup
from idp.storage.clients import Clients
from idp.storage.grants import Grants
from idp.storage.keys import Keys
from idp.storage.ledger import Ledger
from idp.storage.models import (
    AccessToken,
    AuditEvent,
    AuthorizationCode,
    ConsentRecord,
    Disclosure,
    EventOutbox,
    Grant,
    ImportedConsentRecord,
    LoginSession,
    Persona,
    RefreshToken,
    User,
    VerifiedClaim,
)
from idp.storage.outbox import Outbox
from idp.storage.portability import Portability


class Store(Accounts, Clients, Keys, Grants, Ledger, Outbox, Portability, Audit, Cleanup):
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

    def flush(self) -> None:
        """Send pending writes now, inside the transaction; a uniqueness conflict raises
        :class:`ConflictError`."""
        try:
            self.session.flush()
        except IntegrityError as exc:
            raise ConflictError(str(exc.orig)) from exc

    def close(self) -> None:
        """Release the connection."""
        self.session.close()

    # -- health ----------------------------------------------------------------------
    def ping(self) -> None:
        """One round trip to the database; raises if it cannot be reached (/readyz)."""
        self.session.execute(text("SELECT 1"))

    def schema_revision(self) -> str | None:
        """The migration the database is at (None before the first one)."""
        return self.session.scalar(text("SELECT version_num FROM alembic_version"))

    @contextmanager
    def unit_of_work(self) -> Iterator[Store]:
        """Commit what the block writes when it ends normally; roll it all back if it raises.

        Whatever the person is told after the block has been committed first.
        """
        try:
            yield self
        except BaseException:
            self.session.rollback()
            raise
        self.session.commit()

    # -- erasure (every aggregate that holds a person's data) --------------------------
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
            Disclosure,
            Persona,
            LoginSession,
            ImportedConsentRecord,
            VerifiedClaim,
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
