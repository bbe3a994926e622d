"""The outbox aggregate: events waiting to be pushed to relying parties (RFC 8935), written in
the same transaction as what they announce and delivered afterwards.

A delivery is *claimed* before it is sent, atomically: on PostgreSQL the due
rows are selected ``FOR UPDATE SKIP LOCKED`` and leased in one transaction, so
concurrent claimers take disjoint rows without waiting for each other; on
SQLite each row is leased by a conditional update that only one claimer can
win. A lease lasts :data:`LEASE_SECONDS`; a worker that dies mid-delivery
leaves the row to be claimed again when the lease runs out (at-least-once
across crashes; receivers de-duplicate by the SET's ``jti``).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update

from idp.base.clock import now
from idp.storage.base import Aggregate
from idp.storage.models import EventOutbox, MailOutbox

# Longer than one delivery attempt can take (the outbound client's deadline), so a row
# is never claimed again while its first claimer may still be sending it.
LEASE_SECONDS = 120


class Outbox(Aggregate):
    """Queued deliveries."""

    def enqueue(
        self, *, client_id: str, user_id: str | None, endpoint: str, token: str, event_type: str
    ) -> EventOutbox:
        """Queue one delivery, due now (it is sent once the caller commits)."""
        moment = now()
        row = EventOutbox(
            id=uuid.uuid4().hex,
            client_id=client_id,
            user_id=user_id,
            endpoint=endpoint,
            token=token,
            event_type=event_type,
            status="pending",
            attempts=0,
            next_attempt_at=moment,
            created_at=moment,
        )
        self.session.add(row)
        return row

    def claim_due(self, limit: int, lease_seconds: int = LEASE_SECONDS) -> list[EventOutbox]:
        """Lease up to ``limit`` due event deliveries for this claimer and commit the lease.

        Each returned row counts one more attempt; no other claimer gets it until the
        lease runs out or :meth:`finish_delivery` records the outcome.
        """
        return self._claim(EventOutbox, limit, lease_seconds)

    def claim_mail(self, limit: int, lease_seconds: int = LEASE_SECONDS) -> list[MailOutbox]:
        """Lease up to ``limit`` due messages, as :meth:`claim_due` does for events."""
        return self._claim(MailOutbox, limit, lease_seconds)

    def _claim(self, model: Any, limit: int, lease_seconds: int) -> list[Any]:
        moment = now()
        lease_until = moment + timedelta(seconds=lease_seconds)
        due = (
            select(model.id, model.attempts)
            .where(model.status == "pending", model.next_attempt_at <= moment)
            .order_by(model.next_attempt_at)
            .limit(limit)
        )
        claimed: list[str] = []
        if self.session.get_bind().dialect.name == "postgresql":
            rows = self.session.execute(due.with_for_update(skip_locked=True)).all()
            ids = [row_id for row_id, _ in rows]
            if ids:
                self.session.execute(
                    update(model)
                    .where(model.id.in_(ids))
                    .values(attempts=model.attempts + 1, next_attempt_at=lease_until)
                )
            claimed = ids
        else:
            for row_id, attempts in self.session.execute(due).all():
                won = self.session.execute(
                    update(model)
                    .where(
                        model.id == row_id,
                        model.status == "pending",
                        model.attempts == attempts,
                        model.next_attempt_at <= moment,
                    )
                    .values(attempts=attempts + 1, next_attempt_at=lease_until)
                )
                if won.rowcount == 1:
                    claimed.append(row_id)
        self.session.commit()
        if not claimed:
            return []
        return list(
            self.session.scalars(
                select(model)
                .where(model.id.in_(claimed))
                .order_by(model.created_at)
                .execution_options(populate_existing=True)
            )
        )

    def finish_delivery(
        self,
        row: EventOutbox,
        *,
        accepted: bool,
        error: str | None,
        retry_at: datetime | None,
    ) -> None:
        """Record one attempt's outcome: delivered, due again at ``retry_at``, or failed."""
        if accepted:
            row.delivered_at = now()
        self._finish(row, "delivered" if accepted else None, error, retry_at)

    def enqueue_mail(
        self, *, recipient: str, subject: str, text_body: str, html_body: str | None, purpose: str
    ) -> MailOutbox:
        """Queue one message, due now (it is sent once the caller commits)."""
        moment = now()
        row = MailOutbox(
            id=uuid.uuid4().hex,
            recipient=recipient,
            subject=subject,
            text_body=text_body,
            html_body=html_body,
            purpose=purpose,
            status="pending",
            attempts=0,
            next_attempt_at=moment,
            created_at=moment,
        )
        self.session.add(row)
        return row

    def finish_mail(
        self, row: MailOutbox, *, sent: bool, error: str | None, retry_at: datetime | None
    ) -> None:
        """Record one sending attempt: sent, due again at ``retry_at``, or failed."""
        if sent:
            row.sent_at = now()
        self._finish(row, "sent" if sent else None, error, retry_at)

    def _finish(
        self, row: Any, done: str | None, error: str | None, retry_at: datetime | None
    ) -> None:
        """Close a claimed row as ``done``, or keep it for ``retry_at`` (failed without one)."""
        if done is not None:
            row.status, row.last_error = done, None
        else:
            row.last_error = error
            if retry_at is None:
                row.status = "failed"
            else:
                row.next_attempt_at = retry_at
        self.session.commit()

    def mail_to(self, recipient: str) -> list[MailOutbox]:
        """Every message queued for an address, newest first."""
        return list(
            self.session.scalars(
                select(MailOutbox)
                .where(MailOutbox.recipient == recipient)
                .order_by(MailOutbox.created_at.desc())
            )
        )

    def deliveries(self, user_id: str, client_id: str) -> list[EventOutbox]:
        """Every event queued for this relationship, newest first (shown to the person)."""
        return list(
            self.session.scalars(
                select(EventOutbox)
                .where(EventOutbox.user_id == user_id, EventOutbox.client_id == client_id)
                .order_by(EventOutbox.created_at.desc())
            )
        )

    def outbox_depth(self) -> dict[str, int]:
        """How many deliveries wait (pending, due or not): events and mail (for /metrics)."""
        return {
            kind: self.session.scalar(
                select(func.count()).select_from(model).where(model.status == "pending")
            )
            or 0
            for kind, model in (("events", EventOutbox), ("mail", MailOutbox))
        }
