"""Porta's relying-party SDK: "Log in with your profile" for Python apps, against any OpenID provider.

Start with :class:`Client`; Flask apps use :mod:`client_sdk.flask`; consent events arrive
through :mod:`client_sdk.events`.  See ``client_sdk/README.md``.
"""

from client_sdk.client import AuthorizationRequest, Client, TokenSet
from client_sdk.errors import (
    AuthorizationResponseError,
    ConsentReceiptError,
    DiscoveryError,
    IDTokenError,
    OAuthError,
    PortaClientError,
    ResponseValidationError,
    SecurityEventError,
)
from client_sdk.events import ConsentEvent, EventReceiver, SecurityEvent

__all__ = [
    "AuthorizationRequest",
    "AuthorizationResponseError",
    "Client",
    "ConsentEvent",
    "ConsentReceiptError",
    "DiscoveryError",
    "EventReceiver",
    "IDTokenError",
    "OAuthError",
    "PortaClientError",
    "ResponseValidationError",
    "SecurityEvent",
    "SecurityEventError",
    "TokenSet",
]
