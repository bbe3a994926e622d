"""Public metadata: the discovery document (OIDC Discovery §4, RFC 8414 §3) and JWKS (RFC 7517)."""

from __future__ import annotations

from flask import Blueprint, Response, current_app

from idp.base.context import PATHS
from idp.web.common import json_response, store

bp = Blueprint("discovery", __name__)


@bp.route("/.well-known/openid-configuration", methods=["GET"])
@bp.route("/.well-known/oauth-authorization-server", methods=["GET"])
def discovery() -> Response:
    """Provider metadata: OpenID Connect Discovery 1.0 §4 and RFC 8414 §3."""
    response = json_response(current_app.extensions["porta"]["discovery"], no_store=False)
    response.headers["Cache-Control"] = "public, max-age=300"
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


@bp.route(PATHS["retired_jwks_uri"], methods=["GET"])
def retired_jwks() -> Response:
    """Retired signing keys as a JWK Set (RFC 7517 §5), published so that receipts they signed
    stay verifiable (consent_spec SPEC.md §12.4). Porta never signs with them, and verifies
    no token with them."""
    rows = store().list_keys(include_retired=True)
    keys = [dict(row.public_jwk) for row in rows if row.retired_at is not None]
    response = json_response({"keys": keys}, no_store=False)
    response.headers["Cache-Control"] = "public, max-age=300"
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


@bp.route(PATHS["jwks_uri"], methods=["GET"])
def jwks() -> Response:
    """The provider's public signing keys as a JWK Set (RFC 7517 §5)."""
    porta = current_app.extensions["porta"]
    response = json_response(porta["keys"].jwks(), no_store=False)
    response.headers["Cache-Control"] = f"public, max-age={porta['settings'].jwks_max_age}"
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response
