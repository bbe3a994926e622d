"""Dynamic client registration endpoints: RFC 7591 §3 and RFC 7592 §2."""

from __future__ import annotations

import json

from flask import Blueprint, Response, request

from idp.base.context import PATHS
from idp.base.errors import InvalidClientMetadataError, OAuthError
from idp.protocol import registration
from idp.web.common import context, json_response, oauth_error_response, request_body

bp = Blueprint("registration", __name__)


def _json_body() -> object:
    raw = request_body()
    if request.mimetype != "application/json":
        raise InvalidClientMetadataError(
            "the registration request must be application/json (RFC 7591 §3.1)"
        )
    try:
        document = json.loads(raw.decode("utf-8"))
        _check_text(document, "")
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidClientMetadataError(f"the body is not valid UTF-8 JSON: {exc}") from exc
    except RecursionError as exc:
        raise InvalidClientMetadataError("the body is nested too deeply") from exc
    return document


def _check_text(value: object, path: str) -> None:
    """Refuse strings that no page or database can hold: NUL, and lone surrogates (JSON
    allows "\\ud800", UTF-8 cannot encode it, so the client's name would break every page)."""
    if isinstance(value, dict):
        for key, item in value.items():
            _check_text(key, path or "(member name)")
            _check_text(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _check_text(item, f"{path}.{i}")
    elif isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise InvalidClientMetadataError(f"{path}: not valid Unicode text") from exc
        if "\x00" in value:
            raise InvalidClientMetadataError(f"{path}: must not contain NUL characters")


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
        with ctx.store.unit_of_work():
            body = registration.register(ctx, _json_body(), request.headers.get("Authorization"))
    except OAuthError as error:
        return _challenge(error)
    return json_response(body, 201)


@bp.route(PATHS["registration_endpoint"] + "/<client_id>", methods=["GET", "PUT", "DELETE"])
def manage(client_id: str) -> Response:
    """Client configuration endpoint: RFC 7592 §2.1 (read), §2.2 (update), §2.3 (delete)."""
    ctx = context()
    try:
        with ctx.store.unit_of_work():
            client = registration.managed_client(
                ctx, client_id, request.headers.get("Authorization")
            )
            if request.method == "GET":
                return json_response(registration.client_information(ctx, client))
            if request.method == "PUT":
                body = registration.update(ctx, client, _json_body())
            else:
                registration.delete(ctx, client)
    except OAuthError as error:
        return _challenge(error)
    return json_response(body) if request.method == "PUT" else Response(status=204)
