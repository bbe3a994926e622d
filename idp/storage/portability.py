"""The portability aggregate: exports imported here, imports waiting for email proof, and
claims verified by another provider, kept with their verifier (consent_spec SPEC.md §12)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select, update

from idp.base.clock import now
from idp.storage.base import Aggregate, storable
from idp.storage.models import ImportedExport, PendingImport, VerifiedClaim


class Portability(Aggregate):
    """Imported exports, pending imports, verified claims."""

    # -- imported exports: replay and chain of custody ----------------------------------
    def export_was_imported(self, issuer: str, export_id: str) -> bool:
        """Whether this export was imported here before (a replay)."""
        return self.session.get(ImportedExport, (issuer, export_id)) is not None

    def remember_import(
        self, issuer: str, export_id: str, user_id: str, token: str | None, *, self_asserted: bool
    ) -> None:
        """Keep an imported export; a second import of it fails at flush (ConflictError)."""
        self.session.add(
            ImportedExport(
                issuer=issuer,
                export_id=export_id,
                user_id=user_id,
                token=token,
                self_asserted=self_asserted,
                imported_at=now(),
            )
        )

    def imports_of(self, user_id: str) -> list[ImportedExport]:
        """The exports a person imported here, oldest first."""
        return list(
            self.session.scalars(
                select(ImportedExport)
                .where(ImportedExport.user_id == user_id)
                .order_by(ImportedExport.imported_at)
            )
        )

    # -- pending imports ----------------------------------------------------------------
    def add_pending_import(
        self, *, token_hash: str, email: str, export: str, password_hash: str, expires_at: datetime
    ) -> PendingImport:
        """Hold an import until its person opens the link sent to ``email``."""
        row = PendingImport(
            id=uuid.uuid4().hex,
            token_hash=token_hash,
            email=email,
            export=export,
            password_hash=password_hash,
            created_at=now(),
            expires_at=expires_at,
        )
        self.session.add(row)
        return row

    def get_pending_import(self, token_hash: str) -> PendingImport | None:
        """A pending import by its link's digest, while it is unused and unexpired."""
        if not storable(token_hash):
            return None
        row = self.session.scalar(
            select(PendingImport).where(PendingImport.token_hash == token_hash)
        )
        if row is None or row.completed_at is not None or row.expires_at <= now():
            return None
        return row

    def complete_pending_import(self, row_id: str) -> bool:
        """Use a pending import's link exactly once; the export it held is dropped."""
        result = self.session.execute(
            update(PendingImport)
            .where(PendingImport.id == row_id, PendingImport.completed_at.is_(None))
            .values(completed_at=now(), export="", password_hash="")
        )
        return result.rowcount == 1

    # -- verified claims ----------------------------------------------------------------
    def add_verified_claim(
        self, user_id: str, claim: str, value: Any, verifier: str, verified_at: datetime, token: str
    ) -> VerifiedClaim:
        """Keep a claim another provider verified, with its verifier and signed evidence."""
        row = VerifiedClaim(
            user_id=user_id,
            claim=claim,
            value=value,
            verifier=verifier,
            verified_at=verified_at,
            token=token,
        )
        self.session.add(row)
        return row

    def verified_claims_of(self, user_id: str) -> list[VerifiedClaim]:
        """The claims others verified for a person, oldest first."""
        return list(
            self.session.scalars(
                select(VerifiedClaim)
                .where(VerifiedClaim.user_id == user_id)
                .order_by(VerifiedClaim.id)
            )
        )
