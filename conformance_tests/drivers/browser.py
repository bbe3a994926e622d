"""The ``browser`` login driver: the system Chromium driven through Playwright.

For providers whose login or consent pages need JavaScript. Each session is a fresh
browser context (its own cookies). Requests to a stop_at URL are intercepted and answered
locally, so the redirect (or form_post submission) back to the client is captured without
anything listening there. Field names are auto-detected like the form driver's, or taken
from op.toml ``[login]``. Playwright is imported only when this driver is chosen
(``pip install porta[browser]``); no browser download is needed, ``login.chromium`` names
the executable.
"""

from __future__ import annotations

import html
import re
import time
from collections.abc import Collection, Sequence
from typing import Any
from urllib.parse import parse_qsl

from conformance_tests.config import LoginConfig
from conformance_tests.drivers.base import Outcome, matches, redirect_outcome
from conformance_tests.registry import Throttled
from conformance_tests.throttle import Throttle
from conformance_tests.trace import Trace

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run",
                  # The suite's attacker and example URLs use the reserved TLDs of RFC 2606;
                  # never let a lookup for them leave the machine.
                  "--host-resolver-rules=MAP *.invalid ~NOTFOUND, MAP *.example ~NOTFOUND"]
MAX_STEPS = 15
_USERNAME_SELECTORS = [
    "input[type=email]", "input[name*=email i]", "input[name*=user i]", "input[name*=login i]",
    "input[autocomplete=username]", "input[type=text]",
]
_APPROVE = re.compile(r"approve|allow|accept|agree|yes|continue|consent|authori[sz]e|confirm|grant|sign.?out|log.?out", re.I)
_DENY = re.compile(r"deny|reject|cancel|decline|abort|\bno\b|refuse|stay", re.I)


class BrowserSession:
    """One Chromium browser context."""

    def __init__(self, context: Any, username: str, password: str, login: LoginConfig, timeout: float,
                 trace: Trace | None = None) -> None:
        self.context = context
        self.trace = trace
        self.username = username
        self.password = password
        self.login = login
        self.timeout_ms = timeout * 1000

    def open(
        self,
        url: str,
        stop_at: Sequence[str],
        interact: bool = True,
        approve: bool = True,
        uncheck: Collection[str] = (),
        post_data: dict[str, str] | None = None,
    ) -> Outcome:
        """Navigate to ``url``; log in and consent when ``interact``; capture the way out."""
        captured: dict[str, Any] = {}
        last: dict[str, Any] = {"headers": {}, "status": 0, "url": url}
        login_state: dict[str, Any] = {"shown": False, "headers": {}, "consent": False,
                                       "submitted": False, "post_status": None, "unchecked": []}

        def record(request: Any) -> None:
            if not captured and matches(request.url, stop_at):
                captured.update(url=request.url, method=request.method, body=request.post_data or "")

        def capture(route: Any, request: Any) -> None:
            record(request)
            route.fulfill(status=200, content_type="text/plain", body="captured by porta-conformance")

        def on_response(response: Any) -> None:
            if response.request.is_navigation_request() and self.trace is not None:
                self.trace.note(f"browser {response.request.method} {response.url} -> HTTP {response.status}")
            if response.request.is_navigation_request() and response.frame == page.main_frame:
                last.update(headers=dict(response.headers), status=response.status, url=response.url)
                if login_state["submitted"] and response.request.method == "POST":
                    login_state["post_status"], login_state["submitted"] = response.status, False

        predicate = lambda target: matches(target, stop_at)  # noqa: E731 - Playwright takes a callable
        self.context.route(predicate, capture)
        page = self.context.new_page()
        page.on("response", on_response)
        # Chromium does not route requests reached through an HTTP redirect, so the redirect
        # to the client is also recorded from the request event; its connection then fails.
        page.on("request", record)
        try:
            if post_data:
                self._post(page, url, post_data, captured)
            else:
                self._goto(page, url, captured)
            for _ in range(MAX_STEPS):
                if captured:
                    break
                if page.locator("input[type=password]").count():
                    if login_state["shown"] and interact:
                        break  # the login form came back: the credentials were refused
                    login_state["shown"] = True
                    login_state["headers"] = dict(last["headers"])
                    if not interact:
                        break
                    login_state["submitted"] = True
                    self._log_in(page, captured)
                    continue
                if self._posts_back(page, stop_at):
                    self._settle(page, captured)
                    break
                button = self._approve_button(page, approve) if interact else None
                if button is None:
                    break
                login_state["consent"] = True
                # A person approving ticks every box offered: a provider must not tick
                # optional ones in advance (GDPR Art. 7), so the suite does it.
                boxes = page.locator("form input[type=checkbox]:not([disabled])")
                for i in range(boxes.count()):
                    boxes.nth(i).check()
                for name in uncheck:
                    boxes = page.locator(f"input[type=checkbox][name='{name}'], input[type=checkbox][value='{name}']")
                    for i in range(boxes.count()):
                        boxes.nth(i).uncheck()
                        login_state["unchecked"].append(name)
                self._click(page, captured, button)
            html = "" if captured else page.content()
        finally:
            page.close()
            self.context.unroute(predicate, capture)
        if captured:
            if captured["method"] == "GET":
                out = redirect_outcome(captured["url"])
            else:
                out = Outcome(kind="form_post", url=captured["url"],
                              params=dict(parse_qsl(captured["body"], keep_blank_values=True)))
        else:
            out = Outcome(kind="page", url=last["url"], status=last["status"], html=html)
        out.login_shown = bool(login_state["shown"])
        out.consent_shown = bool(login_state["consent"])
        out.login_page_headers = {k.lower(): v for k, v in login_state["headers"].items()}
        out.login_post_status = login_state["post_status"]
        out.unchecked = sorted(set(login_state["unchecked"]))
        if out.kind == "page" and out.status == 429:
            raise Throttled(f"the provider throttled the suite: HTTP 429 for {out.url.split('?')[0]} in the browser "
                            "(the browser driver does not retry); raise the provider's rate limits for the test account")
        return out

    def _goto(self, page: Any, url: str, captured: dict[str, Any]) -> None:
        try:
            page.goto(url, wait_until="load", timeout=self.timeout_ms)
        except Exception:  # the captured redirect's connection fails: not an error
            if not captured:
                raise

    def _post(self, page: Any, url: str, data: dict[str, str], captured: dict[str, Any]) -> None:
        """Start with a form POST to ``url`` (OIDC Core §3.1.2.1: authorization by POST)."""
        fields = "".join(f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
                         for k, v in data.items())
        page.set_content(f'<form method="post" action="{html.escape(url)}">{fields}</form>')
        try:
            with page.expect_navigation(wait_until="load", timeout=self.timeout_ms):
                page.evaluate("() => document.forms[0].submit()")
        except Exception:  # the captured redirect's connection fails: not an error
            if not captured:
                raise

    @staticmethod
    def _posts_back(page: Any, stop_at: Sequence[str]) -> bool:
        """True on a page whose form targets a stop_at URL (form_post response, §2)."""
        actions = page.evaluate("() => Array.from(document.forms, f => f.action)")
        return any(matches(a, stop_at) for a in actions)

    def _settle(self, page: Any, captured: dict[str, Any]) -> None:
        """Let an auto-submitting form_post page navigate; submit it if its script does not."""
        deadline = time.monotonic() + self.timeout_ms / 1000
        while not captured and time.monotonic() < deadline:
            page.wait_for_timeout(50)
            if not captured and page.evaluate("() => document.readyState") == "complete":
                page.wait_for_timeout(200)
                if not captured:
                    page.evaluate("() => document.forms[0] && document.forms[0].submit()")
                    page.wait_for_timeout(200)

    def _log_in(self, page: Any, captured: dict[str, Any]) -> None:
        password = page.locator(f"input[name='{self.login.password_field}']" if self.login.password_field
                                else "input[type=password]").first
        if self.login.username_field:
            username = page.locator(f"input[name='{self.login.username_field}']").first
        else:
            username = next((page.locator(s).first for s in _USERNAME_SELECTORS
                             if page.locator(s).count() and page.locator(s).first.is_visible()), None)
            if username is None:
                raise RuntimeError("browser driver: no username field; set login.username_field")
        username.fill(self.username)
        password.fill(self.password)
        form = password.locator("xpath=ancestor::form")
        submit = form.locator("button[type=submit], button:not([type]), input[type=submit]").first
        self._click(page, captured, submit if submit.count() else None, fallback=password)

    def _approve_button(self, page: Any, approve: bool) -> Any | None:
        if approve and self.login.approve_button:
            name, _, value = self.login.approve_button.partition("=")
            configured = page.locator(f"button[name='{name}'][value='{value}'], input[name='{name}'][value='{value}']")
            if configured.count():
                return configured.first
        buttons = page.locator("form button, form input[type=submit], button[form], input[type=submit][form]")
        pattern, other = (_APPROVE, _DENY) if approve else (_DENY, _APPROVE)
        candidates = []
        for i in range(buttons.count()):
            b = buttons.nth(i)
            if not b.is_visible():
                continue
            label = " ".join(filter(None, [b.get_attribute("value"), b.inner_text() if b.evaluate("e => e.tagName") == "BUTTON" else ""]))
            candidates.append((b, label))
        for b, label in candidates:
            if pattern.search(label) and not other.search(label):
                return b
        if approve and len(candidates) == 1:
            return candidates[0][0]
        return None

    def _click(self, page: Any, captured: dict[str, Any], target: Any | None,
               fallback: Any | None = None) -> None:
        try:
            with page.expect_navigation(wait_until="load", timeout=self.timeout_ms):
                if target is not None:
                    target.click()
                elif fallback is not None:
                    fallback.press("Enter")
        except Exception:  # the captured redirect's connection fails: not an error
            if not captured:
                raise

    def fetch(self, method: str, url: str, json_body: Any = None) -> tuple[int, str]:
        """An API call through the context's request API, which shares the browser's cookies."""
        response = self.context.request.fetch(url, method=method, data=json_body, max_redirects=0,
                                              timeout=self.timeout_ms)
        return response.status, response.text()

    def close(self) -> None:
        """Close the browser context."""
        self.context.close()


class BrowserDriver:
    """Launches the system Chromium once per run; one context per session."""

    def __init__(self, username: str, password: str, login: LoginConfig, timeout: float,
                 allowed_ports: Collection[int] = ()) -> None:
        from playwright.sync_api import sync_playwright

        self.args = (username, password, login, timeout)
        self.trace: Trace | None = None
        flags = list(CHROMIUM_FLAGS)
        if allowed_ports:  # Chromium refuses some ports outright (e.g. 9); the client may use one
            flags.append("--explicitly-allowed-ports=" + ",".join(str(p) for p in sorted(allowed_ports)))
        self._playwright = sync_playwright().start()
        try:
            self._browser = self._playwright.chromium.launch(
                executable_path=login.chromium, headless=True, args=flags)
        except Exception:
            self._playwright.stop()
            raise

    def observe(self, trace: Trace, throttle: Throttle) -> None:
        """Note each navigation in ``trace``; a 429 page ends the test as throttled."""
        self.trace = trace

    def new_session(self) -> BrowserSession:
        """A fresh browser context (no cookies)."""
        return BrowserSession(self._browser.new_context(), *self.args, trace=self.trace)

    def close(self) -> None:
        """Close Chromium and stop Playwright."""
        self._browser.close()
        self._playwright.stop()
