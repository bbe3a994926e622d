"""A tiny form-filling "browser" over requests, enough to drive login and consent pages.

It follows redirects by hand until the provider sends the browser to the RP's redirect_uri,
filling each HTML form it meets: text/email/password inputs from ``answers`` (by input
name), hidden inputs as served, and the approving submit button.  A ``form_post`` response
(OAuth 2.0 Form Post Response Mode) is returned as the form's fields.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin

import requests

APPROVE_WORDS = ("approve", "allow", "accept", "continue", "yes", "confirm", "sign-in", "log in", "login")
MAX_STEPS = 30


@dataclass
class Form:
    """One HTML form: its action, method, inputs and submit buttons."""

    action: str
    method: str
    inputs: list[dict[str, str]] = field(default_factory=list)
    buttons: list[dict[str, str]] = field(default_factory=list)


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[Form] = []
        self._button: dict[str, str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: (v or "") for k, v in attrs}
        if tag == "form":
            self.forms.append(Form(a.get("action", ""), a.get("method", "get").lower()))
        elif not self.forms:
            return
        elif tag == "input":
            if a.get("type", "text").lower() == "submit":
                self.forms[-1].buttons.append({**a, "text": a.get("value", "")})
            else:
                self.forms[-1].inputs.append(a)
        elif tag == "button":
            self._button = {**a, "text": ""}
            self.forms[-1].buttons.append(self._button)

    def handle_data(self, data: str) -> None:
        if self._button is not None:
            self._button["text"] += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "button":
            self._button = None


def parse_forms(html: str) -> list[Form]:
    """All forms in ``html``."""
    parser = _FormParser()
    parser.feed(html)
    return parser.forms


def _approving(buttons: list[dict[str, str]], deny: bool) -> dict[str, str] | None:
    def score(button: dict[str, str]) -> bool:
        words = f"{button.get('value', '')} {button.get('text', '')} {button.get('name', '')}".lower()
        if deny:
            return "deny" in words or "cancel" in words or "abort" in words
        return any(w in words for w in APPROVE_WORDS) and "deny" not in words
    for button in buttons:
        if button.get("type", "submit").lower() == "submit" and score(button):
            return button
    submits = [b for b in buttons if b.get("type", "submit").lower() == "submit"]
    return None if deny else (submits[0] if submits else None)


@dataclass
class Arrival:
    """Where the browser ended: the redirect_uri URL (query mode) or posted fields (form_post)."""

    url: str
    form: dict[str, str] | None = None


def drive(
    session: requests.Session,
    url: str,
    redirect_prefix: str,
    answers: dict[str, str],
    *,
    deny: bool = False,
) -> Arrival:
    """Follow ``url`` through login/consent until the browser is sent to ``redirect_prefix``."""
    method, data = "GET", None
    for _ in range(MAX_STEPS):
        response = session.request(method, url, data=data, allow_redirects=False, timeout=30)
        if response.is_redirect:
            url = urljoin(url, response.headers["Location"])
            method, data = "GET", None
            if url.startswith(redirect_prefix):
                return Arrival(url)
            continue
        if response.status_code != 200:
            raise AssertionError(f"{method} {url} -> HTTP {response.status_code}: {response.text[:500]}")
        forms = [f for f in parse_forms(response.text) if f.method in ("post", "get")]
        if not forms:
            raise AssertionError(f"no form to continue at {url}: {response.text[:500]}")
        form = forms[0]
        target = urljoin(url, form.action or url)
        fields: dict[str, Any] = {}
        for field_ in form.inputs:
            name = field_.get("name")
            if not name:
                continue
            kind = field_.get("type", "").lower()
            if kind == "checkbox":
                # The person ticks every box offered (a consent page ticks nothing optional
                # in advance); a browser sends every ticked box of a name.
                if "disabled" not in field_:
                    fields.setdefault(name, []).append(field_.get("value", "on"))
                continue
            if kind == "radio":
                if "checked" in field_:
                    fields.setdefault(name, []).append(field_.get("value", "on"))
                continue
            fields[name] = answers.get(name, field_.get("value", ""))
        if target.startswith(redirect_prefix):
            return Arrival(target, {k: str(v) for k, v in fields.items()})
        button = _approving(form.buttons, deny)
        if button and button.get("name"):
            fields[button["name"]] = button.get("value", "")
        method, data, url = form.method.upper(), fields, target
        if method == "GET":
            response_url = requests.Request("GET", url, params=fields).prepare().url
            url, data = str(response_url), None
    raise AssertionError("too many steps before reaching the redirect_uri")
