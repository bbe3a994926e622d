"""What a protocol step needs from its surroundings, passed explicitly (no globals)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from idp.base.settings import Settings

if TYPE_CHECKING:  # the layers above provide them; the base layer only names their types
    from idp.keys import KeyRing
    from idp.profile.catalogue import Catalogue
    from idp.storage import Store


@dataclass
class Context:
    """Configuration, the unit of work and the key ring for one request."""

    settings: Settings
    store: Store
    keys: KeyRing
    # Fetches a JSON document over HTTPS (client jwks_uri); replaced in tests by nothing:
    # tests serve real documents on 127.0.0.1.
    fetch_json: Callable[[str], Any]
    # The claims catalogue in force (built-in claims plus the operator's PORTA_CLAIMS_CATALOGUE).
    catalogue: Catalogue

    @property
    def issuer(self) -> str:
        """The issuer identifier."""
        return self.settings.issuer

    def endpoint(self, path: str) -> str:
        """Absolute URL of one of our endpoints."""
        return self.issuer + path


# Endpoint paths, in one place: discovery, the web layer and audience checks agree on them.
PATHS = {
    "authorization_endpoint": "/authorize",
    "token_endpoint": "/token",
    "userinfo_endpoint": "/userinfo",
    "jwks_uri": "/jwks.json",
    # Retired keys, for verifying old receipts only (consent_spec SPEC.md §12.4); never signing.
    "retired_jwks_uri": "/jwks-retired.json",
    "registration_endpoint": "/register",
    "revocation_endpoint": "/revoke",
    "introspection_endpoint": "/introspect",
    "end_session_endpoint": "/logout",
    "consent_receipts_endpoint": "/consent/receipts",
}
