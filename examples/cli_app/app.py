"""A native command-line app: log in with your profile, print what you consented to share.

OAuth 2.0 for Native Apps (RFC 8252): the app is a public client (no secret it could keep),
receives the authorization response on a loopback redirect ``http://127.0.0.1:<port>/callback``
(§7.3; the port is chosen by the OS, the provider must accept any port for loopback, §7.3,
and the IP literal is used rather than ``localhost``, §8.3), protects the code with PKCE
S256 (§8.1, RFC 7636), and opens the person's own browser (§4.1, no embedded web view).

Run it against ``porta demo``::

    python -m examples.cli_app
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import webbrowser
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from client_sdk import Client, PortaClientError

DEFAULT_ISSUER = "http://127.0.0.1:8000"
DEFAULT_CLIENT_ID = "demo-cli"

PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem}}</style>
</head><body><main><h1>{title}</h1><p>{text}</p></main></body></html>"""


class LoopbackReceiver:
    """A one-shot HTTP server on 127.0.0.1 that waits for the authorization response."""

    def __init__(self) -> None:
        receiver = self
        self.params: dict[str, list[str]] | None = None
        self._done = threading.Event()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                if parts.path != "/callback":
                    self.send_error(404)
                    return
                params = parse_qs(parts.query)
                ok = "code" in params
                body = PAGE.format(
                    title="You are logged in" if ok else "Login did not complete",
                    text="You can close this window and return to the terminal."
                    if ok
                    else "Return to the terminal for details.",
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                receiver.params = params
                receiver._done.set()

            def log_message(self, format: str, *args: Any) -> None:
                return  # keep the terminal for the app's own output

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.redirect_uri = f"http://127.0.0.1:{self.server.server_port}/callback"

    def wait(self, timeout: float) -> dict[str, list[str]] | None:
        """Serve until the callback arrives or ``timeout`` seconds pass; then close the port."""
        thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        thread.start()
        try:
            self._done.wait(timeout)
        finally:
            self.server.shutdown()
            self.server.server_close()
        return self.params


def main(argv: list[str] | None = None) -> int:
    """Log in through the browser and print the consented profile as JSON; exit status 0 on success."""
    parser = argparse.ArgumentParser(description="Log in with your profile and print it.")
    parser.add_argument("--issuer", default=DEFAULT_ISSUER, help=f"provider (default {DEFAULT_ISSUER})")
    parser.add_argument(
        "--client-id",
        default=DEFAULT_CLIENT_ID,
        help="a registered public native client; '' registers one dynamically (RFC 7591)",
    )
    parser.add_argument("--scope", default="openid profile email")
    parser.add_argument("--no-browser", action="store_true", help="only print the URL to open")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for the login")
    args = parser.parse_args(argv)

    receiver = LoopbackReceiver()
    try:
        if args.client_id:
            client = Client.from_issuer(args.issuer, args.client_id, redirect_uri=receiver.redirect_uri)
        else:
            client = Client.register(
                args.issuer,
                redirect_uris=[receiver.redirect_uri],
                client_name="Porta CLI example",
                application_type="native",
                token_endpoint_auth_method="none",
            )
        request = client.authorization_url(args.scope)
    except PortaClientError as exc:
        receiver.server.server_close()
        print(f"error: {exc}", file=sys.stderr)
        return 2

    print(f"Open this address to log in:\n  {request.url}", file=sys.stderr, flush=True)
    if not args.no_browser:
        webbrowser.open(request.url)
    params = receiver.wait(args.timeout)
    if params is None:
        print("error: no login within the time limit", file=sys.stderr)
        return 1
    try:
        tokens = client.exchange_code(params, request)
        profile = client.userinfo(tokens)
    except PortaClientError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(profile, indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
