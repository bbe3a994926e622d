"""The guard on requests to client-supplied URLs (server-side request forgery).

These tests only resolve addresses; the guard refuses before any connection,
so no traffic leaves the machine.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from idp.base.outbound import OutboundRefusedError, guard
from idp.base.settings import Settings

PUBLIC_ISSUER = Settings(issuer="https://id.example", outbound_private_addresses=False)
LOOPBACK_ISSUER = Settings(issuer="http://127.0.0.1:8000", outbound_private_addresses=False)


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.1/jwks",
        "https://192.168.1.10/events",
        "http://172.16.5.4:5432/",
        "http://169.254.169.254/latest/meta-data/",  # cloud metadata (link-local)
        "http://[fe80::1]/x",
        "http://0.0.0.0/",
        "http://127.0.0.1:5432/",
        "http://localhost/",
        "ftp://example.org/file",
    ],
)
def test_a_public_provider_refuses_internal_targets(url):
    with pytest.raises(OutboundRefusedError):
        guard(PUBLIC_ISSUER)(url)


def test_a_provider_on_loopback_may_reach_loopback_but_not_private_networks():
    check = guard(LOOPBACK_ISSUER)
    check("http://127.0.0.1:5001/events")
    with pytest.raises(OutboundRefusedError):
        check("http://10.1.2.3/events")


def test_operators_can_allow_private_networks():
    check = guard(replace(PUBLIC_ISSUER, outbound_private_addresses=True))
    check("http://10.0.0.1/jwks")
    check("http://127.0.0.1/jwks")


def test_registration_refuses_a_sector_document_on_an_internal_host(make_app):
    app = make_app(ISSUER="https://id.example")
    response = app.test_client().post(
        "/register",
        json={
            "redirect_uris": ["https://a.example/cb", "https://b.example/cb"],
            "sector_identifier_uri": "https://10.0.0.7/sector.json",
        },
        base_url="https://id.example",
    )
    assert response.status_code == 400
    body = response.get_json()
    assert body["error"] == "invalid_client_metadata" and "sector_identifier_uri" in body["error_description"]
