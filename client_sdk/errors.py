"""The SDK's exceptions: one small hierarchy, each message says what failed and why.

Catch :class:`PortaClientError` to handle every failure the SDK raises; catch the
subclasses to react to one kind of failure.
"""

from __future__ import annotations

from typing import Any


class PortaClientError(Exception):
    """Base class of every error raised by ``client_sdk``."""


class DiscoveryError(PortaClientError):
    """Provider metadata (OIDC Discovery 1.0 / RFC 8414) or its JWKS could not be used.

    Raised when the discovery document cannot be fetched or parsed, when its ``issuer``
    differs from the issuer the client was configured with (Discovery §4.3), or when a
    needed endpoint is not advertised.
    """


class OAuthError(PortaClientError):
    """The provider answered with an OAuth 2.0 error (RFC 6749 §4.1.2.1, §5.2).

    Attributes:
        error: the provider's ``error`` code, e.g. ``invalid_grant``.
        error_description: the provider's ``error_description``, if any.
        error_uri: the provider's ``error_uri``, if any.
        status_code: the HTTP status of the response, when there was one.
    """

    def __init__(
        self,
        error: str,
        error_description: str | None = None,
        *,
        error_uri: str | None = None,
        status_code: int | None = None,
        context: str = "",
    ) -> None:
        self.error = error
        self.error_description = error_description
        self.error_uri = error_uri
        self.status_code = status_code
        message = f"{context}: " if context else ""
        message += f"provider returned error {error!r}"
        if error_description:
            message += f" ({error_description})"
        if status_code is not None:
            message += f" [HTTP {status_code}]"
        super().__init__(message)

    @classmethod
    def from_response_body(
        cls, body: Any, *, status_code: int | None, context: str
    ) -> OAuthError:
        """Build the error from a decoded JSON error body (RFC 6749 §5.2)."""
        if isinstance(body, dict) and isinstance(body.get("error"), str):
            return cls(
                body["error"],
                body.get("error_description"),
                error_uri=body.get("error_uri"),
                status_code=status_code,
                context=context,
            )
        return cls(
            "invalid_response",
            "the provider's response was not a JSON OAuth error object",
            status_code=status_code,
            context=context,
        )


class AuthorizationResponseError(PortaClientError):
    """The authorization response cannot be trusted (wrong ``state`` or ``iss``, no ``code``).

    ``state`` binds the response to this browser (RFC 6749 §10.12); ``iss`` identifies the
    provider that sent it (RFC 9207 §2.4).  Either mismatch may mean an attack.
    """


class IDTokenError(PortaClientError):
    """An ID token failed validation (OIDC Core §3.1.3.7, §3.1.3.8, §12.2)."""


class ResponseValidationError(PortaClientError):
    """A provider response was well-formed HTTP but unusable (e.g. UserInfo ``sub`` mismatch)."""


class ConsentReceiptError(PortaClientError):
    """A consent receipt failed verification (signature, ``typ``, issuer or schema)."""


class SecurityEventError(PortaClientError):
    """A Security Event Token (RFC 8417) pushed to the RP (RFC 8935) was rejected.

    Attributes:
        err: the RFC 8935 §2.4 error code to answer the transmitter with
            (``invalid_request``, ``invalid_key``, ``invalid_issuer``,
            ``invalid_audience``, ``authentication_failed``, ``access_denied``).
    """

    def __init__(self, err: str, description: str) -> None:
        self.err = err
        self.description = description
        super().__init__(f"security event rejected ({err}): {description}")
