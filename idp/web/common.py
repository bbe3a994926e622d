"""What every blueprint shares: strict parameter parsing, the request's Context, error rendering."""

from __future__ import annotations

import hashlib
from typing import Any
from urllib.parse import parse_qsl

from flask import Response, current_app, g, jsonify, render_template, request, session

from idp.base.context import Context
from idp.base.errors import InvalidRequestError, OAuthError, RequestTooLargeError
from idp.protocol.authorize import LoginState
from idp.storage import Store

FORM_TYPE = "application/x-www-form-urlencoded"
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def store() -> Store:
    """The request's unit of work (closed, rolled back if uncommitted, at teardown)."""
    if "porta_store" not in g:
        g.porta_store = Store(current_app.extensions["porta"]["sessionmaker"]())
    return g.porta_store


def context() -> Context:
    """The protocol Context for this request."""
    porta = current_app.extensions["porta"]
    return Context(
        settings=porta["settings"],
        store=store(),
        keys=porta["keys"],
        fetch_json=porta["fetch_json"],
        catalogue=porta["catalogue"],
    )


def _decode_pairs(raw: bytes, where: str) -> tuple[dict[str, str], set[str]]:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidRequestError(f"the {where} is not valid UTF-8") from exc
    try:
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=False, errors="strict")
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidRequestError(f"the {where} is not valid percent-encoded UTF-8") from exc
    params: dict[str, str] = {}
    duplicated: set[str] = set()
    for name, value in pairs:
        if "\x00" in name or "\x00" in value:
            raise InvalidRequestError(f"the {where} contains a NUL character")
        if name in params:
            duplicated.add(name)
        # RFC 6749 §3.1: parameters sent without a value are treated as omitted.
        if value != "":
            params[name] = value
    return params, duplicated


def query_params() -> tuple[dict[str, str], set[str]]:
    """Query parameters, strictly decoded, with the names that were repeated."""
    return _decode_pairs(request.query_string, "query string")


def request_body() -> bytes:
    """The whole request body, or a 413 OAuth error when it exceeds MAX_REQUEST_BYTES.

    Without a Content-Length (chunked), the server stream stops at the limit instead
    of failing, so a body that fills the limit is refused: a truncated body must never
    be read as if it were complete.
    """
    limit = current_app.extensions["porta"]["settings"].max_request_bytes
    if request.content_length is not None and request.content_length > limit:
        raise RequestTooLargeError(f"request body larger than {limit} bytes")
    raw = request.get_data(cache=True)
    if len(raw) > limit or (request.content_length is None and len(raw) >= limit):
        raise RequestTooLargeError(f"request body larger than {limit} bytes")
    return raw


def body_params(*, required: bool = True) -> tuple[dict[str, str], set[str]]:
    """Form body parameters (RFC 6749 Appendix B), strictly decoded, with repeated names."""
    limit = current_app.extensions["porta"]["settings"].max_request_bytes
    if request.content_length is not None and request.content_length > limit:
        raise RequestTooLargeError(f"request body larger than {limit} bytes")
    if request.mimetype != FORM_TYPE:
        if not required and not request.content_length:
            return {}, set()
        raise InvalidRequestError(f"the request body must be {FORM_TYPE}")
    return _decode_pairs(request_body(), "request body")


def single(params: dict[str, str], duplicated: set[str]) -> dict[str, str]:
    """Refuse repeated parameters (RFC 6749 §3.1, §3.2)."""
    if duplicated:
        raise InvalidRequestError(
            f"parameter(s) repeated: {', '.join(sorted(duplicated))} (RFC 6749 §3.1)"
        )
    return params


def oauth_error_response(error: OAuthError, headers: dict[str, str] | None = None) -> Response:
    """An RFC 6749 §5.2 JSON error."""
    response = jsonify(error.to_dict())
    response.status_code = error.status_code
    response.headers.update(NO_STORE)
    response.headers.update(headers or {})
    return response


def json_response(body: dict[str, Any], status: int = 200, *, no_store: bool = True) -> Response:
    """A JSON success response, not cacheable by default (RFC 6749 §5.1)."""
    response = jsonify(body)
    response.status_code = status
    if no_store:
        response.headers.update(NO_STORE)
    return response


def error_page(title: str, message: str, status: int = 400) -> tuple[str, int]:
    """A page for the person when nothing may be redirected."""
    return render_template("error.html", title=title, message=message), status


def current_login() -> LoginState | None:
    """The person logged in with this browser, if the session is still live."""
    sid = session.get("sid")
    if not sid:
        return None
    row = store().get_login_session(sid)
    if row is None:
        return None
    user = store().get_user(row.user_id)
    if user is None:
        return None
    return LoginState(user=user, sid=row.sid, auth_time=row.auth_time)


def session_cookie_name(issuer: str) -> str:
    """The login session cookie's name, derived from the issuer.

    Browsers share cookies between ports of one host (RFC 6265 §8.5), so two providers on
    127.0.0.1:8000 and :8001 would overwrite each other's session under one fixed name.
    """
    return "porta_session_" + hashlib.sha256(issuer.encode()).hexdigest()[:10]
