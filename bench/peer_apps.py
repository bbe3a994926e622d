"""The Python peers of ``bench/peers.py``, served by the same WSGI server as Porta.

* ``bare_app`` — the floor: bare Flask returning Porta's own discovery and JWKS documents
  from memory, and a token endpoint that checks HTTP Basic credentials and returns a fixed
  token body (no signing, no storage). Nothing can be faster with Flask.
* ``authlib_app`` — a minimal provider built on Authlib's ``AuthorizationServer``:
  discovery, JWKS and the client_credentials grant (RFC 6749 §4.4) issuing RFC 9068 JWT
  access tokens signed RS256 (Authlib's own generator, keys via joserfc), the client read from and every token recorded in SQLite
  (WAL). That is the same work Porta's token endpoint does, written the Authlib way.

Both read their settings from the environment (``BENCH_PEER_DIR``: a directory holding
``discovery.json``, ``jwks.json``, ``private_jwk.json``, ``client.json`` and
``authlib.sqlite``, prepared by ``peers.py``). ``python bench/peer_apps.py --init DIR``
creates the Authlib provider's database and key.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import sqlite3
import sys
import threading
import time
from pathlib import Path
from typing import Any

from flask import Flask, Response, jsonify, request

PEER_DIR = Path(os.environ.get("BENCH_PEER_DIR", "."))


def _read(name: str) -> Any:
    return json.loads((PEER_DIR / name).read_text())


def _sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


# -- bare Flask: the floor ---------------------------------------------------------------------


def create_bare_app() -> Flask:
    app = Flask("bare")
    discovery, jwks, client = _read("discovery.json"), _read("jwks.json"), _read("client.json")
    token_body = {"access_token": "x" * 600, "token_type": "Bearer", "expires_in": 300}

    @app.get("/.well-known/openid-configuration")
    def discovery_document() -> Response:
        return jsonify(discovery)

    @app.get("/jwks.json")
    def jwks_document() -> Response:
        return jsonify(jwks)

    @app.post("/token")
    def token() -> Response | tuple[Response, int]:
        auth = request.authorization
        if (
            auth is None
            or auth.username != client["client_id"]
            or not hmac.compare_digest(
                _sha256(auth.password or ""), _sha256(client["client_secret"])
            )
        ):
            return jsonify({"error": "invalid_client"}), 401
        return jsonify(token_body)

    return app


# -- Authlib: a minimal provider -------------------------------------------------------------


def init_authlib(directory: Path) -> None:
    """Create the Authlib provider's SQLite database (with the bench client) and RSA key."""
    from joserfc.jwk import RSAKey

    client = json.loads((directory / "client.json").read_text())
    key = RSAKey.generate_key(2048, parameters={"kid": "authlib-rs256"}, private=True)
    (directory / "private_jwk.json").write_text(json.dumps(key.as_dict(private=True)))
    with sqlite3.connect(directory / "authlib.sqlite") as db:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(
            "CREATE TABLE client (client_id TEXT PRIMARY KEY, secret_hash TEXT, scope TEXT,"
            " grant_types TEXT, auth_method TEXT)"
        )
        db.execute(
            "CREATE TABLE access_token (token_hash TEXT PRIMARY KEY, client_id TEXT,"
            " scope TEXT, expires_at INTEGER)"
        )
        db.execute(
            "INSERT INTO client VALUES (?, ?, ?, ?, ?)",
            (
                client["client_id"],
                _sha256(client["client_secret"]),
                "bench",
                "client_credentials",
                "client_secret_basic",
            ),
        )


class _Client:
    """A registered client, as Authlib's ``ClientMixin`` protocol wants it."""

    def __init__(self, row: sqlite3.Row) -> None:
        self.client_id, self.secret_hash = row["client_id"], row["secret_hash"]
        self.scope, self.grant_types = row["scope"], row["grant_types"].split()
        self.auth_method = row["auth_method"]

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> None:
        return None

    def get_allowed_scope(self, scope: str) -> str:
        allowed = set(self.scope.split())
        return " ".join(s for s in (scope or "").split() if s in allowed)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return False

    def check_client_secret(self, client_secret: str) -> bool:
        return hmac.compare_digest(_sha256(client_secret), self.secret_hash)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method == self.auth_method

    def check_response_type(self, response_type: str) -> bool:
        return False

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.grant_types


def create_authlib_app() -> Flask:
    from authlib.integrations.flask_oauth2 import AuthorizationServer
    from authlib.oauth2.rfc6749 import grants
    from authlib.oauth2.rfc9068 import JWTBearerTokenGenerator
    from joserfc.jwk import KeySet, RSAKey

    app = Flask("authlib-peer")
    issuer = os.environ["BENCH_ISSUER"]
    private = RSAKey.import_key(_read("private_jwk.json"))
    key_set = KeySet([private])
    public_jwks = {"keys": [private.as_dict(private=False, alg="RS256", use="sig")]}
    local = threading.local()

    def db() -> sqlite3.Connection:
        if not hasattr(local, "db"):
            local.db = sqlite3.connect(PEER_DIR / "authlib.sqlite", timeout=10)
            local.db.row_factory = sqlite3.Row
        return local.db

    def query_client(client_id: str) -> _Client | None:
        row = db().execute("SELECT * FROM client WHERE client_id = ?", (client_id,)).fetchone()
        return _Client(row) if row else None

    def save_token(token: dict[str, Any], req: Any) -> None:
        connection = db()
        connection.execute(
            "INSERT INTO access_token VALUES (?, ?, ?, ?)",
            (
                _sha256(token["access_token"]),
                req.client.get_client_id(),
                token.get("scope"),
                int(time.time()) + int(token["expires_in"]),
            ),
        )
        connection.commit()

    class TokenGenerator(JWTBearerTokenGenerator):
        def get_jwks(self) -> KeySet:
            return key_set

    server = AuthorizationServer(app, query_client=query_client, save_token=save_token)
    server.register_grant(grants.ClientCredentialsGrant)
    server.register_token_generator("default", TokenGenerator(issuer=issuer, alg="RS256"))
    metadata = {
        "issuer": issuer,
        "token_endpoint": f"{issuer}/token",
        "jwks_uri": f"{issuer}/jwks.json",
        "grant_types_supported": ["client_credentials"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic"],
        "scopes_supported": ["bench"],
        "response_types_supported": ["token"],
    }

    @app.get("/.well-known/openid-configuration")
    def discovery_document() -> Response:
        return jsonify(metadata)

    @app.get("/jwks.json")
    def jwks_document() -> Response:
        return jsonify(public_jwks)

    @app.post("/token")
    def token() -> Response:
        return server.create_token_response()

    return app


if __name__ == "__main__" and sys.argv[1:2] == ["--init"]:
    init_authlib(Path(sys.argv[2]))
elif os.environ.get("BENCH_PEER") == "bare":
    app = create_bare_app()
elif os.environ.get("BENCH_PEER") == "authlib":
    app = create_authlib_app()
