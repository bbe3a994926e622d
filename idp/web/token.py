"""The token endpoint (RFC 6749 §3.2) and its companions for issued tokens: revocation
(RFC 7009) and introspection (RFC 7662)."""

from __future__ import annotations

from flask import Blueprint, Response

from idp.base import metrics
from idp.base.context import PATHS, Context
from idp.base.errors import InvalidClientError
from idp.protocol.clients import is_public
from idp.protocol.introspection import introspect
from idp.protocol.revocation import revoke
from idp.protocol.token import token_request
from idp.storage.models import Client
from idp.web.client_auth import client_request
from idp.web.common import json_response

bp = Blueprint("token", __name__)


@bp.route(PATHS["token_endpoint"], methods=["POST"])
def token_endpoint() -> Response:
    """Token endpoint: RFC 6749 §3.2, §4.1.3, §4.4.2, §6; OIDC Core §3.1.3; RFC 7636 §4.5."""

    def handle(ctx: Context, client: Client, params: dict[str, str]) -> Response:
        response = json_response(token_request(ctx, client, params))
        metrics.TOKENS_ISSUED.labels(params["grant_type"]).inc()  # validated by now
        return response

    return client_request("token_endpoint", handle)


@bp.route(PATHS["revocation_endpoint"], methods=["POST"])
def revocation_endpoint() -> Response:
    """Token revocation: RFC 7009 §2.1-§2.2."""

    def handle(ctx: Context, client: Client, params: dict[str, str]) -> Response:
        revoke(ctx, client, params.get("token"), params.get("token_type_hint"))
        return Response(status=200, headers={"Cache-Control": "no-store"})

    return client_request("revocation_endpoint", handle)


@bp.route(PATHS["introspection_endpoint"], methods=["POST"])
def introspection_endpoint() -> Response:
    """Token introspection: RFC 7662 §2.1-§2.3."""

    def handle(ctx: Context, client: Client, params: dict[str, str]) -> Response:
        if is_public(client):
            raise InvalidClientError("public clients may not introspect tokens")
        return json_response(
            introspect(ctx, client, params.get("token"), params.get("token_type_hint"))
        )

    return client_request("introspection_endpoint", handle)
