"""The cleanup aggregate: rows whose work is done, deleted in bounded batches.

What goes, once it is older than the retention (``PORTA_CLEANUP_RETENTION_SECONDS``):

=====================  =====================================================  ==================
table                  deleted when                                           index used
=====================  =====================================================  ==================
authorization_codes    expired (used or not; RFC 6749 §4.1.2: 60 s lifetime)  expires_at
access_tokens          expired (the JWT's ``exp`` already refuses it)         expires_at
refresh_tokens         used (rotated), or expired                             used_at, expires_at
interactions           completed, or expired                                  completed_at, expires_at
used_assertions        expired (RFC 7523 §3: replay needs only the lifetime)  expires_at
pending_imports        expired (its email link no longer works)               expires_at
mail_outbox            sent                                                   sent_at
=====================  =====================================================  ==================

The retention keeps evidence for a while after expiry: a used refresh token is what
detects its reuse (RFC 9700 §4.14.2), so reuse is detected for the retention after rotation.
Never touched: the consent ledger (append-only, SPEC.md §8), grants, disclosures, the audit
log and the event outbox (the person's dashboard shows every notification).

Each call deletes at most ``batch`` rows per table, chosen by primary key from an indexed
condition; on PostgreSQL the batch is locked ``FOR UPDATE SKIP LOCKED`` so that several
hosts cleaning at once take disjoint rows and never wait for or deadlock with each other.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, delete, or_, select, tuple_

from idp.base.clock import now
from idp.storage.base import Aggregate
from idp.storage.models import (
    AccessToken,
    AuthorizationCode,
    Interaction,
    MailOutbox,
    PendingImport,
    RefreshToken,
    UsedAssertion,
)


def _expired(cutoff: datetime) -> dict[str, tuple[Any, ColumnElement[bool]]]:
    """Per table: its model and the (index-backed) condition of a row that may go."""
    return {
        "authorization_codes": (AuthorizationCode, AuthorizationCode.expires_at < cutoff),
        "access_tokens": (AccessToken, AccessToken.expires_at < cutoff),
        "refresh_tokens": (
            RefreshToken,
            or_(RefreshToken.used_at < cutoff, RefreshToken.expires_at < cutoff),
        ),
        "interactions": (
            Interaction,
            or_(Interaction.completed_at < cutoff, Interaction.expires_at < cutoff),
        ),
        "used_assertions": (UsedAssertion, UsedAssertion.expires_at < cutoff),
        "pending_imports": (PendingImport, PendingImport.expires_at < cutoff),
        "mail_outbox": (MailOutbox, MailOutbox.sent_at < cutoff),
    }


CLEANED_TABLES = tuple(_expired(now()))


class Cleanup(Aggregate):
    """Deleting what has expired."""

    def purge_batch(self, retention_seconds: int, batch: int) -> dict[str, int]:
        """Delete up to ``batch`` finished rows per table, older than the retention; commit.

        Returns how many rows each table lost. Call again while any count equals ``batch``.
        """
        cutoff = now() - timedelta(seconds=retention_seconds)
        postgres = self.session.get_bind().dialect.name == "postgresql"
        counts: dict[str, int] = {}
        for table, (model, condition) in _expired(cutoff).items():
            keys = list(model.__table__.primary_key.columns)
            chosen = select(*keys).where(condition).limit(batch)
            if postgres:
                chosen = chosen.with_for_update(skip_locked=True)
            if len(keys) == 1:
                doomed = delete(model).where(keys[0].in_(chosen.scalar_subquery()))
                counts[table] = self.session.execute(doomed).rowcount
            else:  # used_assertions: (client_id, jti)
                rows = [tuple(row) for row in self.session.execute(chosen)]
                doomed = delete(model).where(tuple_(*keys).in_(rows))
                counts[table] = self.session.execute(doomed).rowcount if rows else 0
            self.session.commit()  # one short transaction per table and batch
        return counts
