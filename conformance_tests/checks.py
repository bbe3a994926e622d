"""Assertions on HTTP answers that several plans share, with messages naming the values seen.

A message must let the reader act without re-running the test: it names what was sent,
what was expected and what came back (status, ``error``, ``error_description``, and the
start of any other body).
"""

from __future__ import annotations

import re
from typing import Any

import requests

from conformance_tests.registry import expect, fail

BODY_EXCERPT = 1000
"""Characters of a non-JSON body quoted in a message (a provider's reason is rarely longer)."""


def json_body(response: requests.Response) -> Any:
    """The decoded JSON body, or None when the body is not JSON."""
    try:
        return response.json()
    except ValueError:
        return None


def error_code(response: requests.Response) -> str | None:
    """The ``error`` member of an OAuth error response (RFC 6749 §5.2), if any."""
    body = json_body(response)
    return body.get("error") if isinstance(body, dict) else None


def excerpt(response: requests.Response) -> str:
    """``HTTP 400 error='invalid_grant' error_description='…'`` or the body's text."""
    body = json_body(response)
    if isinstance(body, dict) and "error" in body:
        text = f"error={body.get('error')!r}"
        if body.get("error_description"):
            text += f" error_description={body['error_description']!r}"
        return f"HTTP {response.status_code} {text}"
    text = response.text
    if "html" in response.headers.get("content-type", ""):
        text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", text)).strip()
    if len(text) > BODY_EXCERPT:
        text = text[:BODY_EXCERPT] + f"… ({len(response.text)} characters)"
    return f"HTTP {response.status_code} {text!r}" if text else f"HTTP {response.status_code} (empty body)"


def refused(response: requests.Response, what: str, errors: set[str] | None = None) -> None:
    """A token-endpoint style refusal: 400/401 with an OAuth error and no token."""
    if response.status_code == 200:
        fail(f"{what}: accepted (HTTP 200, tokens issued); expected an error response")
    expect(response.status_code in {400, 401},
           f"{what}: {excerpt(response)}, expected HTTP 400 or 401 with an OAuth error (RFC 6749 §5.2)")
    body = json_body(response)
    expect(not (isinstance(body, dict) and body.get("access_token")), f"{what}: an access token was issued")
    if errors is not None:
        expect(error_code(response) in errors,
               f"{what}: error {error_code(response)!r}, expected one of {sorted(errors)} ({excerpt(response)})")


def succeeded(response: requests.Response, what: str) -> dict[str, Any]:
    """A 200 JSON object answer, or a failure naming what came back instead."""
    if response.status_code != 200:
        fail(f"{what} failed: {excerpt(response)}")
    body = json_body(response)
    if not isinstance(body, dict):
        fail(f"{what}: HTTP 200 but the body is not a JSON object: {excerpt(response)}")
    return body
