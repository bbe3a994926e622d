"""One exception class per OAuth 2.0 / OpenID Connect error code.

No endpoint builds error JSON by hand: it raises one of these, and the web
layer renders it as JSON (RFC 6749 §5.2), as a redirect to a registered
redirect_uri (RFC 6749 §4.1.2.1), or as a ``WWW-Authenticate`` challenge
(RFC 6750 §3).
"""

from __future__ import annotations


class OAuthError(Exception):
    """Base of every protocol error; ``error`` is the registered error code."""

    error = "server_error"
    status_code = 400
    default_description = ""

    def __init__(self, description: str | None = None, *, status_code: int | None = None) -> None:
        self.description = description or self.default_description
        if status_code is not None:
            self.status_code = status_code
        super().__init__(f"{self.error}: {self.description}")

    def to_dict(self) -> dict[str, str]:
        """The JSON body of RFC 6749 §5.2."""
        body = {"error": self.error}
        if self.description:
            body["error_description"] = self.description
        return body


# RFC 6749 §4.1.2.1 and §5.2
class InvalidRequestError(OAuthError):
    error = "invalid_request"


class InvalidClientError(OAuthError):
    error = "invalid_client"
    status_code = 401
    default_description = "client authentication failed"


class InvalidGrantError(OAuthError):
    error = "invalid_grant"


class UnauthorizedClientError(OAuthError):
    error = "unauthorized_client"


class UnsupportedGrantTypeError(OAuthError):
    error = "unsupported_grant_type"


class UnsupportedResponseTypeError(OAuthError):
    error = "unsupported_response_type"


class InvalidScopeError(OAuthError):
    error = "invalid_scope"


class InvalidTargetError(OAuthError):
    """RFC 8707 §2: the ``resource`` is invalid, unknown, or not allowed."""

    error = "invalid_target"


class AccessDeniedError(OAuthError):
    error = "access_denied"
    status_code = 403


class ServerError(OAuthError):
    error = "server_error"
    status_code = 500


class TemporarilyUnavailableError(OAuthError):
    error = "temporarily_unavailable"
    status_code = 503


# OIDC Core §3.1.2.6
class InteractionRequiredError(OAuthError):
    error = "interaction_required"


class LoginRequiredError(OAuthError):
    error = "login_required"


class ConsentRequiredError(OAuthError):
    error = "consent_required"


class AccountSelectionRequiredError(OAuthError):
    error = "account_selection_required"


class RequestNotSupportedError(OAuthError):
    error = "request_not_supported"


class RequestUriNotSupportedError(OAuthError):
    error = "request_uri_not_supported"


class RegistrationNotSupportedError(OAuthError):
    error = "registration_not_supported"


# RFC 6750 §3.1
class InvalidTokenError(OAuthError):
    error = "invalid_token"
    status_code = 401


class InsufficientScopeError(OAuthError):
    error = "insufficient_scope"
    status_code = 403


# RFC 7009 §2.2.1
class UnsupportedTokenTypeError(OAuthError):
    error = "unsupported_token_type"


# RFC 7591 §3.2.2
class InvalidRedirectUriError(OAuthError):
    error = "invalid_redirect_uri"


class InvalidClientMetadataError(OAuthError):
    error = "invalid_client_metadata"


# RFC 9396 §5
class InvalidAuthorizationDetailsError(OAuthError):
    error = "invalid_authorization_details"


class RequestTooLargeError(InvalidRequestError):
    """A body over the configured limit: still an OAuth error, with HTTP 413."""

    status_code = 413
    default_description = "request body too large"


class NotFoundError(OAuthError):
    """A resource (e.g. a client configuration, RFC 7592) that does not exist."""

    error = "invalid_request"
    status_code = 404


class BadRedirectError(Exception):
    """The request cannot be tied to a registered redirect_uri: never redirect (RFC 6749 §4.1.2.1).

    Rendered to the person as an error page, not sent anywhere.
    """

    def __init__(self, error: OAuthError) -> None:
        self.oauth_error = error
        super().__init__(str(error))
