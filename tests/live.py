"""A real `porta serve` on 127.0.0.1, set up only through the `porta` CLI.

Used by tests that must see Porta the way an operator runs it: separate
process, real sockets, a SQLite file (or PostgreSQL) of its own.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import requests


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def porta_executable() -> str:
    """The `porta` console script of this environment."""
    candidate = Path(sys.executable).with_name("porta")
    return str(candidate) if candidate.exists() else (shutil.which("porta") or "porta")


class LivePorta:
    """Runs `porta` CLI commands and one `porta serve` process against a private database."""

    def __init__(self, workdir: Path, *, database_url: str | None = None, **env: str) -> None:
        self.port = free_port()
        self.issuer = f"http://127.0.0.1:{self.port}"
        self.workdir = workdir
        self.env = {
            **os.environ,
            "PORTA_DATABASE_URL": database_url or f"sqlite:///{workdir}/porta.sqlite",
            "PORTA_ISSUER": self.issuer,
            "PORTA_SECRET_KEY": "live-test-secret-" + "y" * 16,
            **{f"PORTA_{k}": v for k, v in env.items()},
        }
        self.process: subprocess.Popen[bytes] | None = None
        self.log = workdir / "porta-serve.log"

    def cli(self, *args: str, stdin: str | None = None) -> str:
        """Run `porta ARGS…`; returns stdout, raises with stderr on failure."""
        result = subprocess.run(
            [porta_executable(), *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=self.env,
            cwd=self.workdir,
            timeout=120,
        )
        if result.returncode != 0:
            raise AssertionError(f"porta {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
        return result.stdout

    def create_user(self, email: str, password: str, name: str) -> None:
        """`porta users create`."""
        self.cli("users", "create", email, "--name", name, "--password-stdin", stdin=password + "\n")

    def create_client(self, *args: str) -> dict[str, Any]:
        """`porta clients create … --json`."""
        return json.loads(self.cli("clients", "create", *args, "--json"))

    def start(self, workers: int = 1) -> LivePorta:
        """Start `porta serve` and wait until discovery answers."""
        handle = self.log.open("wb")
        self.process = subprocess.Popen(
            [porta_executable(), "serve", "--host", "127.0.0.1", "--port", str(self.port), "--workers", str(workers)],
            env=self.env,
            cwd=self.workdir,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"porta serve exited early:\n{self.log.read_text()}")
            try:
                if requests.get(self.issuer + "/.well-known/openid-configuration", timeout=1).ok:
                    return self
            except requests.RequestException:
                time.sleep(0.2)
        self.stop()
        raise AssertionError(f"porta serve did not start:\n{self.log.read_text()}")

    def stop(self) -> None:
        """Stop the server we started (its whole process group), by PID."""
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=5)

    def __enter__(self) -> LivePorta:
        # `with server.start():` and `with server:` both work; never start a second server.
        if self.process is None or self.process.poll() is not None:
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def browser_login(session: requests.Session, authorization_url: str, email: str, password: str, redirect_prefix: str) -> str:
    """Play the person's part with plain HTTP: log in, approve, return the redirect to the client."""
    import re
    from urllib.parse import urljoin

    def csrf(html: str) -> str:
        return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)

    def hidden(html: str, name: str) -> str | None:
        match = re.search(rf'name="{name}" value="([^"]+)"', html)
        return match.group(1) if match else None

    response = session.get(authorization_url, allow_redirects=False, timeout=10)
    for _ in range(6):
        location = response.headers.get("Location", "")
        if response.status_code in (302, 303) and location.startswith(redirect_prefix):
            return location
        if response.status_code not in (302, 303):
            raise AssertionError(f"unexpected {response.status_code}: {response.text[:500]}")
        page_url = urljoin(response.url, location)
        page = session.get(page_url, timeout=10)
        form = {"csrf_token": csrf(page.text)}
        interaction = hidden(page.text, "interaction")
        if interaction:
            form["interaction"] = interaction
        if "/login" in page_url:
            form.update(email=email, password=password)
            response = session.post(urljoin(page_url, "/login"), data=form, allow_redirects=False, timeout=30)
        else:
            form["decision"] = "approve"
            # A person who shares everything offered (nothing is ticked in advance).
            form["claim"] = [
                value
                for value, rest in re.findall(r'name="claim" value="([^"]+)"([^>]*)>', page.text)
                if "disabled" not in rest
            ]
            if 'name="offline_access"' in page.text:
                form["offline_access"] = "yes"
            response = session.post(urljoin(page_url, "/consent"), data=form, allow_redirects=False, timeout=10)
    raise AssertionError("too many redirects")
