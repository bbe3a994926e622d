"""A purpose-built fake OpenID provider for the SDK's negative tests.

It serves discovery, JWKS, token, userinfo, revocation, introspection and PAR endpoints on
127.0.0.1 from a thread.  Each test decides what the token endpoint answers — typically an ID
token tampered in exactly one way — through :attr:`FakeProvider.token_response`.  Requests it
receives are recorded so tests can check what the SDK sent.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from flask import Flask, jsonify, request
from werkzeug.serving import make_server

CLIENT_ID = "fake-rp"
CLIENT_SECRET = "fake-rp-secret-long-enough-for-hs256-keys"
REDIRECT_URI = "http://127.0.0.1:9/callback"


def b64url(data: bytes) -> str:
    """base64url without padding (RFC 7515 §2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def at_hash(access_token: str, digest: Callable[..., Any] = hashlib.sha256) -> str:
    """Left half of the access token's hash, base64url (OIDC Core §3.1.3.6) — computed here
    independently of the SDK so the tests do not check the SDK against itself."""
    full = digest(access_token.encode("ascii")).digest()
    return b64url(full[: len(full) // 2])


class SigningKey:
    """A provider signing key with its public JWK."""

    def __init__(self, kind: str, kid: str) -> None:
        self.kid = kid
        if kind == "RSA":
            self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            self.alg = "RS256"
            jwk = jwt.algorithms.RSAAlgorithm.to_jwk(self.private.public_key())
        else:
            self.private = ec.generate_private_key(ec.SECP256R1())
            self.alg = "ES256"
            jwk = jwt.algorithms.ECAlgorithm.to_jwk(self.private.public_key())
        self.public_jwk = {**json.loads(jwk), "kid": kid, "use": "sig", "alg": self.alg}

    def public_pem(self) -> bytes:
        """The public key as PEM (what an algorithm-confusion attacker would use as HMAC key)."""
        return self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def sign(self, claims: dict[str, Any], headers: dict[str, Any] | None = None) -> str:
        """A compact JWS over ``claims``."""
        return jwt.encode(
            claims, self.private, algorithm=self.alg, headers={"kid": self.kid, **(headers or {})}
        )


def unsigned_token(claims: dict[str, Any]) -> str:
    """An ``alg: none`` token (RFC 7519 §6) — must never be accepted."""
    header = b64url(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    return f"{header}.{b64url(json.dumps(claims).encode())}."


def hmac_token(claims: dict[str, Any], secret: bytes, kid: str | None = None) -> str:
    """An HS256 token keyed with ``secret`` (built by hand: PyJWT rightly refuses PEM keys)."""
    header: dict[str, Any] = {"alg": "HS256", "typ": "JWT"}
    if kid:
        header["kid"] = kid
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}"
    signature = hmac.new(secret, signing_input.encode("ascii"), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(signature)}"


class FakeProvider:
    """The fake provider; :meth:`start` serves it, :meth:`stop` shuts the thread down."""

    def __init__(self) -> None:
        self.app = Flask("sdk_fake_op")
        self._routes()
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self.issuer = ""
        self.rsa = SigningKey("RSA", "rsa-1")
        self.ec = SigningKey("EC", "ec-1")
        self.reset()

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """Serve on a free 127.0.0.1 port in a daemon thread."""
        self._server = make_server("127.0.0.1", 0, self.app, threaded=True)
        self.issuer = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and join the thread."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def reset(self) -> None:
        """Default behaviour: both keys published, nothing recorded, standard metadata."""
        self.published_keys = [self.rsa, self.ec]
        self.jwks_fetches = 0
        self.requests: list[dict[str, Any]] = []
        self.metadata_overrides: dict[str, Any] = {}
        self.metadata_issuer: str | None = None
        self.token_response: Callable[[dict[str, str]], tuple[dict[str, Any], int]] = (
            lambda form: ({"error": "invalid_grant", "error_description": "not set up"}, 400)
        )
        self.userinfo_response: tuple[Any, int, dict[str, str]] = ({"sub": "alice"}, 200, {})
        self.introspection_response: dict[str, Any] = {"active": False}

    # ------------------------------------------------------------------ tokens
    def claims(self, nonce: str | None, /, **overrides: Any) -> dict[str, Any]:
        """Valid ID token claims for :data:`CLIENT_ID`; ``overrides`` replace or (None) drop."""
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": "alice",
            "aud": CLIENT_ID,
            "exp": now + 300,
            "iat": now,
            "auth_time": now - 5,
            "nonce": nonce,
            "email": "alice@example.com",
        }
        for name, value in overrides.items():
            if value is None:
                claims.pop(name, None)
            else:
                claims[name] = value
        return claims

    def answer_with(self, make_id_token: Callable[[str], str | None], **extra: Any) -> None:
        """Make the token endpoint answer with a fresh access token and ``make_id_token(access_token)``."""

        def respond(form: dict[str, str]) -> tuple[dict[str, Any], int]:
            access_token = "at-" + uuid.uuid4().hex
            body = {"access_token": access_token, "token_type": "Bearer", "expires_in": 300, **extra}
            id_token = make_id_token(access_token)
            if id_token is not None:
                body["id_token"] = id_token
            return body, 200

        self.token_response = respond

    # ------------------------------------------------------------------ HTTP
    def _record(self) -> None:
        self.requests.append(
            {
                "path": request.path,
                "method": request.method,
                "headers": dict(request.headers),
                "form": request.form.to_dict(),
            }
        )

    def _routes(self) -> None:
        app = self.app

        @app.get("/.well-known/openid-configuration")
        def discovery() -> Any:
            base = self.issuer
            document = {
                "issuer": self.metadata_issuer or base,
                "authorization_endpoint": base + "/authorize",
                "token_endpoint": base + "/token",
                "userinfo_endpoint": base + "/userinfo",
                "jwks_uri": base + "/jwks",
                "revocation_endpoint": base + "/revoke",
                "introspection_endpoint": base + "/introspect",
                "end_session_endpoint": base + "/logout",
                "pushed_authorization_request_endpoint": base + "/par",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["ES256", "RS256"],
                "token_endpoint_auth_methods_supported": [
                    "client_secret_basic", "client_secret_post", "private_key_jwt", "none",
                ],
                "code_challenge_methods_supported": ["S256"],
                "authorization_response_iss_parameter_supported": True,
            }
            document.update(self.metadata_overrides)
            return jsonify(document)

        @app.get("/jwks")
        def jwks() -> Any:
            self.jwks_fetches += 1
            return jsonify({"keys": [k.public_jwk for k in self.published_keys]})

        @app.post("/token")
        def token() -> Any:
            self._record()
            body, status = self.token_response(request.form.to_dict())
            return jsonify(body), status

        @app.post("/par")
        def par() -> Any:
            self._record()
            return jsonify({"request_uri": "urn:ietf:params:oauth:request_uri:abc", "expires_in": 60}), 201

        @app.route("/userinfo", methods=["GET", "POST"])
        def userinfo() -> Any:
            self._record()
            body, status, headers = self.userinfo_response
            if isinstance(body, str):
                return body, status, {"Content-Type": "application/jwt", **headers}
            return jsonify(body), status, headers

        @app.post("/revoke")
        def revoke() -> Any:
            self._record()
            if request.form.get("token") == "unrevocable":
                return jsonify({"error": "unsupported_token_type"}), 400
            return "", 200

        @app.post("/introspect")
        def introspect() -> Any:
            self._record()
            return jsonify(self.introspection_response)
