"""The signing-keys aggregate: key pairs, private halves encrypted (see idp.keys)."""

from __future__ import annotations

from sqlalchemy import select, update

from idp.base.clock import now
from idp.storage.base import Aggregate
from idp.storage.models import SigningKey


class Keys(Aggregate):
    """Signing keys."""

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
        key.retired_at = now()
        return True
