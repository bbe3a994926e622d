"""The consent-ledger aggregate: hash-chained consent records per person, the disclosure log and
history imported from other providers (consent_spec SPEC.md §5, §8, §12).

Records are only ever added. Every transition of a person's ledger first takes
the person's ledger lock (:meth:`Ledger.lock_ledger`) and only then reads the
current head, so two concurrent decisions of one person queue up instead of
both extending the same head (a fork).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update

from idp.base.clock import now
from idp.storage.base import Aggregate, storable
from idp.storage.models import ConsentRecord, Disclosure, ImportedConsentRecord, User


class Ledger(Aggregate):
    """Consent records, disclosures and imported history."""

    # -- the chain ------------------------------------------------------------------
    def lock_ledger(self, user_id: str) -> None:
        """Take the person's ledger lock until the unit of work ends.

        PostgreSQL locks the person's row (``SELECT … FOR UPDATE``); SQLite has no row
        locks, so a no-op write to the row takes the database's write lock, which other
        writers wait for (busy timeout) before they can read the head.
        """
        if self.session.get_bind().dialect.name == "sqlite":
            self.session.execute(update(User).where(User.id == user_id).values(email=User.email))
        else:
            self.session.execute(select(User.id).where(User.id == user_id).with_for_update())

    def ledger_head(self, user_id: str) -> ConsentRecord | None:
        """The newest record of the person's ledger (take :meth:`lock_ledger` first)."""
        return self.session.scalars(
            select(ConsentRecord)
            .where(ConsentRecord.user_id == user_id)
            .order_by(ConsentRecord.sequence.desc())
            .limit(1)
        ).first()

    def add_consent_record(self, row: ConsentRecord) -> ConsentRecord:
        """Append a record (the caller holds the ledger lock and commits)."""
        self.session.add(row)
        self.session.flush()
        return row

    def get_consent_record(self, record_id: str) -> ConsentRecord | None:
        """A ledger entry by record_id."""
        if not storable(record_id):
            return None
        return self.session.get(ConsentRecord, record_id)

    def latest_consent_record(self, user_id: str, client_id: str) -> ConsentRecord | None:
        """The newest record about one relationship (its current state)."""
        return self.session.scalars(
            select(ConsentRecord)
            .where(ConsentRecord.user_id == user_id, ConsentRecord.client_id == client_id)
            .order_by(ConsentRecord.sequence.desc())
            .limit(1)
        ).first()

    def consent_records(self, user_id: str, client_id: str | None = None) -> list[ConsentRecord]:
        """A person's records in ledger order, optionally for one relying party."""
        query = select(ConsentRecord).where(ConsentRecord.user_id == user_id)
        if client_id is not None:
            query = query.where(ConsentRecord.client_id == client_id)
        return list(self.session.scalars(query.order_by(ConsentRecord.sequence)))

    def consent_records_of_client(self, client_id: str) -> list[ConsentRecord]:
        """Every record about one relying party, oldest first."""
        return list(
            self.session.scalars(
                select(ConsentRecord)
                .where(ConsentRecord.client_id == client_id)
                .order_by(ConsentRecord.recorded_at, ConsentRecord.sequence)
            )
        )

    def latest_records_of_client(self, client_id: str) -> list[ConsentRecord]:
        """The newest record of each person's relationship with one relying party."""
        latest: dict[str, ConsentRecord] = {}
        for record in self.session.scalars(
            select(ConsentRecord)
            .where(ConsentRecord.client_id == client_id, ConsentRecord.user_id.is_not(None))
            .order_by(ConsentRecord.sequence)
        ):
            latest[record.user_id] = record
        return list(latest.values())

    def due_consent_records(self, states: set[str], moment: datetime) -> list[ConsentRecord]:
        """Records in one of ``states`` whose ``expires_at`` is at or before ``moment``."""
        return list(
            self.session.scalars(
                select(ConsentRecord).where(
                    ConsentRecord.expires_at <= moment, ConsentRecord.state.in_(states)
                )
            )
        )

    def relationship_client_ids(self, user_id: str) -> list[str]:
        """Client ids the person has a ledger history with, most recent first."""
        rows = self.session.execute(
            select(ConsentRecord.client_id, func.max(ConsentRecord.sequence))
            .where(ConsentRecord.user_id == user_id)
            .group_by(ConsentRecord.client_id)
            .order_by(func.max(ConsentRecord.sequence).desc())
        )
        return [client_id for client_id, _ in rows]

    def ledger_rows(self) -> Iterator[ConsentRecord]:
        """Every record, by person then sequence (for the ledger verifier)."""
        yield from self.session.scalars(
            select(ConsentRecord).order_by(ConsentRecord.user_id, ConsentRecord.sequence)
        )

    # -- disclosures ----------------------------------------------------------------
    def record_disclosure(
        self, user_id: str, client_id: str, channel: str, claims: list[str]
    ) -> None:
        """Log that a relying party received these claims through ``channel``."""
        self.session.add(
            Disclosure(
                user_id=user_id, client_id=client_id, at=now(), channel=channel, claims=claims
            )
        )

    def disclosures(
        self, user_id: str, client_id: str | None = None, limit: int | None = None
    ) -> list[Disclosure]:
        """A person's disclosure log, newest first (at most ``limit`` entries)."""
        query = select(Disclosure).where(Disclosure.user_id == user_id)
        if client_id is not None:
            query = query.where(Disclosure.client_id == client_id)
        query = query.order_by(Disclosure.id.desc())
        if limit is not None:
            query = query.limit(limit)
        return list(self.session.scalars(query))

    def last_disclosure_at(self, user_id: str, client_id: str) -> datetime | None:
        """When the relying party last received the person's claims."""
        return self.session.scalar(
            select(func.max(Disclosure.at)).where(
                Disclosure.user_id == user_id, Disclosure.client_id == client_id
            )
        )

    # -- imported history -----------------------------------------------------------
    def add_imported_record(self, **fields: Any) -> ImportedConsentRecord:
        """Keep one record of a ledger imported from another provider (history only)."""
        row = ImportedConsentRecord(id=uuid.uuid4().hex, imported_at=now(), **fields)
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
