"""The audit aggregate: security events for operators."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from idp.base import audit as audit_log
from idp.base.clock import now
from idp.storage.base import Aggregate
from idp.storage.models import AuditEvent


class Audit(Aggregate):
    """Recorded security events."""

    def audit(self, kind: str, **detail: Any) -> None:
        """Record a security event for operators: a row, and a line on the audit log."""
        self.session.add(AuditEvent(at=now(), kind=kind, detail=detail))
        audit_log.event(kind, **detail)

    def audit_events(self, kind: str | None = None) -> list[AuditEvent]:
        """Recorded security events, oldest first."""
        query = select(AuditEvent).order_by(AuditEvent.id)
        if kind:
            query = query.where(AuditEvent.kind == kind)
        return list(self.session.scalars(query))
