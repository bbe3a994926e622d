"""Back-channel endpoints: token (RFC 6749 §3.2), revocation (RFC 7009), introspection (RFC 7662),
UserInfo (OIDC Core §5.3), discovery (OIDC Discovery §4, RFC 8414 §3) and JWKS (RFC 7517)."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, request

from idp.consent.ledger import receipts_for_client
from idp.protocol.clients import authenticate_client, is_public
from idp.protocol.context import PATHS
from idp.protocol.discovery import provider_metadata
from idp.protocol.errors import InvalidClientError, InvalidRequestError, OAuthError
from idp.protocol.introspection import introspect
from idp.protocol.revocation import revoke
from idp.protocol.token import token_request
from idp.protocol.userinfo import bearer_token, userinfo
from idp.web.common import body_params, context, json_response, oauth_error_response, single

bp = Blueprint("endpoints", __name__)


def _client_error(error: OAuthError) -> Response:
    headers = {}
    # The raw header, not request.authorization: Werkzeug's parser raises on non-ASCII bytes.
    if isinstance(error, InvalidClientError) and request.headers.get("Authorization"):
        headers["WWW-Authenticate"] = 'Basic realm="porta"'  # RFC 6749 §5.2
    return oauth_error_response(error, headers)


@bp.route(PATHS["token_endpoint"], methods=["POST"])
def token_endpoint() -> Response:
    """Token endpoint: RFC 6749 §3.2, §4.1.3, §4.4.2, §6; OIDC Core §3.1.3; RFC 7636 §4.5."""
    ctx = context()
    try:
        params = single(*body_params())
        client = authenticate_client(
            ctx,
            params,
            request.headers.get("Authorization"),
            endpoint=ctx.endpoint(PATHS["token_endpoint"]),
        )
        body = token_request(ctx, client, params)
        ctx.store.commit()
    except OAuthError as error:
        ctx.store.rollback()
        return _client_error(error)
    return json_response(body)


@bp.route(PATHS["revocation_endpoint"], methods=["POST"])
def revocation_endpoint() -> Response:
    """Token revocation: RFC 7009 §2.1-§2.2."""
    ctx = context()
    try:
        params = single(*body_params())
        client = authenticate_client(
            ctx,
            params,
            request.headers.get("Authorization"),
            endpoint=ctx.endpoint(PATHS["revocation_endpoint"]),
        )
        revoke(ctx, client, params.get("token"), params.get("token_type_hint"))
        ctx.store.commit()
    except OAuthError as error:
        ctx.store.rollback()
        return _client_error(error)
    return Response(status=200, headers={"Cache-Control": "no-store"})


@bp.route(PATHS["introspection_endpoint"], methods=["POST"])
def introspection_endpoint() -> Response:
    """Token introspection: RFC 7662 §2.1-§2.3."""
    ctx = context()
    try:
        params = single(*body_params())
        client = authenticate_client(
            ctx,
            params,
            request.headers.get("Authorization"),
            endpoint=ctx.endpoint(PATHS["introspection_endpoint"]),
        )
        if is_public(client):
            raise InvalidClientError("public clients may not introspect tokens")
        body = introspect(ctx, client, params.get("token"), params.get("token_type_hint"))
        ctx.store.commit()
    except OAuthError as error:
        ctx.store.rollback()
        return _client_error(error)
    return json_response(body)


def _bearer_challenge(error: OAuthError) -> Response:
    """RFC 6750 §3: the WWW-Authenticate challenge; no error code when no token was sent."""
    issuer = current_app.extensions["porta"]["config"]["ISSUER"]
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
    ctx = context()
    try:
        params = single(*body_params(required=False))
        client = authenticate_client(
            ctx,
            params,
            request.headers.get("Authorization"),
            endpoint=ctx.endpoint(PATHS["consent_receipts_endpoint"]),
        )
        receipts = receipts_for_client(ctx.store, client.client_id, params.get("sub"))
        ctx.store.commit()
    except OAuthError as error:
        ctx.store.rollback()
        return _client_error(error)
    return json_response({"receipts": receipts})


@bp.route("/.well-known/openid-configuration", methods=["GET"])
@bp.route("/.well-known/oauth-authorization-server", methods=["GET"])
def discovery() -> Response:
    """Provider metadata: OpenID Connect Discovery 1.0 §4 and RFC 8414 §3."""
    response = json_response(
        provider_metadata(current_app.extensions["porta"]["config"]), no_store=False
    )
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
