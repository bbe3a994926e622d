"""The person's pages in a real browser: login, per-claim consent, the dashboard.

The system Chromium, driven by Playwright, clicks through a `porta serve` set up with
the CLI. The test plays the relying party too: it starts the code flow, answers the
browser's return to the (unreachable) redirect_uri with a Playwright route, redeems the
code with `requests` and looks at what it was given. Every page visited is checked for
the basics of accessibility (labelled controls, one <h1>, a language) and for
``X-Frame-Options: DENY``, and photographed into test-artifacts/screenshots/.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
import pytest
import requests

from tests.browser.conftest import Deployment, Person

sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect

RP_PAGE = (
    '<!doctype html><html lang="en"><head><title>Corner Bookshop</title></head>'
    "<body><h1>Back at Corner Bookshop</h1><p>The shop got an answer from Porta.</p></body></html>"
)
FITS_WIDTH = "document.documentElement.scrollWidth <= window.innerWidth"
NON_EMPTY = re.compile(r"\S")
# A form control is labelled by a <label for>, aria-label or aria-labelledby; a button or
# link may also be named by its own text.
NAME_SOURCE_JS = """el => {
  if (el.labels && el.labels.length && el.labels[0].textContent.trim()) return "label";
  if ((el.getAttribute("aria-label") || "").trim()) return "aria-label";
  if (el.getAttribute("aria-labelledby")) return "aria-labelledby";
  const tag = el.tagName.toLowerCase();
  if ((tag === "button" || tag === "a") && el.textContent.trim()) return "text";
  if (tag === "input" && ["submit", "button"].includes(el.type) && el.value.trim()) return "value";
  return "";
}"""


class RelyingParty:
    """The confidential client's side of one code flow (with PKCE, state and nonce)."""

    def __init__(self, porta: Deployment) -> None:
        self.porta = porta
        self.state = secrets.token_urlsafe(16)
        self.nonce = secrets.token_urlsafe(16)
        self.verifier = secrets.token_urlsafe(48)
        self.redirects: list[dict[str, str]] = []  # Porta's redirects to the redirect_uri

    def authorization_url(self) -> str:
        challenge = (
            base64.urlsafe_b64encode(hashlib.sha256(self.verifier.encode()).digest())
            .rstrip(b"=")
            .decode()
        )
        claims = {"id_token": {"name": None}, "userinfo": {"name": None, "given_name": None}}
        query = {
            "response_type": "code",
            "client_id": self.porta.client_id,
            "redirect_uri": self.porta.redirect_uri,
            "scope": "openid email",
            "claims": json.dumps(claims),
            "state": self.state,
            "nonce": self.nonce,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        return self.porta.endpoints["authorization_endpoint"] + "?" + urlencode(query)

    def intercept(self, page: Any) -> None:
        """Play the RP's callback (nothing listens at the redirect_uri).

        Playwright routes only the first URL of a redirect chain, never the hop the
        browser makes after a 302, so the request whose answer sends the browser to the
        RP (the consent form's POST) is routed: Playwright sends it to Porta unchanged,
        and when Porta's answer is a redirect to the redirect_uri the RP's page is shown
        in its place and the callback URL is kept for `redeem`.
        """

        def consent_post(route: Any) -> None:
            if route.request.method != "POST":
                route.continue_()
                return
            response = route.fetch(max_redirects=0)
            location = response.headers.get("location", "")
            if response.status in (302, 303) and location.startswith(self.porta.redirect_uri + "?"):
                self.redirects.append(response.headers)
                route.fulfill(status=200, content_type="text/html; charset=utf-8", body=RP_PAGE)
            else:
                route.fulfill(response=response)

        page.route(self.porta.server.issuer + "/consent", consent_post)

    def redeem(self) -> dict[str, Any]:
        """The code from the one callback, exchanged at the token endpoint."""
        assert len(self.redirects) == 1, self.redirects
        headers = self.redirects[0]
        assert headers.get("cache-control") == "no-store"
        params = {k: v[0] for k, v in parse_qs(urlsplit(headers["location"]).query).items()}
        assert "error" not in params, params
        assert params["state"] == self.state
        assert params["iss"] == self.porta.server.issuer  # RFC 9207
        response = requests.post(
            self.porta.endpoints["token_endpoint"],
            data={
                "grant_type": "authorization_code",
                "code": params["code"],
                "redirect_uri": self.porta.redirect_uri,
                "code_verifier": self.verifier,
            },
            auth=(self.porta.client_id, self.porta.client_secret),
            timeout=10,
        )
        assert response.status_code == 200, response.text
        return response.json()

    def id_token_claims(self, id_token: str) -> dict[str, Any]:
        """The ID token, its signature checked against Porta's JWKS."""
        key = jwt.PyJWKClient(self.porta.endpoints["jwks_uri"]).get_signing_key_from_jwt(id_token)
        claims = jwt.decode(
            id_token,
            key.key,
            algorithms=["ES256", "RS256"],
            audience=self.porta.client_id,
            issuer=self.porta.server.issuer,
        )
        assert claims["nonce"] == self.nonce
        return claims

    def userinfo(self, access_token: str) -> requests.Response:
        return requests.get(
            self.porta.endpoints["userinfo_endpoint"],
            headers={"Authorization": f"Bearer {access_token}"},
            timeout=10,
        )


class Pages:
    """Checks and photographs every Porta page the browser shows."""

    def __init__(self, page: Any, porta: Deployment, screenshots: Path, prefix: str) -> None:
        self.page = page
        self.porta = porta
        self.screenshots = screenshots
        self.prefix = prefix
        self.step = 0
        self.documents: list[Any] = []
        self.focus_path: list[str] = []  # role and name of each keyboard focus stop

        def remember(response: Any) -> None:
            if response.request.resource_type == "document" and response.frame == page.main_frame:
                self.documents.append(response)

        page.on("response", remember)

    def shot(self, name: str) -> None:
        self.step += 1
        path = self.screenshots / f"{self.prefix}-{self.step:02d}-{name}.png"
        self.page.screenshot(path=str(path), full_page=True)

    def check(self, name: str, heading: str | re.Pattern[str]) -> None:
        """Accessibility basics and framing protection of the page now shown; then a screenshot."""
        page = self.page
        expect(page.get_by_role("heading", level=1)).to_have_text(heading)
        expect(page.locator("h1")).to_have_count(1)
        assert (page.locator("html").get_attribute("lang") or "").strip(), "<html> has no lang"
        expect(page).to_have_title(NON_EMPTY)
        controls = page.locator(
            "input:not([type=hidden]), button, select, textarea, a[href]"
        ).all()
        assert controls, f"{name}: no controls at all?"
        for control in controls:
            expect(control).to_have_accessible_name(NON_EMPTY)
            source = control.evaluate(NAME_SOURCE_JS)
            assert source, f"{name}: unlabelled control {control.evaluate('e => e.outerHTML')}"
        # The response that produced this document came from Porta and forbids framing.
        url = page.url.split("#")[0]
        served = [r for r in self.documents if r.url == url]
        assert served, f"{name}: no document response seen for {url}"
        response = served[-1]
        assert response.url.startswith(self.porta.server.issuer)
        assert response.header_value("x-frame-options") == "DENY", response.all_headers()
        self.shot(name)

    def focused_name(self) -> str:
        """The accessible name of the focused element, as Chromium's accessibility tree has it
        (asserting there is one, from a label, aria-label or the control's own text)."""
        focused = self.page.locator("*:focus")
        expect(focused).to_have_count(1)
        expect(focused).to_have_accessible_name(NON_EMPTY)
        assert focused.evaluate(NAME_SOURCE_JS), focused.evaluate("e => e.outerHTML")
        match = re.match(r'- (\w+) "([^"]+)"', focused.aria_snapshot())
        assert match, focused.aria_snapshot()
        self.focus_path.append(f"{match.group(1)} {match.group(2)!r}")
        return match.group(2)

    def tab_to(self, pattern: re.Pattern[str], limit: int = 20) -> list[str]:
        """Press Tab until focus reaches a control whose name matches; every stop is named."""
        visited = []
        for _ in range(limit):
            self.page.keyboard.press("Tab")
            name = self.focused_name()
            visited.append(name)
            if pattern.search(name):
                return visited
        raise AssertionError(f"Tab never reached {pattern.pattern!r}; focus went {visited}")


def test_click_through_login_consent_narrow_and_withdraw(page, porta: Deployment, screenshots):
    person: Person = porta.people["mouse"]
    rp = RelyingParty(porta)
    rp.intercept(page)
    pages = Pages(page, porta, screenshots, "mouse")

    # Login: a wrong password first (the error is announced), then the right one.
    page.goto(rp.authorization_url())
    page.wait_for_url("**/login?**")
    pages.check("login", "Sign in")
    expect(page.get_by_text("Corner Bookshop asks you to sign in")).to_be_visible()
    page.get_by_label("Email", exact=True).fill(person.email)
    page.get_by_label("Password", exact=True).fill("not-the-password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("not right")
    pages.check("login-error", "Sign in")
    expect(page.get_by_label("Email", exact=True)).to_have_value(person.email)
    page.get_by_label("Password", exact=True).fill(person.password)
    page.get_by_role("button", name="Sign in").click()

    # Consent: every asked claim is a labelled box and none starts ticked (GDPR Art. 7);
    # the person ticks what to share and leaves the email address out.
    page.wait_for_url("**/consent?**")
    pages.check("consent", "Share with Corner Bookshop?")
    expect(page.get_by_role("group", name="Information to share")).to_be_visible()
    for label in ("Email address", "Email verified", "Full name", "Given name"):
        expect(page.get_by_label(label)).not_to_be_checked()
    email_box = page.get_by_label("Email address")
    expect(email_box).to_have_accessible_description(re.compile("Used"))
    for label in ("Email verified", "Full name", "Given name"):
        page.get_by_label(label).check()
    expect(email_box).not_to_be_checked()
    pages.shot("consent-email-unticked")
    page.set_viewport_size({"width": 390, "height": 800})
    pages.shot("consent-phone")
    assert page.evaluate(FITS_WIDTH), "the consent page is wider than a phone screen"
    page.set_viewport_size({"width": 1000, "height": 800})
    page.get_by_role("button", name="Allow what I ticked", exact=True).click()

    # Back at the RP, which got no email address.
    expect(page.get_by_role("heading", name="Back at Corner Bookshop")).to_be_visible()
    pages.shot("back-at-rp")
    tokens = rp.redeem()
    id_claims = rp.id_token_claims(tokens["id_token"])
    assert "email" not in id_claims
    assert id_claims["name"] == person.name
    info = rp.userinfo(tokens["access_token"])
    assert info.status_code == 200, info.text
    assert "email" not in info.json()
    assert info.json()["name"] == person.name
    assert info.json()["given_name"] == "Mira"

    # The dashboard lists the relationship; its page shows what is shared.
    page.goto(porta.server.issuer + "/account")
    pages.check("dashboard", "Your relationships")
    row = page.get_by_role("row").filter(has_text=porta.client_name)
    expect(row).to_have_count(1)
    expect(row).to_contain_text("Given name")
    expect(row).not_to_contain_text(re.compile(r"\bemail\b"))  # email_verified is not email
    page.get_by_role("link", name=porta.client_name).click()
    page.wait_for_url(f"**/account/relationships/{porta.client_id}")
    pages.check("relationship", porta.client_name)
    expect(page.get_by_role("group", name=re.compile("no longer receive"))).to_be_visible()

    # Narrow: untick the given name and stop sharing it.
    given = page.get_by_label("Given name")
    expect(given).to_be_checked()
    given.uncheck()
    pages.shot("relationship-given-name-unticked")
    page.get_by_role("button", name="Stop sharing the unticked items").click()
    page.wait_for_url(f"**/account/relationships/{porta.client_id}")
    # The banner comes from what happened (DESIGN §4): this site registered no event
    # endpoint, so it is not said to have been told.
    expect(page.get_by_role("status")).to_contain_text("Stopped sharing Given name")
    expect(page.get_by_role("status")).to_contain_text("so it was not told")
    pages.check("narrowed", porta.client_name)
    expect(page.locator(".rp .badge")).to_have_text("narrowed")
    expect(page.get_by_label("Given name")).to_have_count(0)
    expect(page.get_by_role("checkbox", name=re.compile(r"^Full name\b"))).to_be_checked()
    after_narrowing = rp.userinfo(tokens["access_token"])
    if after_narrowing.status_code == 200:  # the token may also have been revoked outright
        assert "given_name" not in after_narrowing.json()
        assert after_narrowing.json()["name"] == person.name  # the rest is still shared
    else:
        assert after_narrowing.status_code == 401

    # Withdraw everything.
    page.get_by_role("button", name=f"Withdraw all consent from {porta.client_name}").click()
    expect(page.get_by_role("status")).to_contain_text("Consent withdrawn")
    page.goto(porta.server.issuer + f"/account/relationships/{porta.client_id}?done=hacked")
    expect(page.get_by_role("status")).to_have_count(0)  # no banner text from the URL
    pages.check("withdrawn", porta.client_name)
    expect(page.locator(".rp .badge")).to_have_text("withdrawn")
    expect(page.get_by_text("this site receives none of your profile")).to_be_visible()
    expect(page.get_by_role("button", name=re.compile("Withdraw"))).to_have_count(0)
    assert rp.userinfo(tokens["access_token"]).status_code == 401

    page.get_by_role("link", name="All relationships").click()
    page.wait_for_url("**/account")
    pages.check("dashboard-after-withdrawal", "Your relationships")
    expect(page.get_by_role("row").filter(has_text=porta.client_name)).to_contain_text("withdrawn")

    # On a phone-sized screen the dashboard pages fit too: no sideways scrolling.
    page.set_viewport_size({"width": 390, "height": 800})
    pages.shot("dashboard-phone")
    assert page.evaluate(FITS_WIDTH), "the dashboard is wider than a phone screen"
    expect(page.get_by_role("row").filter(has_text=porta.client_name)).to_have_count(1)
    page.get_by_role("link", name=porta.client_name).click()
    page.wait_for_url(f"**/account/relationships/{porta.client_id}")
    pages.shot("relationship-phone")
    assert page.evaluate(FITS_WIDTH), "the relationship page is wider than a phone screen"


def test_login_and_consent_by_keyboard_alone(page, porta: Deployment, screenshots):
    person: Person = porta.people["keyboard"]
    rp = RelyingParty(porta)
    rp.intercept(page)
    pages = Pages(page, porta, screenshots, "keyboard")
    keyboard = page.keyboard

    page.goto(rp.authorization_url())
    page.wait_for_url("**/login?**")
    pages.check("login", "Sign in")
    # The email field has focus on arrival (autofocus); Tab walks the form in order.
    assert pages.focused_name() == "Email"
    keyboard.type(person.email)
    keyboard.press("Tab")
    assert pages.focused_name() == "Password"
    keyboard.type(person.password)
    keyboard.press("Tab")
    assert pages.focused_name() == "Sign in"
    pages.shot("login-focus-on-sign-in")
    keyboard.press("Enter")

    page.wait_for_url("**/consent?**")
    pages.check("consent", "Share with Corner Bookshop?")
    # From the top of the page, Tab reaches the claims after the page's links.
    before = pages.tab_to(re.compile("^Email address"))
    assert before[-1] == f"Email address {person.email}", pages.focus_path
    email_box = page.get_by_label("Email address")
    expect(email_box).to_be_focused()
    expect(email_box).not_to_be_checked()  # nothing optional starts ticked
    # Tab on through the other claims in the order shown, ticking each with Space; the
    # email address stays unticked.
    for label in ("Email verified", "Full name", "Given name"):
        keyboard.press("Tab")
        assert pages.focused_name().startswith(label), pages.focus_path
        keyboard.press("Space")
        expect(page.get_by_label(label)).to_be_checked()
    expect(email_box).not_to_be_checked()
    pages.shot("consent-ticked-by-space")
    onwards = pages.tab_to(re.compile("^Allow what I ticked$"))
    assert onwards[-1] == "Allow what I ticked", pages.focus_path
    pages.shot("consent-focus-on-allow")
    keyboard.press("Enter")

    expect(page.get_by_role("heading", name="Back at Corner Bookshop")).to_be_visible()
    tokens = rp.redeem()
    assert "email" not in rp.id_token_claims(tokens["id_token"])
    info = rp.userinfo(tokens["access_token"])
    assert info.status_code == 200, info.text
    assert "email" not in info.json()
    assert info.json()["name"] == person.name
    print("keyboard focus path:", " → ".join(pages.focus_path))
