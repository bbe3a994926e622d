"""Start Porta (``porta serve``) on 127.0.0.1 with a fresh SQLite database, for the suite.

::

    with porta_op(tmp_path) as op:
        op.issuer          # "http://127.0.0.1:<port>"
        op.op_toml         # dict ready for tomli_w: issuer, [client], [public_client], [user]

The person and the two clients are created with Porta's own CLI (``porta users create``,
``porta clients create --json``), as an operator would. ``share_database_with`` starts a
second server on the same database (Porta's web tier is stateless), e.g. with a short
``PORTA_AUTH_CODE_TTL`` for the expired-code test. Servers are stopped by PID.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

USERNAME = "alice@example.com"
PASSWORD = "conformance-Alice-pw-2718"
REDIRECT_URI = "http://127.0.0.1:8976/porta-conformance/rp"
POST_LOGOUT_URI = "http://127.0.0.1:8976/porta-conformance/rp-bye"
NATIVE_REDIRECT_URI = "http://127.0.0.1:8976/porta-conformance/native"
STARTUP_TIMEOUT_S = 90.0


class PortaLaunchError(RuntimeError):
    """porta is not installed, a CLI step failed, or the server did not come up."""


def porta_executable() -> str | None:
    """The ``porta`` console script: on PATH, else next to this interpreter (an inactive venv)."""
    found = shutil.which("porta")
    if found is None:
        beside = Path(sys.executable).with_name("porta")
        found = str(beside) if beside.is_file() and os.access(beside, os.X_OK) else None
    return found


def porta_available() -> bool:
    """True when the ``porta`` console script and the ``idp`` package are installed."""
    if porta_executable() is None:
        return False
    try:
        import idp  # noqa: F401
    except ImportError:
        return False
    return True


@dataclass
class PortaOP:
    """A running Porta and what the suite needs to test it."""

    issuer: str
    env: dict[str, str]
    op_toml: dict[str, Any] = field(default_factory=dict)
    log_path: Path | None = None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _cli(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    result = subprocess.run([porta_executable() or "porta", *args], env=env, input=stdin, capture_output=True, text=True,
                            check=False)
    if result.returncode != 0:
        raise PortaLaunchError(f"porta {' '.join(args)} failed ({result.returncode}):\n"
                               f"{result.stdout}\n{result.stderr}")
    return result.stdout


def _client(env: dict[str, str], *args: str) -> dict[str, Any]:
    out = _cli(env, "clients", "create", "--json", *args)
    return json.loads(out.strip().splitlines()[-1])


@contextmanager
def _serve(env: dict[str, str], port: int, log_path: Path) -> Iterator[None]:
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [porta_executable() or "porta", "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
            env=env, stdout=log, stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        url = f"http://127.0.0.1:{port}/.well-known/openid-configuration"
        while True:
            if process.poll() is not None:
                raise PortaLaunchError(f"porta serve exited ({process.returncode}):\n{log_path.read_text()}")
            try:
                if requests.get(url, timeout=10).status_code == 200:
                    break
            except (requests.ConnectionError, requests.Timeout):
                pass
            if time.monotonic() > deadline:
                raise PortaLaunchError(f"porta serve did not answer {url}:\n{log_path.read_text()}")
            time.sleep(0.2)
        yield
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _environment(workdir: Path, port: int, database_url: str, extra: dict[str, str]) -> dict[str, str]:
    env = {
        **os.environ,
        "PORTA_DATABASE_URL": database_url,
        "PORTA_ISSUER": f"http://127.0.0.1:{port}",
        "PORTA_SECRET_KEY": secrets.token_urlsafe(32),
        # The suite logs in dozens of times a minute from one address; the default login
        # rate limit (RFC 9700 brute-force defence) would rightly stop it.
        "PORTA_LOGIN_RATE_LIMIT": "10000 per minute",
        **extra,
    }
    return env


@contextmanager
def porta_op(workdir: Path, *, settings: dict[str, str] | None = None) -> Iterator[PortaOP]:
    """A fresh Porta: database upgraded, one person, a confidential and a public client."""
    if not porta_available():
        raise PortaLaunchError("porta is not installed: no `porta` on PATH or beside "
                               f"{sys.executable} (pip install -e . in the repository)")
    workdir.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    database_url = f"sqlite:///{workdir / 'porta.sqlite'}"
    env = _environment(workdir, port, database_url, settings or {})
    _cli(env, "db", "upgrade")
    with ThreadPoolExecutor(max_workers=3) as pool:  # independent CLI runs; argon2 is the slow one
        user = pool.submit(_cli, env, "users", "create", USERNAME, "--name", "Alice Example",
                           "--password-stdin", stdin=PASSWORD + "\n")
        rp_future = pool.submit(_client, env, "--name", "conformance RP", "--redirect-uri", REDIRECT_URI,
                                "--post-logout-redirect-uri", POST_LOGOUT_URI)
        native_future = pool.submit(_client, env, "--name", "conformance native app", "--public",
                                    "--redirect-uri", NATIVE_REDIRECT_URI)
        user.result()
        rp, native = rp_future.result(), native_future.result()
    issuer = env["PORTA_ISSUER"]
    op = PortaOP(issuer=issuer, env=env, log_path=workdir / "serve.log")
    op.op_toml = {
        "issuer": issuer,
        "client": {"client_id": rp["client_id"], "client_secret": rp["client_secret"],
                   "redirect_uri": REDIRECT_URI, "post_logout_redirect_uri": POST_LOGOUT_URI},
        "public_client": {"client_id": native["client_id"], "redirect_uri": NATIVE_REDIRECT_URI},
        "user": {"username": USERNAME, "password": PASSWORD},
        # oidcc-codereuse-30seconds waits 30 s by default; 2 s exercises the same rule in CI
        "timing": {"code_reuse_wait_s": 2},
        # Porta's policy (idp/protocol/introspection.py): any confidential client may introspect
        # access tokens (resource servers are clients); refresh tokens only their own client.
        "provider": {"introspection_shared": ["access_token"]},
    }
    assert op.log_path is not None
    with _serve(env, port, op.log_path):
        yield op


@contextmanager
def share_database_with(op: PortaOP, workdir: Path, settings: dict[str, str]) -> Iterator[PortaOP]:
    """A second ``porta serve`` on ``op``'s database with other settings and its own issuer."""
    port = _free_port()
    env = {**op.env, "PORTA_ISSUER": f"http://127.0.0.1:{port}", **settings}
    second = PortaOP(issuer=env["PORTA_ISSUER"], env=env, log_path=workdir / f"serve-{port}.log")
    second.op_toml = {**op.op_toml, "issuer": second.issuer}
    assert second.log_path is not None
    with _serve(env, port, second.log_path):
        yield second
