"""The consent-receipts endpoint: a relying party fetches its own receipts (consent_spec §7)."""

from __future__ import annotations

from flask import Blueprint, Response

from idp.base.context import PATHS, Context
from idp.consent.ledger import receipts_for_client
from idp.protocol.clients import require_authenticated
from idp.storage.models import Client
from idp.web.client_auth import client_request
from idp.web.common import json_response

bp = Blueprint("receipts", __name__)


@bp.route(PATHS["consent_receipts_endpoint"], methods=["POST"])
def consent_receipts_endpoint() -> Response:
    """The RP fetches its own consent receipts (consent_spec §7): client-authenticated like
    introspection (RFC 7662 §2.1); optional ``sub`` narrows to one person."""

    def handle(ctx: Context, client: Client, params: dict[str, str]) -> Response:
        # Anyone knows a public client's client_id: its receipts are not theirs to read.
        require_authenticated(client, "reading consent receipts")
        receipts = receipts_for_client(ctx.store, client.client_id, params.get("sub"))
        return json_response({"receipts": receipts})

    return client_request("consent_receipts_endpoint", handle, required=False)
