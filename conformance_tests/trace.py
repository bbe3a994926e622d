"""The HTTP trace of one test: every request and response, secrets redacted, bodies cut.

A verdict is only as useful as what the reader can check: each test's exchanges with the
provider are kept and shown folded under the test in the HTML report and as ``trace`` in
the JSON report. Redacted: Authorization, Cookie and Set-Cookie values; parameters and
JSON members that carry a credential (client_secret, password, code, code_verifier, the
tokens, client assertions); and any value registered as a secret (the person's password,
client secrets) wherever it appears. An ID token is replaced by its decoded header and
claims, which are what a reader needs and prove nothing to anyone else.
"""

from __future__ import annotations

import base64
import contextlib
import json
import re
import threading
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import requests

BODY_LIMIT = 4000
"""Characters of a body kept in the trace."""

MAX_EXCHANGES = 200
"""Exchanges kept per test; later ones are counted, not kept."""

REDACTED = "[redacted]"
SECRET_PARAMS = frozenset({
    "client_secret", "password", "code", "code_verifier", "access_token", "refresh_token", "id_token",
    "id_token_hint", "client_assertion", "token", "registration_access_token", "assertion", "logout_token",
    "device_code", "subject_token", "actor_token",
})
SECRET_HEADERS = frozenset({"authorization", "cookie", "set-cookie", "dpop", "proxy-authorization"})
_NAMES = "|".join(sorted(SECRET_PARAMS))
_HIDDEN_INPUT = re.compile(
    r"""(<input\b[^>]*?\bname\s*=\s*["']?(?:""" + _NAMES + r""")["']?[^>]*?\bvalue\s*=\s*["'])([^"']*)""", re.I)
_HIDDEN_INPUT_VALUE_FIRST = re.compile(
    r"""(<input\b[^>]*?\bvalue\s*=\s*["'])([^"']*)(["'][^>]*?\bname\s*=\s*["']?(?:""" + _NAMES
    + r""")["'\s>/])""", re.I)


class Trace:
    """Exchanges of the test now running; one per run, reset before each test."""

    def __init__(self) -> None:
        self.exchanges: list[dict[str, Any]] = []
        self.dropped = 0
        self.secrets: set[str] = set()
        self._lock = threading.Lock()

    def add_secret(self, value: str | None) -> None:
        """Redact ``value`` wherever it appears from now on (passwords, client secrets)."""
        if value and len(value) >= 4:
            self.secrets.add(value)

    def start(self) -> None:
        """Forget the previous test's exchanges."""
        with self._lock:
            self.exchanges, self.dropped = [], 0

    def take(self) -> list[dict[str, Any]]:
        """The exchanges recorded since :meth:`start`."""
        with self._lock:
            out = list(self.exchanges)
            if self.dropped:
                out.append({"note": f"{self.dropped} more exchanges not kept (limit {MAX_EXCHANGES})"})
            return out

    def hook(self, response: requests.Response, *args: Any, **kwargs: Any) -> requests.Response:
        """A requests response hook: record the exchange, return the response unchanged."""
        self.record(response)
        return response

    def record(self, response: requests.Response) -> None:
        """Keep one requests exchange, redacted."""
        request = response.request
        body = request.body
        if isinstance(body, bytes):
            body = body.decode("utf-8", "replace")
        entry = {
            "request": {
                "method": request.method,
                "url": self._url(request.url or ""),
                "headers": self._headers(request.headers),
                "body": self._body(body or "", request.headers.get("content-type", "")),
            },
            "response": {
                "status": response.status_code,
                "headers": self._headers(response.headers),
                "body": self._body(_text(response), response.headers.get("content-type", "")),
            },
        }
        self._append(entry)

    def note(self, text: str) -> None:
        """A step seen outside requests (the browser driver's navigations)."""
        self._append({"note": self._scrub(self._url_in_text(text))})

    def _append(self, entry: dict[str, Any]) -> None:
        with self._lock:
            if len(self.exchanges) >= MAX_EXCHANGES:
                self.dropped += 1
            else:
                self.exchanges.append(entry)

    # -- redaction --------------------------------------------------------------------------
    def _scrub(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        return text

    def _url(self, url: str) -> str:
        parts = urlsplit(url)
        query = _redact_pairs(parse_qsl(parts.query, keep_blank_values=True))
        fragment = parts.fragment
        if "=" in fragment:
            fragment = urlencode(_redact_pairs(parse_qsl(fragment, keep_blank_values=True)), safe="[]")
        rebuilt = urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query, safe="[]"), fragment))
        return self._scrub(rebuilt)

    def _url_in_text(self, text: str) -> str:
        """URLs inside text or HTML (href, anchor text) with their credentials redacted."""
        return re.sub(r"https?://[^\s\"'<>]+", lambda m: self._url(m.group(0).replace("&amp;", "&")), text)

    def _headers(self, headers: Any) -> dict[str, str]:
        out = {}
        for name, value in headers.items():
            lower = name.lower()
            if lower in SECRET_HEADERS:
                scheme = value.split(" ", 1)[0] if lower in {"authorization", "proxy-authorization"} else ""
                value = f"{scheme} {REDACTED}".strip()
            elif lower == "location":
                value = self._url(value)
            out[name] = self._scrub(str(value))
        return out

    def _body(self, text: str, content_type: str) -> str:
        if not text:
            return ""
        if "json" in content_type or text.lstrip().startswith(("{", "[")):
            with contextlib.suppress(ValueError):
                text = json.dumps(_redact_json(json.loads(text)), indent=1, ensure_ascii=False)
        elif "x-www-form-urlencoded" in content_type or ("=" in text and "<" not in text and " " not in text):
            text = urlencode(_redact_pairs(parse_qsl(text, keep_blank_values=True)), safe="[]")
        else:
            text = _HIDDEN_INPUT.sub(lambda m: m.group(1) + REDACTED, text)
            text = _HIDDEN_INPUT_VALUE_FIRST.sub(lambda m: m.group(1) + REDACTED + m.group(3), text)
        text = self._url_in_text(self._scrub(text))
        if len(text) > BODY_LIMIT:
            text = text[:BODY_LIMIT] + f"\n… ({len(text) - BODY_LIMIT} more characters)"
        return text


def _text(response: requests.Response) -> str:
    try:
        return response.text
    except (RuntimeError, UnicodeDecodeError):  # a streamed or binary body
        return f"[{len(response.content)} bytes]"


def _redact_pairs(pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(k, REDACTED if k in SECRET_PARAMS and v else v) for k, v in pairs]


def _redact_json(value: Any) -> Any:
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if key == "id_token" and isinstance(item, str):
                out[key] = _describe_jwt(item)
            elif key in SECRET_PARAMS and isinstance(item, str):
                out[key] = REDACTED
            else:
                out[key] = _redact_json(item)
        return out
    if isinstance(value, list):
        return [_redact_json(item) for item in value]
    return value


def _describe_jwt(token: str) -> Any:
    """A JWT's header and claims without its signature (or a redaction if it is not one)."""
    try:
        head, payload = token.split(".")[:2]
        decode = lambda s: json.loads(base64.urlsafe_b64decode(s + "=" * (-len(s) % 4)))  # noqa: E731
        return {"redacted_jwt": {"header": decode(head), "claims": decode(payload)}}
    except (ValueError, TypeError):
        return REDACTED


def render_text(exchanges: list[dict[str, Any]]) -> str:
    """The trace as readable text (HTML report, console)."""
    lines: list[str] = []
    for entry in exchanges:
        if "note" in entry:
            lines.append(f"# {entry['note']}")
            continue
        req, res = entry["request"], entry["response"]
        lines.append(f"→ {req['method']} {req['url']}")
        lines.extend(f"  {k}: {v}" for k, v in req["headers"].items() if k.lower() in _SHOWN_REQUEST_HEADERS)
        if req["body"]:
            lines.append("  " + req["body"].replace("\n", "\n  "))
        lines.append(f"← {res['status']}")
        lines.extend(f"  {k}: {v}" for k, v in res["headers"].items() if k.lower() in _SHOWN_RESPONSE_HEADERS)
        if res["body"]:
            lines.append("  " + res["body"].replace("\n", "\n  "))
        lines.append("")
    return "\n".join(lines)


_SHOWN_REQUEST_HEADERS = {"authorization", "content-type", "cookie", "dpop"}
_SHOWN_RESPONSE_HEADERS = {"location", "content-type", "www-authenticate", "retry-after", "set-cookie",
                           "x-frame-options", "content-security-policy", "cache-control"}
