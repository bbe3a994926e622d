"""Run a live Porta (``porta serve``) on 127.0.0.1 for tests, and drive its login and consent pages.

Usage::

    from porta_live import porta_server, available

    with porta_server(tmp_path) as porta:
        porta.create_user("alice@example.com", "Alice Example", "pw-123456789")
        creds = porta.create_client("Shop", ["http://127.0.0.1:5001/callback"])
        ...  # porta.issuer == "http://127.0.0.1:<port>"
        arrival = porta.login(auth_url, "http://127.0.0.1:5001/callback",
                              "alice@example.com", "pw-123456789")

The server runs as a subprocess against a fresh SQLite database in the given folder, is
configured only through ``PORTA_*`` environment variables, and is stopped by its PID when
the ``with`` block ends.  ``porta serve`` runs from the ``porta`` console script when it is
installed, otherwise as ``idp.cli.main`` under this interpreter; management commands
(``users create``, ``clients create`` …) run the same click command in-process.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests
from sdk_browser import Arrival, drive

ROOT = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT_S = 180.0  # a safety net for a stuck server on a loaded machine, not a speed check

#: The person the ``porta`` fixture creates.
PORTA_USER = {"email": "alice@example.com", "name": "Alice Example", "password": "correct horse 1234"}


def available() -> str | None:
    """``None`` when Porta can be run here, else the reason it cannot."""
    if importlib.util.find_spec("idp") is None:
        return "the idp package is not importable"
    if importlib.util.find_spec("idp.cli") is None:
        return "idp.cli does not exist yet (the provider is still being built)"
    return None


def _command() -> list[str]:
    script = shutil.which("porta") or str(Path(sys.executable).with_name("porta"))
    if Path(script).exists():
        return [script]
    return [sys.executable, "-c", "import sys; from idp.cli import main; sys.exit(main())"]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PortaServer:
    """A running Porta: its issuer, its environment, and helpers over the ``porta`` CLI."""

    def __init__(self, folder: Path, port: int) -> None:
        self.folder = folder
        self.port = port
        self.issuer = f"http://127.0.0.1:{port}"
        self.env = {
            **os.environ,
            "PORTA_DATABASE_URL": f"sqlite:///{folder / 'porta.sqlite'}",
            "PORTA_ISSUER": self.issuer,
            "PORTA_SECRET_KEY": "client-sdk-tests-secret-key-0123456789",
            # These suites log in many times from 127.0.0.1 within a minute; Porta's login
            # rate limit (a brute-force defence, tested by Porta's own suite) would refuse
            # them, so the test server allows more.
            "PORTA_LOGIN_RATE_LIMIT": "600 per minute",
            "PYTHONPATH": os.pathsep.join(
                p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p
            ),
        }
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = folder / "porta-serve.log"

    def cli(self, *args: str, stdin: str | None = None) -> str:
        """Run ``porta ARGS`` against this server's database and return its stdout.

        The click command runs in this process (``CliRunner``) with the server's
        environment: the same command-line parsing and code as the console script, without
        paying for a fresh interpreter and imports on every call.
        """
        from click.testing import CliRunner

        from idp.cli import main as porta_main

        overrides = {k: v for k, v in self.env.items() if k.startswith("PORTA_")}
        result = CliRunner().invoke(porta_main, list(args), input=stdin, env=overrides)
        if result.exit_code != 0:
            raise RuntimeError(
                f"porta {' '.join(args)} failed ({result.exit_code}):\n{result.output}"
            ) from result.exception
        return result.stdout

    def create_user(self, email: str, name: str, password: str) -> None:
        """``porta users create EMAIL --name NAME --password-stdin``."""
        self.cli("users", "create", email, "--name", name, "--password-stdin", stdin=password + "\n")

    def create_client(
        self,
        name: str,
        redirect_uris: Sequence[str],
        *,
        public: bool = False,
        grant_types: Sequence[str] = (),
        token_endpoint_auth_method: str | None = None,
        post_logout_redirect_uris: Sequence[str] = (),
        extra: Sequence[str] = (),
    ) -> dict[str, Any]:
        """``porta clients create … --json``; returns ``{"client_id", "client_secret"?}``.

        ``extra`` are further options passed as given (e.g. ``--native``, ``--id-token-alg``).
        """
        args = ["clients", "create", "--name", name, "--json"]
        for uri in redirect_uris:
            args += ["--redirect-uri", uri]
        if public:
            args.append("--public")
        for grant in grant_types:
            args += ["--grant-type", grant]
        if token_endpoint_auth_method:
            args += ["--token-endpoint-auth-method", token_endpoint_auth_method]
        for uri in post_logout_redirect_uris:
            args += ["--post-logout-redirect-uri", uri]
        output = self.cli(*args, *extra)
        start = output.find("{")
        return json.loads(output[start : output.rfind("}") + 1])

    def login(
        self,
        url: str,
        redirect_prefix: str,
        email: str,
        password: str,
        *,
        session: requests.Session | None = None,
        deny: bool = False,
    ) -> Arrival:
        """Drive Porta's login and consent forms from ``url`` until it redirects to the RP."""
        return drive(
            session or requests.Session(),
            url,
            redirect_prefix,
            {"email": email, "password": password},
            deny=deny,
        )

    def start(self) -> None:
        """Start ``porta serve`` and wait until discovery answers."""
        log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [*_command(), "serve", "--host", "127.0.0.1", "--port", str(self.port), "--workers", "1"],
            env=self.env,
            cwd=self.folder,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        url = self.issuer + "/.well-known/openid-configuration"
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"porta serve exited:\n{self.log_path.read_text()}")
            try:
                if requests.get(url, timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"porta serve did not answer at {url}:\n{self.log_path.read_text()}")
            time.sleep(0.2)

    def stop(self) -> None:
        """Terminate the server by its PID (kill it if it lingers)."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@contextmanager
def porta_server(folder: Path, port: int | None = None) -> Iterator[PortaServer]:
    """Run Porta on 127.0.0.1 with its database in ``folder``; stop it on exit."""
    folder.mkdir(parents=True, exist_ok=True)
    attempts = 1 if port else 3
    for attempt in range(attempts):
        server = PortaServer(folder, port or free_port())
        try:
            server.start()
            break
        except RuntimeError as exc:
            # The free port may have been taken by another process between our check and
            # the server's bind (other suites run in parallel); then try another port.
            if attempt == attempts - 1 or not str(exc).startswith("porta serve exited"):
                raise
    try:
        yield server
    finally:
        server.stop()
