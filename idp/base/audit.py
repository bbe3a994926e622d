"""The audit log: one JSON line per security event on the ``porta.audit`` logger.

Every line carries the id of the HTTP request it happened in (``X-Request-ID``,
echoed when the caller sent a well-formed one, generated otherwise), so an
operator can join the audit trail with access logs and with what an RP reports.

Nothing secret is ever written: a detail whose name suggests a credential
(password, secret, token, code, assertion, cookie, verifier) is dropped rather
than masked, and only short scalars are kept (OWASP Logging Cheat Sheet,
"Data to exclude"; RFC 6819 §5.1.4.1.3 asks not to log credentials in clear).
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

LOGGER = logging.getLogger("porta.audit")
LOGGER.setLevel(logging.INFO)

#: Header that carries the request id in and out.
REQUEST_ID_HEADER = "X-Request-ID"
# A caller's id is echoed only if it is short and plain: nothing a log reader could
# mistake for a second line or a field (no spaces, quotes, control characters).
_WELL_FORMED = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_SENSITIVE = ("password", "secret", "token", "code", "assertion", "cookie", "verifier")
_MAX_TEXT = 320

_request_id: ContextVar[str | None] = ContextVar("porta_request_id", default=None)


def request_id_for(given: str | None) -> str:
    """The id of a request: the caller's own if well-formed, else a fresh random one."""
    if given and _WELL_FORMED.fullmatch(given):
        return given
    return secrets.token_hex(16)


def bind_request_id(value: str | None) -> None:
    """Make ``value`` the current request's id (None when the request ends)."""
    _request_id.set(value)


def current_request_id() -> str | None:
    """The id of the request being served, if any (background work has none)."""
    return _request_id.get()


def _safe(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, list | tuple | set | frozenset):
        return [_safe(item) for item in list(value)[:50]]
    return str(value)[:_MAX_TEXT]


def event(kind: str, **detail: Any) -> None:
    """Write one audit line for ``kind`` with its non-secret ``detail``."""
    line: dict[str, Any] = {
        "at": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "event": kind,
        "request_id": current_request_id(),
    }
    for name, value in detail.items():
        if any(word in name.lower() for word in _SENSITIVE):
            continue
        line[name] = _safe(value)
    LOGGER.info(json.dumps(line, sort_keys=True, separators=(",", ":")))


def log_to_stderr() -> None:
    """Give the audit logger a plain stderr handler unless the operator configured one.

    Without a handler Python drops INFO lines; servers call this so the trail is on by
    default and stays one JSON object per line.
    """
    if LOGGER.handlers:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    LOGGER.addHandler(handler)
    LOGGER.propagate = False
