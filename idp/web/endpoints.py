"""Back-channel endpoints: token (RFC 6749 §3.2), revocation (RFC 7009), introspection (RFC 7662),
UserInfo (OIDC Core §5.3), discovery (OIDC Discovery §4, RFC 8414 §3) and JWKS (RFC 7517)."""

from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, Response, current_app, request

from idp.base.context import PATHS, Context
from idp.base.errors import InvalidClientError, InvalidRequestError, OAuthError
from idp.consent.ledger import receipts_for_client
from idp.protocol.clients import authenticate_client, is_public
from idp.protocol.introspection import introspect
from idp.protocol.revocation import revoke
from idp.protocol.token import token_request
from idp.protocol.userinfo import bearer_token, userinfo
from idp.storage.models import Client
from idp.web.common import body_params, context, json_response, oauth_error_response, single

bp = Blueprint("endpoints", __name__)


def _client_error(error: OAuthError) -> Response:
    headers = {}
    # The raw header, not request.authorization: Werkzeug's parser raises on non-ASCII bytes.
    if isinstance(error, InvalidClientError) and request.headers.get("Authorization"):
        headers["WWW-Authenticate"] = 'Basic realm="porta"'  # RFC 6749 §5.2
    return oauth_error_response(error, headers)


def _client_request(
    endpoint: str,
    handle: Callable[[Context, Client, dict[str, str]], Response],
    *,
    required: bool = True,
) -> Response:
    """Parse the form body, authenticate the client (RFC 6749 §2.3), run ``handle``, commit.

    Every OAuth error rolls the unit of work back and is answered as JSON.
    """
    ctx = context()
    try:
        params = single(*body_params(required=required))
        client = authenticate_client(
            ctx,
            params,
            request.headers.get("Authorization"),
            endpoint=ctx.endpoint(PATHS[endpoint]),
        )
        response = handle(ctx, client, params)
        ctx.store.commit()
    except OAuthError as error:
        ctx.store.rollback()
        return _client_error(error)
    return response


@bp.route(PATHS["token_endpoint"], methods=["POST"])
def token_endpoint() -> Response:
    """Token endpoint: RFC 6749 §3.2, §4.1.3, §4.4.2, §6; OIDC Core §3.1.3; RFC 7636 §4.5."""
    return _client_request(
        "token_endpoint",
        lambda ctx, client, params: json_response(token_request(ctx, client, params)),
    )


@bp.route(PATHS["revocation_endpoint"], methods=["POST"])
def revocation_endpoint() -> Response:
    """Token revocation: RFC 7009 §2.1-§2.2."""

    def handle(ctx: Context, client: Client, params: dict[str, str]) -> Response:
        revoke(ctx, client, params.get("token"), params.get("token_type_hint"))
        return Response(status=200, headers={"Cache-Control": "no-store"})

    return _client_request("revocation_endpoint", handle)


@bp.route(PATHS["introspection_endpoint"], methods=["POST"])
def introspection_endpoint() -> Response:
    """Token introspection: RFC 7662 §2.1-§2.3."""

    def handle(ctx: Context, client: Client, params: dict[str, str]) -> Response:
        if is_public(client):
            raise InvalidClientError("public clients may not introspect tokens")
        return json_response(
            introspect(ctx, client, params.get("token"), params.get("token_type_hint"))
        )

    return _client_request("introspection_endpoint", handle)


def _bearer_challenge(error: OAuthError) -> Response:
    """RFC 6750 §3: the WWW-Authenticate challenge; no error code when no token was sent."""
    issuer = current_app.extensions["porta"]["settings"].issuer
    parts = [f'realm="{issuer}"']
    if not (error.error == "invalid_token" and error.description == "no access token was sent"):
        parts.append(f'error="{error.error}"')
        if error.description:
            parts.append('error_description="{}"'.format(error.description.replace('"', "'")))
    return oauth_error_response(error, {"WWW-Authenticate": "Bearer " + ", ".join(parts)})


@bp.route(PATHS["userinfo_endpoint"], methods=["GET", "POST"])
def userinfo_endpoint() -> Response:
    """UserInfo endpoint: OIDC Core §5.3; bearer token in the header or the form body (RFC 6750 §2.1-§2.2)."""
    ctx = context()
    try:
        form_token = None
        if request.method == "POST":
            params = single(*body_params(required=False))
            form_token = params.get("access_token")
        elif "access_token" in request.args:
            raise InvalidRequestError(
                "access tokens in the query string are not accepted (RFC 6750 §2.3, RFC 9700 §4.3.2)"
            )
        token = bearer_token(request.headers.get("Authorization"), form_token)
        body = userinfo(ctx, token)
        ctx.store.commit()
    except OAuthError as error:
        ctx.store.rollback()
        return _bearer_challenge(error)
    return json_response(body)


@bp.route(PATHS["consent_receipts_endpoint"], methods=["POST"])
def consent_receipts_endpoint() -> Response:
    """The RP fetches its own consent receipts (consent_spec §7): client-authenticated like
    introspection (RFC 7662 §2.1); optional ``sub`` narrows to one person."""

    def handle(ctx: Context, client: Client, params: dict[str, str]) -> Response:
        receipts = receipts_for_client(ctx.store, client.client_id, params.get("sub"))
        return json_response({"receipts": receipts})

    return _client_request("consent_receipts_endpoint", handle, required=False)


@bp.route("/.well-known/openid-configuration", methods=["GET"])
@bp.route("/.well-known/oauth-authorization-server", methods=["GET"])
def discovery() -> Response:
    """Provider metadata: OpenID Connect Discovery 1.0 §4 and RFC 8414 §3."""
    response = json_response(current_app.extensions["porta"]["discovery"], no_store=False)
    response.headers["Cache-Control"] = "public, max-age=300"
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


@bp.route(PATHS["jwks_uri"], methods=["GET"])
def jwks() -> Response:
    """The provider's public signing keys as a JWK Set (RFC 7517 §5)."""
    response = json_response(current_app.extensions["porta"]["keys"].jwks(), no_store=False)
    response.headers["Cache-Control"] = "public, max-age=60"
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response
