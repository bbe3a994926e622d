"""The UserInfo endpoint (OIDC Core §5.3), a resource protected by bearer tokens (RFC 6750)."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, request

from idp.base.context import PATHS
from idp.base.errors import InvalidRequestError, OAuthError
from idp.protocol.userinfo import bearer_token, userinfo
from idp.web.common import body_params, context, json_response, oauth_error_response, single

bp = Blueprint("userinfo", __name__)


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
        with ctx.store.unit_of_work():
            body = userinfo(ctx, token)
    except OAuthError as error:
        return _bearer_challenge(error)
    return json_response(body)
