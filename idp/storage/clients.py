"""The clients aggregate: registered relying parties (RFC 7591, RFC 7592)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select

from idp.base.clock import now
from idp.storage.base import Aggregate, storable
from idp.storage.models import AccessToken, Client, Grant


class Clients(Aggregate):
    """Registered clients."""

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
            issued_at=now(),
            dynamic=dynamic,
        )
        self.session.add(client)
        self.session.flush()
        return client

    def get_client(self, client_id: str) -> Client | None:
        """A client by id."""
        if not storable(client_id):
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
