"""The signing-keys aggregate: key pairs, private halves encrypted (see idp.keys).

A key row moves through: published (from ``created_at``, in the JWKS), signing (from
``sign_from``, while it is the newest key of its algorithm whose ``sign_from`` has come),
superseded (still published, still verifies), retired (only in the retired JWKS, for
receipts) — or, in an emergency, revoked (published nowhere, verifies nothing).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update

from idp.base.clock import now
from idp.storage.base import Aggregate, storable
from idp.storage.models import SigningKey


class Keys(Aggregate):
    """Signing keys."""

    def list_keys(
        self, *, include_retired: bool = False, include_revoked: bool = False
    ) -> list[SigningKey]:
        """Signing keys, newest first; revoked keys only when asked for by name."""
        query = select(SigningKey).order_by(SigningKey.created_at.desc())
        if not include_retired:
            query = query.where(SigningKey.retired_at.is_(None))
        if not include_revoked:
            query = query.where(SigningKey.revoked_at.is_(None))
        return list(self.session.scalars(query))

    def get_key(self, kid: str) -> SigningKey | None:
        """A key by ``kid``, whatever its state."""
        if not storable(kid):
            return None
        return self.session.get(SigningKey, kid)

    def key_revoked(self, kid: str) -> bool:
        """Whether ``kid`` was revoked (one primary-key read: checked on every verification)."""
        if not storable(kid):
            return True
        revoked = self.session.scalar(select(SigningKey.revoked_at).where(SigningKey.kid == kid))
        return revoked is not None

    def add_key(self, key: SigningKey) -> None:
        """Store a new key as the newest (active) one for its algorithm."""
        self.session.execute(
            update(SigningKey).where(SigningKey.alg == key.alg).values(active=False)
        )
        self.session.add(key)

    def add_key_after(self, key: SigningKey, newest_kid: str) -> bool:
        """Store ``key`` as the newest of its algorithm only if ``newest_kid`` still is.

        The conditional update is the claim: of several workers or hosts deciding at once
        that a rotation is due, exactly one adds a key; the others get False.
        """
        won = self.session.execute(
            update(SigningKey)
            .where(SigningKey.kid == newest_kid, SigningKey.active.is_(True))
            .values(active=False)
        )
        if won.rowcount != 1:
            return False
        self.session.add(key)
        return True

    def sign_now(self, kid: str, moment: datetime) -> None:
        """Bring a published key's signing start forward to ``moment`` (emergency only)."""
        self.session.execute(
            update(SigningKey).where(SigningKey.kid == kid).values(sign_from=moment)
        )

    def retire_key(self, kid: str) -> bool:
        """Stop publishing a key in the JWKS; tokens it signed no longer verify. It stays in
        the retired JWKS so that receipts it signed can still be checked."""
        key = self.get_key(kid)
        if key is None or key.retired_at is not None or key.revoked_at is not None:
            return False
        if key.active:
            raise ValueError(f"key {kid} is the active {key.alg} key; rotate before retiring it")
        moment = now()
        successor = self.session.scalar(
            select(SigningKey.sign_from)
            .where(
                SigningKey.alg == key.alg,
                SigningKey.sign_from > key.sign_from,
                SigningKey.sign_from <= moment,
                SigningKey.retired_at.is_(None),
                SigningKey.revoked_at.is_(None),
            )
            .limit(1)
        )
        if successor is None:
            raise ValueError(
                f"key {kid} still signs {key.alg}: the newer key is waiting out its publishing "
                "window (see `porta keys list`)"
            )
        key.retired_at = moment
        return True

    def revoke_key(self, kid: str) -> SigningKey | None:
        """Mark a key revoked (and no longer the active one); None if unknown or revoked."""
        key = self.get_key(kid)
        if key is None or key.revoked_at is not None:
            return None
        key.revoked_at = now()
        key.active = False
        return key
