"""The ``form`` login driver: plain HTTP (requests) that fills the provider's HTML forms.

It follows redirects one by one, so the redirect to the client's redirect_uri is seen and
captured instead of being followed (nothing has to listen there). On a page with a password
field it fills the login form; on another page with a form it presses the consent (or
logout confirmation) button; an auto-submitting form whose action is a stop_at URL is the
form_post response (OAuth 2.0 Form Post Response Mode §2) and is captured with its fields.
Field names are auto-detected and can be set in op.toml ``[login]``.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any
from urllib.parse import urljoin

import requests

from conformance_tests.config import LoginConfig
from conformance_tests.drivers.base import (
    Control,
    Form,
    Outcome,
    choose_button,
    matches,
    parse_forms,
    redirect_outcome,
)
from conformance_tests.throttle import Throttle
from conformance_tests.trace import Trace

MAX_STEPS = 25
_USERNAME_HINTS = ("email", "username", "login", "user", "identifier", "name")


class FormSession:
    """One browser-like cookie jar driven with requests."""

    def __init__(self, username: str, password: str, login: LoginConfig, timeout: float,
                 trace: Trace | None = None, throttle: Throttle | None = None) -> None:
        self.username = username
        self.password = password
        self.login = login
        self.timeout = timeout
        self.throttle = throttle
        self.http = requests.Session()
        self.http.headers["User-Agent"] = "porta-conformance (form driver)"
        if trace is not None:
            self.http.hooks["response"].append(trace.hook)

    def _send(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        if self.throttle is not None:
            return self.throttle.send(self.http, method, url, **kwargs)
        return self.http.request(method, url, **kwargs)

    def open(
        self,
        url: str,
        stop_at: Sequence[str],
        interact: bool = True,
        approve: bool = True,
        uncheck: Collection[str] = (),
        post_data: dict[str, str] | None = None,
    ) -> Outcome:
        """Navigate to ``url`` until a stop_at URL is reached or no form can be acted on.

        ``uncheck`` lists checkbox names or values to leave unticked on the consent page.
        """
        trace = Outcome(kind="page", url=url)  # collects what was seen on the way
        logins = 0
        login_submitted = False
        method, target, data = ("post", url, list(post_data.items())) if post_data else ("get", url, None)
        for _ in range(MAX_STEPS):
            if matches(target, stop_at):
                if method == "get":
                    out = redirect_outcome(target)
                else:
                    out = Outcome(kind="form_post", url=target, params=dict(data or []))
                return _with_trace(out, trace)
            trace.steps.append(f"{method.upper()} {target}")
            if method == "get":
                response = self._send("GET", target, allow_redirects=False, timeout=self.timeout)
            else:
                response = self._send("POST", target, data=data, allow_redirects=False, timeout=self.timeout)
            if login_submitted:
                trace.login_post_status, login_submitted = response.status_code, False
            if response.is_redirect and "location" in response.headers:
                method, target, data = "get", urljoin(response.url, response.headers["location"]), None
                continue
            page = _with_trace(Outcome(kind="page", url=response.url, status=response.status_code,
                                       html=response.text), trace)
            if "html" not in response.headers.get("content-type", ""):
                return page
            forms = [f for f in parse_forms(response.text, response.url) if f.controls or f.action]
            auto = next((f for f in forms if matches(f.action, stop_at)), None)
            if auto is not None:
                method, target, data = auto.method, auto.action, auto.fields()
                continue
            login_form = next((f for f in forms if f.has_password()), None)
            if login_form is not None:
                trace.login_shown = page.login_shown = True
                trace.login_page_headers = page.login_page_headers = {
                    k.lower(): v for k, v in response.headers.items()}
                if not interact or logins:  # a second login form means the first one failed
                    return page
                logins += 1
                login_submitted = True
                method, target, data = login_form.method, login_form.action, self._login_fields(login_form)
                continue
            action_form = self._pick_form(forms)
            if action_form is None or not interact:
                return page
            button = choose_button(action_form, approve, self.login.approve_button)
            if button is None:
                return page
            trace.consent_shown = True
            # A person approving ticks every box offered (a provider must not tick optional
            # ones in advance, GDPR Art. 7), less what the test asks to leave unticked.
            fields = [
                pair
                for pair in action_form.fields()
                if pair not in {(c.name, c.value) for c in action_form.controls if c.type == "checkbox"}
            ]
            for control in action_form.controls:
                if control.type != "checkbox" or not control.name or control.disabled:
                    continue
                if _unticked(action_form, control.name, control.value, uncheck):
                    trace.unchecked.extend(x for x in (control.name, control.value) if x in uncheck)
                else:
                    fields.append((control.name, control.value))
            if button.name:
                fields.append((button.name, button.value))
            method, target, data = action_form.method, action_form.action, fields
        raise RuntimeError(f"form driver: more than {MAX_STEPS} steps: {trace.steps[-5:]}")

    def _login_fields(self, form: Form) -> list[tuple[str, str]]:
        password_name = self.login.password_field or next(
            c.name for c in form.controls if c.type == "password"
        )
        username_name = self.login.username_field or _guess_username(form.controls, password_name)
        fields = [(n, v) for n, v in form.fields() if n not in {username_name, password_name}]
        fields += [(username_name, self.username), (password_name, self.password)]
        return fields

    @staticmethod
    def _pick_form(forms: list[Form]) -> Form | None:
        """The form to act on: the first post form with a submit button, else any with one."""
        with_buttons = [f for f in forms if f.submit_buttons()]
        posts = [f for f in with_buttons if f.method == "post"]
        return (posts or with_buttons or [None])[0]

    def fetch(self, method: str, url: str, json_body: Any = None) -> tuple[int, str]:
        """An API call with this session's cookies."""
        response = self._send(method, url, json=json_body, timeout=self.timeout, allow_redirects=False)
        return response.status_code, response.text

    def close(self) -> None:
        """Drop the cookie jar."""
        self.http.close()


def _with_trace(out: Outcome, trace: Outcome) -> Outcome:
    """Copy what was seen on the way (login, consent, headers, statuses) onto ``out``."""
    out.login_shown, out.consent_shown = trace.login_shown, trace.consent_shown
    out.login_page_headers, out.login_post_status = trace.login_page_headers, trace.login_post_status
    out.unchecked, out.steps = trace.unchecked, trace.steps
    return out


def _unticked(form: Form, name: str, value: str, uncheck: Collection[str]) -> bool:
    boxes = {(c.name, c.value) for c in form.controls if c.type == "checkbox"}
    return (name, value) in boxes and (name in uncheck or value in uncheck)


def _guess_username(controls: list[Control], password_name: str) -> str:
    candidates = [
        c for c in controls
        if c.tag == "input" and c.type in {"text", "email", ""} and c.name and c.name != password_name
    ]
    for hint in _USERNAME_HINTS:
        for c in candidates:
            if hint in c.name.lower():
                return c.name
    if candidates:
        return candidates[0].name
    raise RuntimeError("form driver: login form has no username field; set login.username_field")


class FormDriver:
    """Factory of :class:`FormSession` for one run."""

    def __init__(self, username: str, password: str, login: LoginConfig, timeout: float) -> None:
        self.args = (username, password, login, timeout)
        self.trace: Trace | None = None
        self.throttle: Throttle | None = None

    def observe(self, trace: Trace, throttle: Throttle) -> None:
        """Record the sessions' exchanges in ``trace`` and pause through ``throttle``."""
        self.trace, self.throttle = trace, throttle

    def new_session(self) -> FormSession:
        """A fresh cookie jar."""
        return FormSession(*self.args, trace=self.trace, throttle=self.throttle)

    def close(self) -> None:
        """Nothing to release: sessions are closed by their users."""
