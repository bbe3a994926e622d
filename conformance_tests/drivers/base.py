"""What every login driver returns, and the HTML form reading both drivers share.

A driver plays the person's browser: it opens an authorization (or logout) URL, fills the
provider's login and consent pages when asked to, and stops as soon as the browser would
leave for one of the ``stop_at`` URLs (the client's redirect_uri). Nothing listens there:
the redirect (or the form_post submission, OAuth 2.0 Form Post Response Mode §2) is
captured and returned as an :class:`Outcome`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any, Protocol
from urllib.parse import parse_qsl, urljoin, urlsplit

PAGE_EXCERPT = 1000
"""Characters of a provider page's text quoted in a message: enough for its stated reason."""


@dataclass
class Outcome:
    """Where the browser ended up.

    ``kind`` is ``"redirect"`` (a GET to a stop_at URL; ``params`` from query and fragment),
    ``"form_post"`` (a POST to a stop_at URL; ``params`` from the form body) or ``"page"``
    (the driver stopped on a provider page: ``html`` and ``status`` describe it).
    ``login_post_status`` is the HTTP status answering the submitted login form;
    ``unchecked`` the checkbox names/values that were left unticked on the consent page.
    """

    kind: str
    url: str
    params: dict[str, str] = field(default_factory=dict)
    fragment: dict[str, str] = field(default_factory=dict)
    status: int = 0
    html: str = ""
    login_shown: bool = False
    consent_shown: bool = False
    login_page_headers: dict[str, str] = field(default_factory=dict)
    login_post_status: int | None = None
    unchecked: list[str] = field(default_factory=list)
    steps: list[str] = field(default_factory=list)

    def describe(self) -> str:
        """One line for failure messages."""
        if self.kind == "page":
            text = re.sub(r"<[^>]+>", " ", self.html)
            text = re.sub(r"\s+", " ", text).strip()
            if len(text) > PAGE_EXCERPT:
                text = text[:PAGE_EXCERPT] + f"… ({len(text)} characters)"
            return f"stopped on a provider page {self.url} (HTTP {self.status}): {text!r}"
        return f"{self.kind} to {self.url} with {sorted(self.params)}"


class BrowserSession(Protocol):
    """One person's browser (its cookie jar persists across ``open`` calls)."""

    def open(
        self,
        url: str,
        stop_at: Sequence[str],
        interact: bool = True,
        approve: bool = True,
        post_data: dict[str, str] | None = None,
    ) -> Outcome:
        """Navigate to ``url`` (POSTing ``post_data`` as a form when given); log in and
        consent when ``interact``; capture the way out."""
        ...

    def fetch(self, method: str, url: str, json_body: Any = None) -> tuple[int, str]:
        """An API call carrying this browser's cookies (the person's session): status, body."""
        ...

    def close(self) -> None:
        """Release the session."""
        ...


class Driver(Protocol):
    """Creates browser sessions for one run."""

    def new_session(self) -> BrowserSession:
        """A fresh browser with no cookies."""
        ...

    def close(self) -> None:
        """Release all resources."""
        ...


def matches(url: str, stop_at: Sequence[str]) -> bool:
    """True when ``url`` is one of the stop_at URLs (query and fragment ignored)."""
    base = url.split("#", 1)[0].split("?", 1)[0]
    return any(base == s.split("?", 1)[0] for s in stop_at)


def redirect_outcome(url: str) -> Outcome:
    """Outcome for a captured GET redirect: parameters from query and fragment."""
    parts = urlsplit(url)
    params = dict(parse_qsl(parts.query, keep_blank_values=True))
    fragment = dict(parse_qsl(parts.fragment, keep_blank_values=True))
    return Outcome(kind="redirect", url=url, params=params, fragment=fragment)


@dataclass
class Control:
    """A form control that contributes to submission (input, button, select, textarea)."""

    tag: str
    type: str
    name: str
    value: str
    text: str = ""
    form_id: str | None = None
    disabled: bool = False


@dataclass
class Form:
    """An HTML form with its controls (including those attached by ``form="id"``)."""

    action: str
    method: str
    id: str | None
    controls: list[Control] = field(default_factory=list)

    def has_password(self) -> bool:
        """A login form: it asks for a password."""
        return any(c.type == "password" for c in self.controls)

    def submit_buttons(self) -> list[Control]:
        """Controls that submit the form."""
        return [
            c
            for c in self.controls
            if (c.tag == "button" and c.type in {"submit", ""}) or (c.tag == "input" and c.type in {"submit", "image"})
        ]

    def fields(self) -> list[tuple[str, str]]:
        """Successful controls except submit buttons (HTML §4.10.21.4)."""
        return [
            (c.name, c.value)
            for c in self.controls
            if c.name
            and c not in self.submit_buttons()
            and c.type not in {"checkbox", "radio"}
        ] + [(c.name, c.value) for c in self.controls if c.type in {"checkbox", "radio"} and c.text == "checked"]


class FormParser(HTMLParser):
    """Collect the forms of a page; controls outside a form join it through ``form="id"``."""

    def __init__(self, base_url: str) -> None:
        super().__init__(convert_charrefs=True)
        self.base_url = base_url
        self.forms: list[Form] = []
        self._current: Form | None = None
        self._button: Control | None = None
        self._orphans: list[Control] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        """Track forms and their controls."""
        a = {k: (v or "") for k, v in attrs}
        if tag == "form":
            action = urljoin(self.base_url, a.get("action") or self.base_url)
            self._current = Form(action=action, method=(a.get("method") or "get").lower(), id=a.get("id"))
            self.forms.append(self._current)
            return
        if tag not in {"input", "button", "select", "textarea"}:
            return
        default_type = "submit" if tag == "button" else ("text" if tag == "input" else tag)
        control = Control(
            tag=tag,
            type=(a.get("type") or default_type).lower(),
            name=a.get("name", ""),
            value=a.get("value", ""),
            text="checked" if "checked" in a else "",
            disabled="disabled" in a,
            form_id=a.get("form"),
        )
        if control.form_id:
            self._orphans.append(control)
        elif self._current is not None:
            self._current.controls.append(control)
        if tag == "button":
            self._button = control

    def handle_data(self, data: str) -> None:
        """Keep button labels for choosing approve / deny."""
        if self._button is not None and self._button.type != "checkbox":
            self._button.text = (self._button.text + " " + data.strip()).strip()

    def handle_endtag(self, tag: str) -> None:
        """Close forms and buttons."""
        if tag == "form":
            self._current = None
        elif tag == "button":
            self._button = None

    def close(self) -> None:
        """Attach ``form="id"`` controls to their forms."""
        super().close()
        by_id = {f.id: f for f in self.forms if f.id}
        for control in self._orphans:
            if control.form_id in by_id:
                by_id[control.form_id].controls.append(control)


def parse_forms(html: str, base_url: str) -> list[Form]:
    """All forms of ``html`` with absolute actions."""
    parser = FormParser(base_url)
    parser.feed(html)
    parser.close()
    return parser.forms


_APPROVE = re.compile(r"approve|allow|accept|agree|yes|continue|consent|authori[sz]e|confirm|grant|sign.?out|log.?out", re.I)
_DENY = re.compile(r"deny|reject|cancel|decline|abort|\bno\b|refuse|stay", re.I)


def choose_button(form: Form, approve: bool, configured: str | None) -> Control | None:
    """The submit button meaning "yes" (or "no" when ``approve`` is False).

    ``configured`` is ``name=value`` from op.toml's ``login.approve_button``.
    """
    buttons = form.submit_buttons()
    if configured and approve:
        name, _, value = configured.partition("=")
        for b in buttons:
            if b.name == name and b.value == value:
                return b
    pattern = _APPROVE if approve else _DENY
    other = _DENY if approve else _APPROVE
    for b in buttons:
        label = f"{b.name} {b.value} {b.text}"
        if pattern.search(f"{b.value} {b.text}") and not other.search(f"{b.value}"):
            return b
        if pattern.search(label) and not other.search(label):
            return b
    if approve and len(buttons) == 1:
        return buttons[0]
    if approve and not buttons:
        return Control(tag="button", type="submit", name="", value="")
    return None
