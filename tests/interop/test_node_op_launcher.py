"""The node-oidc-provider launcher starts a provider whose discovery document is usable."""

import requests

from tests.interop.node_op.launcher import node_op


def test_launcher_serves_discovery_and_stops() -> None:
    clients = [{"client_id": "rp", "client_secret": "s", "redirect_uris": ["http://127.0.0.1:9/cb"]}]
    with node_op(clients=clients) as issuer:
        meta = requests.get(f"{issuer}/.well-known/openid-configuration", timeout=10).json()
        assert meta["issuer"] == issuer
        assert meta["authorization_response_iss_parameter_supported"] is True
    try:
        requests.get(f"{issuer}/.well-known/openid-configuration", timeout=2)
    except requests.ConnectionError:
        pass
    else:
        raise AssertionError("provider still answers after the with block")
