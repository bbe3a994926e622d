"""Start node-oidc-provider (panva, from npm) on 127.0.0.1 as an independent OpenID provider.

The provider is pinned in ``package.json`` next to this file and configured by ``server.js``.
It is the "other implementation" that Porta's client SDK and conformance suite are checked
against, so a verdict that only holds against Porta is caught.

API (kept stable; other test suites import it)::

    from tests.interop.node_op.launcher import node_op, DEFAULT_USER

    with node_op(clients=[{"client_id": "rp", "client_secret": "s3cret",
                           "redirect_uris": ["http://127.0.0.1:8000/cb"]}]) as issuer:
        ...  # issuer == "http://127.0.0.1:<port>"

* ``clients``: client metadata dicts with RFC 7591 / OIDC Registration names
  (``client_id``, ``client_secret``, ``redirect_uris``, ``token_endpoint_auth_method``,
  ``grant_types``, ``post_logout_redirect_uris``, ...). A client without ``grant_types``
  gets ``authorization_code`` + ``refresh_token``; ``token_endpoint_auth_method="none"``
  makes a public client (PKCE S256 is then required by the provider).
* ``users``: accounts whose claims the provider releases; defaults to ``[DEFAULT_USER]``.
  The provider's development login page (inputs ``login`` and ``password``) accepts any
  login name and does not check the password; the consent page is a single form.
* Features on: discovery, JWKS (RS256 + ES256), dynamic registration (open, RFC 7591/7592),
  revocation, introspection, ``claims`` parameter, RP-initiated logout, form_post, ``iss``
  in the authorization response (RFC 9207). Refresh tokens are issued for ``offline_access``.

``node_modules`` is installed on first use with ``npm ci`` (``ensure_installed()``); CI can
run it ahead of time with ``python -m tests.interop.node_op.launcher --install``.
The server process is stopped (by its PID) when the ``with`` block ends.
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent

DEFAULT_USER: dict[str, Any] = {
    "username": "alice@example.com",
    "password": "correct horse battery staple",
    "claims": {
        "email": "alice@example.com",
        "email_verified": True,
        "name": "Alice Example",
        "given_name": "Alice",
        "family_name": "Example",
    },
}
"""The account the provider knows unless ``users`` is given."""

STARTUP_TIMEOUT_S = 60.0


class NodeOPError(RuntimeError):
    """node or npm is missing, the install failed, or the provider did not start."""


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def ensure_installed() -> None:
    """Install the pinned node-oidc-provider into ``node_modules`` if it is not there yet.

    Uses ``npm ci`` (exact versions from ``package-lock.json``); raises NodeOPError when
    node/npm are missing or the install fails.
    """
    marker = HERE / "node_modules" / "oidc-provider" / "package.json"
    if marker.exists():
        return
    lock_path = Path(tempfile.gettempdir()) / f"porta-node-op-{hashlib.sha256(bytes(HERE)).hexdigest()[:12]}.lock"
    with lock_path.open("w") as lock:  # parallel test workers install once
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not marker.exists():
                _npm_install()
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _npm_install() -> None:
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        raise NodeOPError("node and npm are needed to run node-oidc-provider")
    command = [npm, "ci", "--no-audit", "--no-fund"]
    if not (HERE / "package-lock.json").exists():
        command[1] = "install"
    result = subprocess.run(command, cwd=HERE, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise NodeOPError(f"{' '.join(command)} failed:\n{result.stdout}\n{result.stderr}")


def _normalise_client(client: Mapping[str, Any]) -> dict[str, Any]:
    metadata = dict(client)
    if "client_id" not in metadata or "redirect_uris" not in metadata:
        raise ValueError("each client needs client_id and redirect_uris")
    metadata.setdefault("grant_types", ["authorization_code", "refresh_token"])
    metadata.setdefault("response_types", ["code"])
    if metadata.get("token_endpoint_auth_method") == "none":
        metadata.pop("client_secret", None)
    return metadata


@contextmanager
def node_op(
    port: int | None = None,
    clients: Sequence[Mapping[str, Any]] = (),
    users: Sequence[Mapping[str, Any]] | None = None,
    code_ttl: int | None = None,
) -> Iterator[str]:
    """Run node-oidc-provider on ``127.0.0.1:port`` (a free port if None) and yield its issuer.

    ``code_ttl`` shortens the authorization code lifetime (seconds; default 60).

    The process is terminated (then killed if it lingers) when the block exits.
    """
    ensure_installed()
    port = port or free_port()
    issuer = f"http://127.0.0.1:{port}"
    settings = {
        "port": port,
        "issuer": issuer,
        "clients": [_normalise_client(c) for c in clients],
        "users": [dict(u) for u in (users if users is not None else [DEFAULT_USER])],
        "code_ttl": code_ttl,
    }
    with tempfile.TemporaryDirectory(prefix="node-op-") as workdir:
        config_path = Path(workdir) / "config.json"
        config_path.write_text(json.dumps(settings))
        log_path = Path(workdir) / "server.log"
        env = {**os.environ, "NODE_OP_CONFIG": str(config_path), "NODE_ENV": "test"}
        with log_path.open("w") as log:
            process = subprocess.Popen(
                ["node", str(HERE / "server.js")],
                cwd=HERE,
                env=env,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
            )
        try:
            _wait_ready(process, log_path)
            yield issuer
        finally:
            _stop(process)


def _wait_ready(process: subprocess.Popen[str], log_path: Path) -> None:
    """Block until the server prints its ready line; keep draining stdout afterwards."""
    ready = threading.Event()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            if line.startswith("NODE_OP_READY"):
                ready.set()

    threading.Thread(target=pump, daemon=True).start()
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while not ready.wait(0.05):
        if process.poll() is not None or time.monotonic() > deadline:
            _stop(process)
            raise NodeOPError(f"node-oidc-provider did not start:\n{log_path.read_text()}")


def _stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def main() -> None:
    """``python -m tests.interop.node_op.launcher [--install]``: install, or run until Ctrl-C."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--install", action="store_true", help="only run npm ci and exit")
    parser.add_argument("--port", type=int, default=None)
    args = parser.parse_args()
    ensure_installed()
    if args.install:
        return
    with node_op(port=args.port) as issuer:
        print(issuer, flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
