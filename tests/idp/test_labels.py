"""Words for people on the consent page and dashboard (idp/web/labels.py)."""

from __future__ import annotations

import json

import pytest

from idp.web.labels import duration_text, retention_text
from tests.conftest import authorize, login
from tests.idp.test_profile import DIET, _operator_file


@pytest.mark.parametrize(
    ("iso", "words"),
    [
        ("P1Y", "1 year"),
        ("P2Y6M", "2 years and 6 months"),
        ("P90D", "90 days"),
        ("P1W", "1 week"),
        ("PT12H30M", "12 hours and 30 minutes"),
        ("P1Y2M3D", "1 year, 2 months and 3 days"),
        ("not-a-duration", "not-a-duration"),
    ],
)
def test_iso_durations_in_words(iso, words):
    assert duration_text(iso) == words


def test_retention_in_words():
    assert retention_text({"duration": "P1Y", "from": "end-of-relationship"}) == (
        "kept 1 year after you stop using the site"
    )
    assert retention_text(None) == "kept for an unstated time"


def test_consent_page_uses_the_catalogue_display_name_of_a_custom_claim(make_app, tmp_path, register, user):
    app = make_app(CLAIMS_CATALOGUE=str(_operator_file(tmp_path)))
    http = app.test_client()
    client = register(redirect_uris=["https://rp.example/cb"])
    claims = json.dumps({"userinfo": {DIET: None}})
    response = login(http, authorize(http, client, scope="openid", claims=claims))
    page = http.get(response.headers["Location"]).get_data(as_text=True)
    assert "Dietary preference" in page


def test_discovery_lists_the_operators_custom_claims(make_app, tmp_path):
    """OIDC Discovery §3 claims_supported: the catalogue's custom claims are claims this OP supplies."""
    app = make_app(CLAIMS_CATALOGUE=str(_operator_file(tmp_path)))
    supported = app.test_client().get("/.well-known/openid-configuration").get_json()["claims_supported"]
    assert DIET in supported and "email" in supported and "sub" in supported
