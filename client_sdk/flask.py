"""Flask integration: ``/login``, ``/callback``, ``/logout``, ``current_user``, ``login_required``
and a ``login_button()`` template helper.

Example::

    from flask import Flask, render_template_string
    from client_sdk.flask import PortaLogin, current_user, login_required

    app = Flask(__name__)
    app.secret_key = "change me"
    PortaLogin(app, issuer="https://id.example", client_id="shop", client_secret="…")

    @app.get("/")
    def index():
        return render_template_string("{{ login_button() }}")

    @app.get("/me")
    @login_required
    def me():
        return {"hello": current_user.get("name")}

Settings may also come from ``app.config``: ``PORTA_LOGIN_ISSUER``, ``PORTA_LOGIN_CLIENT_ID``,
``PORTA_LOGIN_CLIENT_SECRET``, ``PORTA_LOGIN_SCOPE``, ``PORTA_LOGIN_REDIRECT_URI``,
``PORTA_LOGIN_POST_LOGOUT_REDIRECT_URI``.  The login is kept in Flask's session (a signed
cookie by default): the consented claims and the ID token (for the logout hint), never the
access or refresh token — pass ``on_login`` to store those server-side.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar

from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from markupsafe import Markup
from werkzeug.local import LocalProxy

from client_sdk.client import AuthorizationRequest, Client, TokenSet
from client_sdk.errors import OAuthError, PortaClientError

F = TypeVar("F", bound=Callable[..., Any])

EXTENSION_KEY = "porta_login"
_USER_KEY = "porta_login.user"
_PENDING_KEY = "porta_login.pending"
_MAX_PENDING = 5
#: ID token claims that describe the token, not the person (OIDC Core §2)
_PROTOCOL_CLAIMS = frozenset(
    {"iss", "aud", "exp", "iat", "nbf", "nonce", "at_hash", "c_hash", "azp", "jti", "sid", "auth_time", "acr", "amr"}
)


class CurrentUser(Mapping[str, Any]):
    """The logged-in person as this site sees them: a read-only mapping of consented claims.

    ``current_user["email"]``, ``current_user.get("name")``, ``current_user.sub``,
    ``current_user.is_authenticated``.  When nobody is logged in the mapping is empty.
    """

    def __init__(self, data: Mapping[str, Any] | None) -> None:
        self._data = dict(data or {})
        self._claims: dict[str, Any] = dict(self._data.get("claims") or {})

    @property
    def is_authenticated(self) -> bool:
        """True when a person is logged in."""
        return bool(self._data.get("sub"))

    @property
    def sub(self) -> str | None:
        """The person's subject identifier at this site (pairwise at Porta)."""
        return self._data.get("sub")

    @property
    def claims(self) -> dict[str, Any]:
        """A copy of the consented claims (ID token and UserInfo merged)."""
        return dict(self._claims)

    @property
    def id_token(self) -> str | None:
        """The raw ID token of this login (used as the logout hint)."""
        return self._data.get("id_token")

    @property
    def logged_in_at(self) -> float | None:
        """UNIX time of the login."""
        return self._data.get("logged_in_at")

    def __getitem__(self, name: str) -> Any:
        return self._claims[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._claims)

    def __len__(self) -> int:
        return len(self._claims)

    def __bool__(self) -> bool:
        return self.is_authenticated

    def __repr__(self) -> str:
        return f"<CurrentUser sub={self.sub!r}>"


def _load_current_user() -> CurrentUser:
    return CurrentUser(session.get(_USER_KEY))


#: The person logged in for the current request (a :class:`CurrentUser`).
current_user: CurrentUser = LocalProxy(_load_current_user)  # type: ignore[assignment]


def login_required(view: F) -> F:
    """Decorator: send anonymous visitors to ``/login`` and bring them back afterwards."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not _load_current_user().is_authenticated:
            return redirect(url_for("porta_login.login", next=request.full_path.rstrip("?")))
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def _safe_next(target: str | None) -> str:
    """Only same-site relative paths are followed after login (no open redirect, RFC 9700 §4.11)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


class PortaLogin:
    """Flask extension adding "Log in with your profile" to an app.

    Args:
        app: the Flask app (or call :meth:`init_app` later).
        issuer, client_id, client_secret: the provider and this site's registration.
        client: a ready :class:`~client_sdk.Client` instead of the three values above.
        scope: scope requested at login (default ``openid profile email``).
        redirect_uri: the registered callback URL; defaults to this app's ``/callback``.
        post_logout_redirect_uri: where the provider sends the person after logout (must be
            registered); without it logout does not visit the provider.
        url_prefix: prefix for the three routes.
        fetch_userinfo: also fetch UserInfo at login and merge its claims.
        on_login: ``callback(tokens, claims)`` called after each login (store tokens here).
        authorization_params: extra authorization request parameters (e.g. ``prompt``).
        client_options: keyword arguments for :class:`~client_sdk.Client`.
    """

    def __init__(
        self,
        app: Flask | None = None,
        *,
        issuer: str | None = None,
        client_id: str | None = None,
        client_secret: str | None = None,
        client: Client | None = None,
        scope: str | None = None,
        redirect_uri: str | None = None,
        post_logout_redirect_uri: str | None = None,
        url_prefix: str = "",
        fetch_userinfo: bool = True,
        on_login: Callable[[TokenSet, dict[str, Any]], Any] | None = None,
        authorization_params: Mapping[str, Any] | None = None,
        client_options: Mapping[str, Any] | None = None,
    ) -> None:
        self._settings = {
            "issuer": issuer,
            "client_id": client_id,
            "client_secret": client_secret,
            "scope": scope,
            "redirect_uri": redirect_uri,
            "post_logout_redirect_uri": post_logout_redirect_uri,
        }
        self._client = client
        self.url_prefix = url_prefix
        self.fetch_userinfo = fetch_userinfo
        self.on_login = on_login
        self.authorization_params = dict(authorization_params or {})
        self.client_options = dict(client_options or {})
        if app is not None:
            self.init_app(app)

    # ------------------------------------------------------------------ wiring
    def init_app(self, app: Flask) -> None:
        """Register the routes, ``login_button()`` and ``current_user`` on ``app``."""
        for name in self._settings:
            key = f"PORTA_LOGIN_{name.upper()}"
            if self._settings[name] is None and app.config.get(key) is not None:
                self._settings[name] = app.config[key]
        if self._client is None and not (self._settings["issuer"] and self._settings["client_id"]):
            raise ValueError("PortaLogin needs issuer and client_id (or client=)")
        app.extensions[EXTENSION_KEY] = self
        blueprint = Blueprint(
            "porta_login",
            __name__,
            template_folder="templates",
            static_folder="static",
            static_url_path="/porta-login-static",
        )
        blueprint.add_url_rule("/login", "login", self._login_view)
        blueprint.add_url_rule("/callback", "callback", self._callback_view, methods=["GET", "POST"])
        blueprint.add_url_rule("/logout", "logout", self._logout_view, methods=["GET", "POST"])
        app.register_blueprint(blueprint, url_prefix=self.url_prefix or None)
        app.add_template_global(login_button, "login_button")
        app.add_template_global(current_user, "current_user")

    @property
    def client(self) -> Client:
        """The :class:`~client_sdk.Client`; created (with discovery) on first use."""
        if self._client is None:
            self._client = Client.from_issuer(
                self._settings["issuer"],
                self._settings["client_id"],
                self._settings["client_secret"],
                **self.client_options,
            )
        return self._client

    @property
    def scope(self) -> str:
        """The scope requested at login."""
        return self._settings["scope"] or "openid profile email"

    def _redirect_uri(self) -> str:
        return self._settings["redirect_uri"] or url_for("porta_login.callback", _external=True)

    # ------------------------------------------------------------------ views
    def _login_view(self) -> Any:
        """``/login``: start an authentication request and remember it in the session."""
        try:
            auth = self.client.authorization_url(
                self.scope, redirect_uri=self._redirect_uri(), **self.authorization_params
            )
        except PortaClientError as exc:
            return self._error_page("The login service cannot be reached right now.", exc, 502)
        pending = dict(session.get(_PENDING_KEY) or {})
        # The URL is not needed at the callback; leaving it out keeps the session cookie small.
        pending[auth.state] = {
            **auth.to_dict(),
            "url": "",
            "next": _safe_next(request.args.get("next")),
        }
        # Several tabs may log in at once; keep only the newest few requests.
        newest = sorted(pending.items(), key=lambda item: item[1]["created_at"])[-_MAX_PENDING:]
        session[_PENDING_KEY] = dict(newest)
        return redirect(auth.url)

    def _callback_view(self) -> Any:
        """``/callback``: check the response, redeem the code, keep the login in the session."""
        params = request.form if request.method == "POST" else request.args
        pending = dict(session.get(_PENDING_KEY) or {})
        saved = pending.pop(str(params.get("state", "")), None)
        session[_PENDING_KEY] = pending
        if saved is None:
            return self._error_page(
                "This login link has expired or was not started in this browser. Please try again.",
                None,
                400,
            )
        auth = AuthorizationRequest.from_dict(saved)
        try:
            tokens = self.client.exchange_code(params, auth)
            claims = {k: v for k, v in tokens.id_token_claims.items() if k not in _PROTOCOL_CLAIMS}
            if self.fetch_userinfo and self.client.metadata().get("userinfo_endpoint"):
                claims.update(self.client.userinfo(tokens))
        except OAuthError as exc:
            if exc.error == "access_denied":
                return self._error_page("You chose not to share your profile with this site.", exc, 403)
            return self._error_page("The login could not be completed.", exc, 400)
        except PortaClientError as exc:
            return self._error_page("The login could not be completed.", exc, 400)
        session.pop(_USER_KEY, None)
        session[_USER_KEY] = {
            "sub": tokens.sub,
            "claims": claims,
            "id_token": tokens.id_token,
            "logged_in_at": time.time(),
        }
        if self.on_login is not None:
            self.on_login(tokens, claims)
        return redirect(_safe_next(saved.get("next")))

    def _logout_view(self) -> Any:
        """``/logout``: forget the login here and, if configured, at the provider (RP-Initiated Logout)."""
        user = _load_current_user()
        session.pop(_USER_KEY, None)
        target = self._settings["post_logout_redirect_uri"]
        if target and user.id_token:
            try:
                return redirect(
                    self.client.end_session_url(user.id_token, post_logout_redirect_uri=target)
                )
            except PortaClientError:
                pass  # the provider offers no logout endpoint: the local logout is all we can do
        return redirect("/")

    def _error_page(self, message: str, error: Exception | None, status: int) -> Any:
        detail = str(error) if error is not None else ""
        if error is not None:
            current_app.logger.warning("porta login failed: %s", detail)
        body = render_template(
            "porta_login_error.html", message=message, detail=detail, retry=url_for("porta_login.login")
        )
        return body, status


def login_button(text: str = "Log in with your profile", *, next: str | None = None) -> Markup:
    """Render the accessible, styled login button (a template global named ``login_button``).

    The HTML and CSS ship in this package; nothing is loaded from a CDN.
    """
    if EXTENSION_KEY not in current_app.extensions:
        abort(500, "login_button() needs PortaLogin(app)")
    href = url_for("porta_login.login", next=_safe_next(next) if next else None)
    # The template is rendered with autoescaping on, so its output is already safe HTML.
    html = render_template("porta_login_button.html", href=href, text=text)
    return Markup(html)  # noqa: S704
