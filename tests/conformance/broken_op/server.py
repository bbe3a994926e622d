"""Serve the broken test provider on 127.0.0.1 in a background thread."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from werkzeug.serving import make_server

from tests.conformance.broken_op.app import FAULTS, State, create_app


@dataclass
class BrokenOP:
    """A running double: its issuer and the switch board of faults."""

    issuer: str
    state: State

    def set_fault(self, name: str | None, code_lifetime_s: float = 60.0,
                  access_token_lifetime_s: float = 300.0) -> None:
        """Switch exactly one fault on (None: all off) and set the code lifetime."""
        if name is not None and name not in FAULTS:
            raise KeyError(name)
        self.state.faults = {name} if name else set()
        self.state.code_lifetime_s = code_lifetime_s
        self.state.access_token_lifetime_s = access_token_lifetime_s
        self.state.throttle = {}

    def throttle(self, path: str, times: int) -> None:
        """Answer the next ``times`` requests to ``path`` with 429 (-1: every one)."""
        self.state.throttle[path] = times


@contextmanager
def broken_op() -> Iterator[BrokenOP]:
    """Start the double on a free port; stop it when the block ends."""
    server = make_server("127.0.0.1", 0, app=None, threaded=True)  # type: ignore[arg-type]
    port = server.server_port
    issuer = f"http://127.0.0.1:{port}"
    app = create_app(issuer)
    server.app = app
    thread = threading.Thread(target=server.serve_forever, name="broken-op", daemon=True)
    thread.start()
    try:
        yield BrokenOP(issuer=issuer, state=app.config["STATE"])
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
