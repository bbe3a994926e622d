"""The frame of every client-authenticated back-channel endpoint (RFC 6749 §2.3).

Token, revocation, introspection and the consent-receipts endpoint all parse a
form body, authenticate the client, run one protocol call and commit; an OAuth
error rolls back and is answered as JSON (RFC 6749 §5.2).
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Response, request

from idp.base.context import PATHS, Context
from idp.base.errors import InvalidClientError, OAuthError
from idp.protocol.clients import authenticate_client
from idp.storage.models import Client
from idp.web.common import body_params, context, oauth_error_response, single


def client_error(error: OAuthError) -> Response:
    """The JSON error; a failed HTTP Basic authentication also gets its challenge (RFC 6749 §5.2)."""
    headers = {}
    # The raw header, not request.authorization: Werkzeug's parser raises on non-ASCII bytes.
    if isinstance(error, InvalidClientError) and request.headers.get("Authorization"):
        headers["WWW-Authenticate"] = 'Basic realm="porta"'  # RFC 6749 §5.2
    return oauth_error_response(error, headers)


def client_request(
    endpoint: str,
    handle: Callable[[Context, Client, dict[str, str]], Response],
    *,
    required: bool = True,
) -> Response:
    """Parse the form body, authenticate the client (RFC 6749 §2.3), run ``handle``, commit.

    ``endpoint`` names the endpoint in :data:`PATHS` (its URL is the audience of a
    client assertion, RFC 7523 §3). Every OAuth error rolls the unit of work back
    and is answered as JSON.
    """
    ctx = context()
    try:
        with ctx.store.unit_of_work():
            params = single(*body_params(required=required))
            client = authenticate_client(
                ctx,
                params,
                request.headers.get("Authorization"),
                endpoint=ctx.endpoint(PATHS[endpoint]),
            )
            response = handle(ctx, client, params)
    except OAuthError as error:
        return client_error(error)
    return response
