"""Dynamic client registration endpoints: RFC 7591 §3 and RFC 7592 §2."""

from __future__ import annotations

import json

from flask import Blueprint, Response, current_app, request

from idp.protocol import registration
from idp.protocol.context import PATHS
from idp.protocol.errors import InvalidClientMetadataError, OAuthError, RequestTooLargeError
from idp.web.common import context, json_response, oauth_error_response

bp = Blueprint("registration", __name__)


def _json_body() -> object:
    limit = current_app.extensions["porta"]["config"]["MAX_REQUEST_BYTES"]
    raw = request.get_data(cache=True)
    if len(raw) > limit:
        raise RequestTooLargeError(f"request body larger than {limit} bytes")
    if request.mimetype != "application/json":
        raise InvalidClientMetadataError(
            "the registration request must be application/json (RFC 7591 §3.1)"
        )
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidClientMetadataError(f"the body is not valid UTF-8 JSON: {exc}") from exc


def _challenge(error: OAuthError) -> Response:
    headers = (
        {"WWW-Authenticate": f'Bearer error="{error.error}"'} if error.status_code == 401 else {}
    )
    return oauth_error_response(error, headers)


@bp.route(PATHS["registration_endpoint"], methods=["POST"])
def register() -> Response:
    """Client registration endpoint: RFC 7591 §3.1-§3.2, OIDC Dynamic Registration §3."""
    ctx = context()
    try:
        body = registration.register(ctx, _json_body(), request.headers.get("Authorization"))
        ctx.store.commit()
    except OAuthError as error:
        ctx.store.rollback()
        return _challenge(error)
    return json_response(body, 201)


@bp.route(PATHS["registration_endpoint"] + "/<client_id>", methods=["GET", "PUT", "DELETE"])
def manage(client_id: str) -> Response:
    """Client configuration endpoint: RFC 7592 §2.1 (read), §2.2 (update), §2.3 (delete)."""
    ctx = context()
    try:
        client = registration.managed_client(ctx, client_id, request.headers.get("Authorization"))
        if request.method == "GET":
            return json_response(registration.client_information(ctx, client))
        if request.method == "PUT":
            body = registration.update(ctx, client, _json_body())
            ctx.store.commit()
            return json_response(body)
        ctx.store.delete_client(client)
        ctx.store.commit()
        return Response(status=204)
    except OAuthError as error:
        ctx.store.rollback()
        return _challenge(error)
