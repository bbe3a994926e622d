"""Authorization endpoint: RFC 6749 §4.1.1-§4.1.2, OIDC Core §3.1.2, RFC 9207, RFC 9700 §2.1.

The steps, in the order the specs give them:

1. :func:`check_client_and_redirect_uri` — the client is known and the
   redirect_uri is registered, compared as an exact string (RFC 9700 §4.1.3).
   Until both hold, errors are shown to the person and never redirected.
2. :func:`validate_authorization_request` — every other parameter; errors now
   go back to the client's redirect_uri with ``state`` and ``iss``.
3. :func:`next_step` — login, consent, or issue a code (prompt, max_age,
   id_token_hint, remembered consent).
4. :func:`issue_code` — a single-use code bound to the client, redirect_uri,
   PKCE challenge and nonce (RFC 6749 §4.1.2).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlencode, urlsplit

import jwt

import consent_spec
from idp.base.clock import later, now
from idp.base.context import Context
from idp.base.encoding import digest, random_token, split_scope
from idp.base.errors import (
    BadRedirectError,
    ConsentRequiredError,
    InvalidAuthorizationDetailsError,
    InvalidRequestError,
    LoginRequiredError,
    OAuthError,
    RequestNotSupportedError,
    RequestUriNotSupportedError,
    UnauthorizedClientError,
    UnsupportedResponseTypeError,
)
from idp.consent import decisions
from idp.consent.consent_request import (
    build_request,
    claims_requested,
    detail_claims,
    parse_authorization_details,
)
from idp.profile.claims import granted_scopes, parse_claims_request, requested_claim_names
from idp.protocol import pkce
from idp.protocol.clients import is_public
from idp.storage.models import Client, User

SUPPORTED_SCOPES = ("openid", "profile", "email", "address", "phone", "offline_access")
PROMPT_VALUES = ("none", "login", "consent", "select_account")
RESPONSE_MODES = ("query", "form_post")
# Parameters whose duplication makes the request's origin unknowable.
IDENTITY_PARAMS = ("client_id", "redirect_uri")


class AuthorizationError(Exception):
    """An error to send back to the client's redirect_uri (RFC 6749 §4.1.2.1)."""

    def __init__(
        self, error: OAuthError, redirect_uri: str, state: str | None, response_mode: str
    ) -> None:
        self.oauth_error = error
        self.redirect_uri = redirect_uri
        self.state = state
        self.response_mode = response_mode
        super().__init__(str(error))


@dataclass
class AuthorizationRequest:
    """A validated authorization request, storable as JSON while the person interacts."""

    client_id: str
    redirect_uri: str
    response_mode: str
    scopes: list[str]
    state: str | None = None
    nonce: str | None = None
    code_challenge: str | None = None
    prompt: list[str] = field(default_factory=list)
    max_age: int | None = None
    login_hint: str | None = None
    id_token_hint_sub: str | None = None
    claims: dict[str, Any] | None = None
    ui_locales: str | None = None
    acr_values: str | None = None
    # Set once the person has logged in during this very interaction (prompt=login).
    fresh_login: bool = False
    # The consent-request document (consent_spec §4) for the claims asked, or None.
    consent_request: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        """A JSON-serialisable form."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AuthorizationRequest:
        """Rebuild from :meth:`to_json`."""
        return cls(**data)

    def answer_offline_access(self, wanted: bool) -> None:
        """Staying signed in at the site is the person's choice of its own (OIDC Core §11):
        declined, the grant carries no ``offline_access`` and no refresh token is issued."""
        if not wanted:
            self.scopes = [s for s in self.scopes if s != "offline_access"]

    def consent_items(self) -> list[str]:
        """What the person must have approved: scope values and individually requested claims."""
        items = [s for s in self.scopes if s != "openid"]
        for member in ("userinfo", "id_token"):
            for name in requested_claim_names([], (self.claims or {}).get(member)):
                if f"claim:{name}" not in items:
                    items.append(f"claim:{name}")
        return items


@dataclass
class LoginState:
    """The person logged in at the provider in this browser, if anyone."""

    user: User
    sid: str
    auth_time: datetime


def check_client_and_redirect_uri(
    ctx: Context, params: dict[str, str], duplicated: set[str]
) -> tuple[Client, str]:
    """Steps that must pass before any redirect is allowed (RFC 6749 §3.1.2.4, §4.1.2.1)."""
    for name in IDENTITY_PARAMS:
        if name in duplicated:
            raise BadRedirectError(InvalidRequestError(f"{name} is repeated (RFC 6749 §3.1)"))
    client_id = params.get("client_id")
    if not client_id:
        raise BadRedirectError(InvalidRequestError("client_id is missing"))
    client = ctx.store.get_client(client_id)
    if client is None:
        raise BadRedirectError(InvalidRequestError("unknown client_id"))
    redirect_uri = params.get("redirect_uri")
    if not redirect_uri:
        raise BadRedirectError(
            InvalidRequestError("redirect_uri is missing (required by OIDC Core §3.1.2.1)")
        )
    if not redirect_uri_matches(client, redirect_uri):
        raise BadRedirectError(
            InvalidRequestError(
                "redirect_uri does not exactly match any URI registered for this client"
            )
        )
    return client, redirect_uri


def redirect_uri_matches(client: Client, redirect_uri: str) -> bool:
    """Exact string match (RFC 9700 §4.1.3), except the port of a native app's loopback URI.

    RFC 8252 §7.3: a native app listens on an ephemeral port, so for loopback IP
    literals (127.0.0.1, [::1]) registered by a native client the port may differ;
    everything else must still match exactly.
    """
    registered = client.metadata_.get("redirect_uris", [])
    asked = urlsplit(redirect_uri)
    # RFC 6749 §3.1.2: a redirection URI has no fragment, whatever the registration says.
    if "#" in redirect_uri:
        return False
    try:
        asked.port  # noqa: B018 - raises ValueError for a malformed port (e.g. above 65535)
    except ValueError:
        return False
    if redirect_uri in registered:
        return True
    if client.metadata_.get("application_type") != "native":
        return False
    if asked.scheme != "http" or asked.hostname not in ("127.0.0.1", "::1"):
        return False
    for uri in registered:
        known = urlsplit(uri)
        if (
            known.scheme == "http"
            and known.hostname == asked.hostname
            and (known.path, known.query) == (asked.path, asked.query)
            and not asked.username
            and not asked.password
        ):
            return True
    return False


MAX_AGE_DIGITS = 18


def _parse_max_age(raw: str | None) -> int | None:
    if raw is None:
        return None
    # ASCII digits only: str.isdigit() also accepts "²", which int() then refuses.
    # At most 18 digits (over 31 billion years): int() refuses 4300+ digits with a ValueError.
    if not (raw.isascii() and raw.isdigit()) or len(raw.lstrip("0")) > MAX_AGE_DIGITS:
        raise InvalidRequestError("max_age must be a non-negative integer number of seconds")
    return int(raw)


def _id_token_hint_subject(ctx: Context, hint: str | None) -> str | None:
    """The ``sub`` of an ID token we issued earlier (expiry ignored, OIDC Core §3.1.2.1)."""
    if hint is None:
        return None
    try:
        # typ JWT (RFC 8725 §3.11): an access token, logout token or SET is not an ID token.
        claims = ctx.keys.verify(
            hint, store=ctx.store, typ="jwt", verify_exp=False, issuer=ctx.issuer
        )
    except jwt.PyJWTError as exc:
        raise InvalidRequestError(
            f"id_token_hint is not a valid ID token from this issuer: {exc}"
        ) from exc
    sub = claims.get("sub")
    if not isinstance(sub, str):
        raise InvalidRequestError("id_token_hint has no sub")
    return sub


def validate_authorization_request(
    ctx: Context, params: dict[str, str], duplicated: set[str]
) -> tuple[Client, AuthorizationRequest]:
    """Validate a whole authorization request; see the module docstring for the order."""
    client, redirect_uri = check_client_and_redirect_uri(ctx, params, duplicated)
    state = params.get("state") if "state" not in duplicated else None
    response_mode = params.get("response_mode", "query")
    mode_for_errors = response_mode if response_mode in RESPONSE_MODES else "query"

    def fail(error: OAuthError) -> AuthorizationError:
        return AuthorizationError(error, redirect_uri, state, mode_for_errors)

    try:
        if duplicated:
            raise InvalidRequestError(
                f"parameter(s) repeated: {', '.join(sorted(duplicated))} (RFC 6749 §3.1)"
            )
        if "request" in params:
            raise RequestNotSupportedError("request objects are not supported")
        if "request_uri" in params:
            raise RequestUriNotSupportedError("request_uri is not supported")
        if response_mode not in RESPONSE_MODES:
            raise InvalidRequestError(f"response_mode must be one of {', '.join(RESPONSE_MODES)}")
        response_type = params.get("response_type")
        if not response_type:
            raise InvalidRequestError("response_type is missing")
        if response_type != "code":
            raise UnsupportedResponseTypeError(
                "only response_type=code is supported (implicit and hybrid flows are not, per RFC 9700 §2.1.2)"
            )
        if "authorization_code" not in client.metadata_.get("grant_types", []):
            raise UnauthorizedClientError("this client may not use the authorization code grant")

        scopes = [s for s in split_scope(params.get("scope")) if s in SUPPORTED_SCOPES]
        if "offline_access" in scopes and (
            "refresh_token" not in client.metadata_.get("grant_types", []) or "openid" not in scopes
        ):
            scopes.remove("offline_access")

        challenge = pkce.check_challenge(
            params.get("code_challenge"),
            params.get("code_challenge_method"),
            required=is_public(client) or ctx.settings.require_pkce,
        )

        prompt = split_scope(params.get("prompt"))
        unknown = [p for p in prompt if p not in PROMPT_VALUES]
        if unknown:
            raise InvalidRequestError(f"unsupported prompt value(s): {', '.join(unknown)}")
        if "none" in prompt and len(prompt) > 1:
            raise InvalidRequestError("prompt=none must not be combined with other values")

        max_age = _parse_max_age(params.get("max_age"))
        if max_age is None and "default_max_age" in client.metadata_:
            max_age = int(client.metadata_["default_max_age"])

        request = AuthorizationRequest(
            client_id=client.client_id,
            redirect_uri=redirect_uri,
            response_mode=response_mode,
            scopes=scopes,
            state=state,
            nonce=params.get("nonce"),
            code_challenge=challenge,
            prompt=prompt,
            max_age=max_age,
            login_hint=params.get("login_hint"),
            id_token_hint_sub=_id_token_hint_subject(ctx, params.get("id_token_hint")),
            claims=parse_claims_request(params.get("claims")),
            ui_locales=params.get("ui_locales"),
            acr_values=params.get("acr_values"),
        )
        details = parse_authorization_details(params.get("authorization_details"))
        names, essential = claims_requested(request.scopes, request.claims)
        if names or details:
            request.consent_request = build_request(
                client, names, essential, now=now(), details=details, catalogue=ctx.catalogue
            )
            problems = consent_spec.validate(request.consent_request, kind="consent-request")
            if problems:
                first = problems[0]
                error = InvalidAuthorizationDetailsError if details else InvalidRequestError
                raise error(f"consent request {first.path}: {first.message}")
    except OAuthError as error:
        raise fail(error) from error
    return client, request


def _login_is_fresh_enough(request: AuthorizationRequest, login: LoginState) -> bool:
    if request.max_age is None:
        return True
    # Compared as numbers: timedelta(seconds=max_age) overflows for huge (valid) values.
    return (now() - login.auth_time).total_seconds() <= request.max_age


def _consent_is_remembered(ctx: Context, request: AuthorizationRequest, user: User) -> bool:
    """Approval remembered in the ledger (:func:`idp.consent.decisions.remembered`)."""
    return decisions.remembered(
        ctx, user.id, request.client_id, request.consent_request, request.consent_items()
    )


def next_step(
    ctx: Context,
    client: Client,
    request: AuthorizationRequest,
    login: LoginState | None,
    subject_of: Any,
) -> str:
    """``"login"``, ``"consent"`` or ``"issue"`` (OIDC Core §3.1.2.3, §3.1.2.4).

    ``subject_of(user)`` gives the ``sub`` this client sees, to compare with an
    ``id_token_hint``. prompt=none turns each needed interaction into an error.
    """
    hint_mismatch = (
        login is not None
        and request.id_token_hint_sub is not None
        and subject_of(login.user) != request.id_token_hint_sub
    )
    needs_login = (
        login is None
        or not _login_is_fresh_enough(request, login)
        or hint_mismatch
        or ("login" in request.prompt and not request.fresh_login)
        or ("select_account" in request.prompt and not request.fresh_login)
    )
    if "none" in request.prompt:
        if needs_login:
            raise AuthorizationError(
                LoginRequiredError("the person is not logged in (prompt=none)"),
                request.redirect_uri,
                request.state,
                request.response_mode,
            )
        assert login is not None
        if is_public(client) or not _consent_is_remembered(ctx, request, login.user):
            raise AuthorizationError(
                ConsentRequiredError("consent is needed and prompt=none forbids asking"),
                request.redirect_uri,
                request.state,
                request.response_mode,
            )
        return "issue"
    if needs_login:
        return "login"
    assert login is not None
    # RFC 8252 §8.6: any app can claim a public client's identity, so its requests are never
    # approved automatically from remembered consent; the person is asked every time.
    if (
        "consent" in request.prompt
        or is_public(client)
        or not _consent_is_remembered(ctx, request, login.user)
    ):
        return "consent"
    return "issue"


def _claims_with_details(request: AuthorizationRequest) -> dict[str, Any] | None:
    """The claims parameter plus claims asked through authorization details (served at UserInfo)."""
    details = (request.consent_request or {}).get("authorization_details")
    if not details:
        return request.claims
    merged = json.loads(json.dumps(request.claims or {}))
    userinfo = merged.setdefault("userinfo", {})
    for name in detail_claims(details):
        userinfo.setdefault(name, None)
    return merged


def issue_code(
    ctx: Context,
    client: Client,
    request: AuthorizationRequest,
    login: LoginState,
    decision: decisions.Decision | None = None,
) -> dict[str, str]:
    """Create the grant and its single-use code; returns the response parameters.

    The grant may release only the claims of the consent record it is issued
    under: the decision just taken, or the active record remembered for this RP; and
    it carries only the scope values whose claims were granted (:func:`granted_scopes`).
    """
    record = decision.record if decision is not None else None
    if decision is None and request.consent_request is not None:
        record = decisions.current(ctx, login.user.id, client.client_id)
    released = decisions.released_claims(record)
    decided = record is not None or decision is not None
    scopes = granted_scopes(request.scopes, released) if decided else request.scopes
    grant = ctx.store.create_grant(
        consent_record_id=record.record_id if record is not None else None,
        granted_claims=released,
        persona_id=record.persona_id if record is not None else None,
        user_id=login.user.id,
        client_id=client.client_id,
        scope=" ".join(scopes),
        claims=_claims_with_details(request),
        auth_time=login.auth_time,
        sid=login.sid,
        expires_at=later(ctx.settings.refresh_token_ttl),
    )
    code = random_token(32)
    ctx.store.create_code(
        code_hash=digest(code),
        grant_id=grant.id,
        client_id=client.client_id,
        redirect_uri=request.redirect_uri,
        nonce=request.nonce,
        code_challenge=request.code_challenge,
        expires_at=later(ctx.settings.auth_code_ttl),
    )
    return response_params(ctx, {"code": code}, request.state)


def response_params(ctx: Context, params: dict[str, str], state: str | None) -> dict[str, str]:
    """Add ``state`` (RFC 6749 §4.1.2) and ``iss`` (RFC 9207 §2) to response parameters."""
    out = dict(params)
    if state is not None:
        out["state"] = state
    out["iss"] = ctx.issuer
    return out


def error_params(ctx: Context, error: AuthorizationError) -> dict[str, str]:
    """Parameters of an error response (RFC 6749 §4.1.2.1, RFC 9207)."""
    return response_params(ctx, error.oauth_error.to_dict(), error.state)


def redirect_url(redirect_uri: str, params: dict[str, str]) -> str:
    """The redirect_uri with response parameters added to its query (RFC 6749 §4.1.2)."""
    separator = "&" if "?" in redirect_uri else "?"
    return redirect_uri + separator + urlencode(params)
